"""Bulk loads: ``COPY`` into a table, and fresh planner statistics afterwards."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session


def bulk_insert(session: Session, model: type[DeclarativeBase], rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the session's transaction, the fastest way the database offers.

    PostgreSQL: ``COPY ... FROM STDIN``, several times faster than a multi-row INSERT for the
    thousands of records of a batch import (psycopg's executemany sent 22,000 pipelined
    statements for four 500-candidate batches). SQLite: ``executemany``. Every row must have the
    same keys; values are what the columns' Python types expect (no defaults are applied).
    """
    if not rows:
        return
    table = cast(Table, model.__table__)
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    names = ", ".join(f'"{name}"' for name in columns)
    sql = f"COPY {table.name} ({names}) FROM STDIN"
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row([row[name] for name in columns])
    except connection.dialect.loaded_dbapi.Error as error:
        # The driver's own exception, wrapped as SQLAlchemy would (a unique violation becomes
        # IntegrityError), so callers and the error handler treat it like any other statement.
        raise DBAPIError.instance(
            sql, None, error, connection.dialect.loaded_dbapi.Error
        ) from error


def refresh_statistics(session: Session, *models: type[DeclarativeBase]) -> None:
    """``ANALYZE`` these tables, so the planner knows their size after a bulk load.

    PostgreSQL's autovacuum does this by itself in time; a long import should not wait for it:
    with stale statistics the rescoring query's plan flips to scanning every record (measured:
    0.15 s against 4.8 s per 500 candidates once past 50,000 candidates with no statistics).
    """
    for model in models:
        session.execute(text(f"ANALYZE {cast(Table, model.__table__).name}"))
