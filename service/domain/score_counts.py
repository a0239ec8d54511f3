"""The role summary's counts (:class:`service.models.RoleScoreCount`), kept by every write of
the stored matches.

The summary (count, mean, median, p90, must-haves met, histogram) used to scan every match of
the role on every read: 90 ms at 100,000 candidates, 0.7-1.3 s at a million (issue 15). Scores
are whole hundredths from 0 to 10000, so counting the role's matches by exact score (at most
10,001 counters per role, with how many of each meet every must-have) loses nothing: every
figure of the summary is an exact function of the counters (:func:`summary`). The same counts
by whole point (:class:`service.models.RoleScorePointCount`, at most 101 per role, with the sum
of the scores) give the totals and say which point holds a percentile's rank; only that
point's exact counters (at most 100) are then read. Summing all 10,001 on every read cost
3.4 ms of a summary's time at 100,000 candidates (bench.scale: 299 req/s against 1,170 for a
ranking page).

Who calls what, so that no write of ``matches`` escapes the counts (all in
:mod:`service.domain.matching`, the one module that writes or deletes matches):

Both tables are kept by the same calls:

- :func:`remove`: before matches are deleted (a candidate rescored, erased);
- :func:`add`: after matches of some candidates are written (a candidate created, changed,
  imported, in batches);
- :func:`recount`: after every match of a role (or of all roles) was rewritten (a role created
  or changed, a month change, ``rolefit rescore``), and by the migration's backfill.

Each is one set-based statement (``INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE``
of the grouped deltas), in the caller's transaction. Concurrency (PostgreSQL): candidate writes
share-lock the roles before rescoring (:func:`service.domain.matching.lock_roles`) and a role's
rescore holds its role row, so a candidate's matches are never written twice concurrently and
every delta is applied exactly once.

``tests/domain/test_score_counts.py`` holds the counts to the scanning computation after every
kind of write, on random data, on both databases.
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from service.infra.counters import add_selected_counts
from service.infra.driver_query import DriverQuery
from service.models import Match, RoleScoreCount, RoleScorePointCount

HISTOGRAM_BUCKETS = 10
"""The summary's histogram: 10 buckets of 10 points, the last one including 100."""

_MATCHES = cast(sa.Table, Match.__table__)
_COUNTS = cast(sa.Table, RoleScoreCount.__table__)
_KEYS = ("role_id", "score_hundredths")
_COUNTERS = ("n", "met")
_POINTS = cast(sa.Table, RoleScorePointCount.__table__)
_POINT_KEYS = ("role_id", "point")
_POINT_COUNTERS = ("n", "met", "total")


def _grouped(
    sign: int,
    *criteria: sa.ColumnElement[bool],
    by_point: bool = False,
    scores: sa.FromClause = _MATCHES,
) -> sa.Select[Any]:
    """(role, bucket, sign * count, sign * must-haves met[, sign * sum of the scores]) of the
    matches selected, by role and bucket: the exact score, or its whole point (``by_point``,
    with the sum). ``scores``: where the matches' role, score and must-haves are read."""
    m = scores
    bucket = m.c.score_hundredths // 100 if by_point else m.c.score_hundredths
    met = sa.case((m.c.must_haves_met, 1), else_=0)
    sums = [sa.func.count(), sa.func.sum(met)]
    if by_point:
        sums.append(sa.func.sum(m.c.score_hundredths))
    return (
        sa.select(m.c.role_id, bucket, *(sa.literal(sign) * value for value in sums))
        # SQLite needs a WHERE before ON CONFLICT (else "ON" may parse as a join constraint).
        .where(sa.true(), *criteria)
        .group_by(m.c.role_id, bucket)
        .order_by(m.c.role_id, bucket)
    )


def _add_both(session: Session, sign: int, *criteria: sa.ColumnElement[bool]) -> None:
    add_selected_counts(session, _COUNTS, _KEYS, _COUNTERS, _grouped(sign, *criteria))
    add_selected_counts(
        session, _POINTS, _POINT_KEYS, _POINT_COUNTERS, _grouped(sign, *criteria, by_point=True)
    )


def remove(session: Session, *criteria: sa.ColumnElement[bool]) -> None:
    """Take the matches selected by ``criteria`` out of the counts (call before deleting them)."""
    _add_both(session, -1, *criteria)


def add(session: Session, *criteria: sa.ColumnElement[bool]) -> None:
    """Count the matches selected by ``criteria`` (call after writing them)."""
    _add_both(session, 1, *criteria)


