"""``service.infra.driver_query.DriverQuery``: the hot statements run on the driver's cursor must
give exactly what ``Connection.execute`` gives, fail as SQLAlchemy fails, and survive a lost
connection."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, func, literal, or_, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from service.infra.database import Database
from service.infra.driver_query import DriverQuery
from service.models import Candidate
from tests.conftest import POSTGRES_URL

_CANDIDATES = Candidate.__table__


def _candidates(session: Session) -> list[uuid.UUID]:
    stamps = [datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), datetime(2025, 12, 31, tzinfo=UTC)]
    rows = [
        Candidate(name="Ada", headline=None, legal_hold=True, created_at=stamps[0]),
        Candidate(name="Grace", headline="TPM", legal_hold=False, created_at=stamps[1]),
    ]
    session.add_all(rows)
    session.commit()
    return [row.id for row in rows]


def test_rows_are_what_core_execution_gives(database: Database, session: Session) -> None:
    """UUID binds, and UUID, bool, nullable and timezone-aware datetime results, on either
    backend (SQLite needs the columns' processors, PostgreSQL its casts)."""
    ids = _candidates(session)
    statement = (
        select(
            _CANDIDATES.c.id,
            _CANDIDATES.c.name,
            _CANDIDATES.c.headline,
            _CANDIDATES.c.legal_hold,
            _CANDIDATES.c.created_at,
            literal(7).label("seven"),
        )
        .where(or_(_CANDIDATES.c.id == bindparam("first"), _CANDIDATES.c.id == bindparam("second")))
        .order_by(_CANDIDATES.c.name)
        .limit(bindparam("limit"))
    )
    params = {"first": ids[0], "second": ids[1], "limit": 5}
    with database.read_engine.connect() as connection:
        expected = [tuple(row) for row in connection.execute(statement, params)]
        got = DriverQuery(statement).rows(connection, params)
    assert got == expected
    assert len(got) == 2
    ada = got[0]
    assert isinstance(ada[0], uuid.UUID) and ada[0] == ids[0]
    assert ada[3] is True and got[1][3] is False
    assert ada[4] == datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert ada[4].tzinfo is UTC


def test_no_rows_is_an_empty_list(database: Database) -> None:
    query = DriverQuery(select(_CANDIDATES.c.id).where(_CANDIDATES.c.id == bindparam("id")))
    with database.read_engine.connect() as connection:
        assert query.rows(connection, {"id": uuid.uuid4()}) == []


def test_a_driver_error_is_wrapped_as_sqlalchemy_wraps_it_with_parameters_hidden(
    database: Database,
) -> None:
    query = DriverQuery(
        select(func.no_such_function(_CANDIDATES.c.name)).where(
            _CANDIDATES.c.email == bindparam("email")
        )
    )
    with database.read_engine.connect() as connection:
        with pytest.raises(DBAPIError) as raised:
            query.rows(connection, {"email": "secret@example.com"})
        assert not raised.value.connection_invalidated
        assert "secret@example.com" not in str(raised.value)
        # The connection is still usable (autocommit: nothing to roll back).
        assert connection.execute(text("SELECT 1")).scalar() == 1


@pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL")
def test_a_lost_connection_is_invalidated_by_sqlalchemy(database_url: str) -> None:
    """As after a database restart: the error says the connection was invalidated (the key
    lookup retries on that), and the pool hands out a working connection next."""
    database = Database(database_url)
    query = DriverQuery(select(literal(1).label("one")))
    try:
        with database.read_engine.connect() as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
            with database.engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(DBAPIError) as raised:
                query.rows(connection, {})
            assert raised.value.connection_invalidated
        with database.read_engine.connect() as connection:
            assert query.rows(connection, {}) == [(1,)]
    finally:
        database.dispose()
