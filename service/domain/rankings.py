"""Rankings of a role, read from the stored matches in SQL (its score distribution, the
summary, is read from counts: :mod:`service.domain.score_counts`).

The ranking order is one descending key, ``rank_key = must_haves_met * 100000 +
score_hundredths``, then candidate id ascending; the index ``ix_matches_ranking`` serves it, so a
page is one index range scan whatever the number of candidates.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select

from service.infra.driver_query import DriverQuery
from service.models import Match

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
            # Redundant with the OR below, but an index condition: the scan starts at the cursor
            # instead of filtering every row before it (2.2 s 90,000 rows deep, EXPLAIN ANALYZE).
            m.c.rank_key <= bindparam("after_rank"),
            or_(
                m.c.rank_key < bindparam("after_rank"),
                and_(
                    m.c.rank_key == bindparam("after_rank"),
                    m.c.candidate_id > bindparam("after_id"),
                ),
            ),
        )
    return DriverQuery(query)
