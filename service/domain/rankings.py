"""Rankings and score distributions of a role, read from the stored matches in SQL.

The ranking order is one descending key, ``rank_key = must_haves_met * 100000 +
score_hundredths``, then candidate id ascending; the index ``ix_matches_ranking`` serves it, so a
page is one index range scan whatever the number of candidates.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, or_, select
from sqlalchemy.orm import Session

from service.infra.driver_query import DriverQuery
from service.models import Match

HISTOGRAM_BUCKETS = 10
_MATCHES = Match.__table__


def page(
    connection: Connection,
    role_id: int,
    *,
    limit: int,
    min_score_hundredths: int | None = None,
    must_haves_met: bool | None = None,
    after: tuple[int, uuid.UUID] | None = None,
) -> Sequence[Any]:
    """Up to ``limit`` ranked rows after the keyset position ``after`` (rank_key, candidate).

    On the driver's cursor rather than through the ORM or Core execution: dashboards pull this
    page constantly (see :class:`~service.infra.driver_query.DriverQuery`).
    """
    params: dict[str, Any] = {"role_id": role_id, "limit": limit}
    if min_score_hundredths is not None:
        params["min_score"] = min_score_hundredths
    if must_haves_met is not None:
        params["must_haves_met"] = must_haves_met
    if after is not None:
        params["after_rank"], params["after_id"] = after
    statement = _page_statement(
        min_score_hundredths is not None, must_haves_met is not None, after is not None
    )
    return statement.rows(connection, params)


@functools.cache
def _page_statement(by_min_score: bool, by_must_haves: bool, after: bool) -> DriverQuery:
    """The page query for one combination of filters, built once (it runs on every pull)."""
    m = _MATCHES
    # The candidate's name and headline are copied on the matches: no join (see the model).
    query = (
        select(
            m.c.candidate_id,
            m.c.candidate_name,
            m.c.candidate_headline,
            m.c.score_hundredths,
            m.c.band,
            m.c.must_haves_met,
            m.c.role_version,
            m.c.model_version,
            m.c.computed_at,
            m.c.rank_key,
        )
        .where(m.c.role_id == bindparam("role_id"))
        .order_by(m.c.rank_key.desc(), m.c.candidate_id)
        .limit(bindparam("limit"))
    )
    if by_min_score:
        query = query.where(m.c.score_hundredths >= bindparam("min_score"))
    if by_must_haves:
        query = query.where(m.c.must_haves_met == bindparam("must_haves_met"))
    if after:
        query = query.where(
            or_(
                m.c.rank_key < bindparam("after_rank"),
                and_(
                    m.c.rank_key == bindparam("after_rank"),
                    m.c.candidate_id > bindparam("after_id"),
                ),
            )
        )
    return DriverQuery(query)


def _percentile(session: Session, role_id: int, count: int, fraction: float) -> float | None:
    """Linear interpolation between the two nearest ranks (as PostgreSQL's percentile_cont)."""
    if count == 0:
        return None
    position = fraction * (count - 1)
    lower = int(position)
    values = list(
        session.scalars(
            select(Match.score_hundredths)
            .where(Match.role_id == role_id)
            .order_by(Match.score_hundredths)
            .offset(lower)
            .limit(2)
        )
    )
    low = values[0]
    high = values[1] if len(values) > 1 else low
    return round((low + (high - low) * (position - lower)) / 100, 2)


def summary(session: Session, role_id: int) -> dict[str, Any]:
    """count, mean, median, p90, must_haves_met and a 10-bucket histogram, all in SQL."""
    count, total, met = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(Match.score_hundredths), 0),
            func.coalesce(func.sum(case((Match.must_haves_met, 1), else_=0)), 0),
        ).where(Match.role_id == role_id)
    ).one()
    # Bucket b holds scores in [10b, 10b + 10); a perfect 100 falls in the last bucket.
    bucket = case(
        (Match.score_hundredths >= 10000, HISTOGRAM_BUCKETS - 1),
        else_=Match.score_hundredths // 1000,
    )
    counts: dict[int, int] = dict(
        session.execute(
            select(bucket, func.count()).where(Match.role_id == role_id).group_by(bucket)
        ).all()
    )
    return {
        "count": count,
        "mean": round(total / count / 100, 2) if count else None,
        "median": _percentile(session, role_id, count, 0.5),
        "p90": _percentile(session, role_id, count, 0.9),
        "must_haves_met": int(met),
        "histogram": [
            {"from": b * 10, "to": b * 10 + 10, "count": int(counts.get(b, 0))}
            for b in range(HISTOGRAM_BUCKETS)
        ],
    }