def recount(
    session: Session, role_id: int | None = None, *, written: sa.Table | None = None
) -> None:
    """The counts of one role (or of every role) again from its matches, for writes that
    replaced every match of the role: the exact counts by one grouped scan of the matches,
    then the counts by point from those (at most 10,001 rows a role, not a second scan of a
    million matches).

    ``written``: a table holding exactly the role's matches as just written (role, score,
    must-haves; the rescore's own), scanned instead of ``matches``. Right after a million rows
    were rewritten, PostgreSQL read them through the ranking index, visiting the heap for every
    row to check its visibility: 6.3 s, against 0.1 s for the rescore's table.
    """

    def of_role(table: sa.FromClause) -> tuple[sa.ColumnElement[bool], ...]:
        return () if role_id is None else (table.c.role_id == role_id,)

    scores = _MATCHES if written is None else written
    for table in (_COUNTS, _POINTS):
        session.execute(sa.delete(table).where(*of_role(table)))
    session.execute(
        sa.insert(_COUNTS).from_select(
            [*_KEYS, *_COUNTERS], _grouped(1, *of_role(scores), scores=scores)
        )
    )
    c = _COUNTS.c
    point = c.score_hundredths // 100
    by_point = (
        sa.select(
            c.role_id,
            point,
            sa.func.sum(c.n),
            sa.func.sum(c.met),
            sa.func.sum(c.n * c.score_hundredths),
        )
        .where(*of_role(_COUNTS))
        .group_by(c.role_id, point)
    )
    session.execute(sa.insert(_POINTS).from_select([*_POINT_KEYS, *_POINT_COUNTERS], by_point))


_c = _COUNTS.c
_p = _POINTS.c
_POINT_ROWS = DriverQuery(
    sa.select(_p.point, _p.n, _p.met, _p.total)
    .where(_p.role_id == sa.bindparam("role_id"), _p.n > 0)
    .order_by(_p.point)
)
_SCORES = DriverQuery(
    sa.select(_c.score_hundredths, _c.n)
    .where(
        _c.role_id == sa.bindparam("role_id"),
        _c.n > 0,
        _c.score_hundredths >= sa.bindparam("low"),
        _c.score_hundredths <= sa.bindparam("high"),
    )
    .order_by(_c.score_hundredths)
)


def summary(connection: Connection, role_id: int) -> dict[str, Any]:
    """count, mean, median, p90, must_haves_met and the 10-bucket histogram of the role's
    stored scores, from its counters.

    Small queries whatever the number of candidates: the role's counts by point (at most 101
    rows: count, sum, must-haves met, histogram), then the exact counters of the point that
    holds the median's rank and of the one that holds the p90's (at most 100 rows each, often
    the same point).

    The definitions are those of the scan they replace: the mean is the sum of the scores over
    the count, rounded to two decimals; a percentile interpolates linearly between the two
    nearest ranks (as PostgreSQL's ``percentile_cont``); histogram bucket ``b`` holds scores in
    ``[10b, 10b + 10)``, a perfect 100 in the last one.
    """
    histogram = [0] * HISTOGRAM_BUCKETS
    points: list[tuple[int, int]] = []  # (point, count) in ascending order
    total = met = 0
    for point, n, met_here, score_sum in _POINT_ROWS.rows(connection, {"role_id": role_id}):
        histogram[min(int(point) // 10, HISTOGRAM_BUCKETS - 1)] += int(n)
        points.append((int(point), int(n)))
        total += int(score_sum)
        met += int(met_here)
    count = sum(histogram)
    ranks = _Ranks(connection, role_id, points)
    return {
        "count": count,
        "mean": round(total / count / 100, 2) if count else None,
        "median": _percentile(ranks, count, 0.5),
        "p90": _percentile(ranks, count, 0.9),
        "must_haves_met": met,
        "histogram": [
            {"from": b * 10, "to": b * 10 + 10, "count": histogram[b]}
            for b in range(HISTOGRAM_BUCKETS)
        ],
    }


class _Ranks:
    """The score at a rank, from the exact counters of the one point that holds it (read once
    per point)."""

    def __init__(self, connection: Connection, role_id: int, points: list[tuple[int, int]]):
        self.connection = connection
        self.role_id = role_id
        self.points = points
        self.scores: dict[int, list[tuple[Any, ...]]] = {}

    def score_at(self, rank: int) -> int:
        """The score at 0-based ``rank`` in ascending order."""
        before = 0
        for point, n in self.points:
            if rank < before + n:
                return _at_rank(self._rows(point), rank - before)
            before += n
        raise ValueError(f"rank {rank} is beyond the {before} counted scores")

    def _rows(self, point: int) -> list[tuple[Any, ...]]:
        if point not in self.scores:
            params = {"role_id": self.role_id, "low": point * 100, "high": point * 100 + 99}
            self.scores[point] = _SCORES.rows(self.connection, params)
        return self.scores[point]


def _percentile(ranks: _Ranks, count: int, fraction: float) -> float | None:
    """The score at ``fraction``, interpolated between the scores at the two nearest ranks
    (0-based ``int(fraction * (count - 1))`` and the next one, or the same one at the end)."""
    if count == 0:
        return None
    position = fraction * (count - 1)
    lower = int(position)
    low = ranks.score_at(lower)
    high = ranks.score_at(lower + 1) if lower + 1 < count else low
    return round((low + (high - low) * (position - lower)) / 100, 2)


def _at_rank(rows: list[tuple[Any, ...]], rank: int) -> int:
    """The score at 0-based ``rank`` among ``rows`` of (score, count), in ascending order."""
    seen = 0
    for score, n in rows:
        seen += n
        if rank < seen:
            return int(score)
    raise ValueError(f"rank {rank} is beyond the {seen} scores of these counters")
