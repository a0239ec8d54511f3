"""The role summary's counts (:class:`service.models.RoleScoreCount`), kept by every write of
the stored matches.

The summary (count, mean, median, p90, must-haves met, histogram) used to scan every match of
the role on every read: 90 ms at 100,000 candidates, 0.7-1.3 s at a million (issue 15). Scores
are whole hundredths from 0 to 10000, so counting the role's matches by exact score (at most
10,001 counters per role, with how many of each meet every must-have) loses nothing: every
figure of the summary is an exact function of the counters (:func:`summary`), and reading them
costs one index range scan of at most 10,001 rows whatever the number of candidates.

Who calls what, so that no write of ``matches`` escapes the counts (all in
:mod:`service.domain.matching`, the one module that writes or deletes matches):

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
from service.models import Match, RoleScoreCount

HISTOGRAM_BUCKETS = 10
"""The summary's histogram: 10 buckets of 10 points, the last one including 100."""

_MATCHES = cast(sa.Table, Match.__table__)
_COUNTS = cast(sa.Table, RoleScoreCount.__table__)
_KEYS = ("role_id", "score_hundredths")
_COUNTERS = ("n", "met")


def _grouped(sign: int, *criteria: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """(role, score, sign * count, sign * must-haves met) of the matches selected."""
    m = _MATCHES
    met = sa.case((m.c.must_haves_met, 1), else_=0)
    return (
        sa.select(
            m.c.role_id,
            m.c.score_hundredths,
            sa.literal(sign) * sa.func.count(),
            sa.literal(sign) * sa.func.sum(met),
        )
        # SQLite needs a WHERE before ON CONFLICT (else "ON" may parse as a join constraint).
        .where(sa.true(), *criteria)
        .group_by(m.c.role_id, m.c.score_hundredths)
        .order_by(m.c.role_id, m.c.score_hundredths)
    )


def remove(session: Session, *criteria: sa.ColumnElement[bool]) -> None:
    """Take the matches selected by ``criteria`` out of the counts (call before deleting them)."""
    add_selected_counts(session, _COUNTS, _KEYS, _COUNTERS, _grouped(-1, *criteria))


def add(session: Session, *criteria: sa.ColumnElement[bool]) -> None:
    """Count the matches selected by ``criteria`` (call after writing them)."""
    add_selected_counts(session, _COUNTS, _KEYS, _COUNTERS, _grouped(1, *criteria))


def recount(session: Session, role_id: int | None = None) -> None:
    """The counts of one role (or of every role) again from its matches: a delete and one
    grouped insert, for writes that replaced every match of the role."""
    c = _COUNTS
    by_role = () if role_id is None else (c.c.role_id == role_id,)
    session.execute(sa.delete(c).where(*by_role))
    of_role = () if role_id is None else (_MATCHES.c.role_id == role_id,)
    session.execute(sa.insert(c).from_select([*_KEYS, *_COUNTERS], _grouped(1, *of_role)))


_BUCKETS = DriverQuery(
    sa.select(_COUNTS.c.score_hundredths, _COUNTS.c.n, _COUNTS.c.met)
    .where(_COUNTS.c.role_id == sa.bindparam("role_id"), _COUNTS.c.n > 0)
    .order_by(_COUNTS.c.score_hundredths)
)


def summary(connection: Connection, role_id: int) -> dict[str, Any]:
    """count, mean, median, p90, must_haves_met and the 10-bucket histogram of the role's
    stored scores, from its counters (one query of at most 10,001 rows).

    The definitions are those of the scan they replace: the mean is the sum of the scores over
    the count, rounded to two decimals; a percentile interpolates linearly between the two
    nearest ranks (as PostgreSQL's ``percentile_cont``); histogram bucket ``b`` holds scores in
    ``[10b, 10b + 10)``, a perfect 100 in the last one.
    """
    rows = _BUCKETS.rows(connection, {"role_id": role_id})
    count = total = met = 0
    histogram = [0] * HISTOGRAM_BUCKETS
    for score, n, met_here in rows:
        count += n
        total += score * n
        met += met_here
        histogram[min(score // 1000, HISTOGRAM_BUCKETS - 1)] += n
    return {
        "count": count,
        "mean": round(total / count / 100, 2) if count else None,
        "median": _percentile(rows, count, 0.5),
        "p90": _percentile(rows, count, 0.9),
        "must_haves_met": met,
        "histogram": [
            {"from": b * 10, "to": b * 10 + 10, "count": histogram[b]}
            for b in range(HISTOGRAM_BUCKETS)
        ],
    }


def _percentile(rows: list[tuple[Any, ...]], count: int, fraction: float) -> float | None:
    """The score at ``fraction``, interpolated between the scores at the two nearest ranks
    (0-based ``int(fraction * (count - 1))`` and the next one, or the same one at the end)."""
    if count == 0:
        return None
    position = fraction * (count - 1)
    lower = int(position)
    low = _at_rank(rows, lower)
    high = _at_rank(rows, lower + 1) if lower + 1 < count else low
    return round((low + (high - low) * (position - lower)) / 100, 2)


def _at_rank(rows: list[tuple[Any, ...]], rank: int) -> int:
    """The score at 0-based ``rank`` in ascending order, from the counts by score."""
    seen = 0
    for score, n, _met in rows:
        seen += n
        if rank < seen:
            return int(score)
    raise ValueError(f"rank {rank} is beyond the {seen} counted scores")
