"""Bulk loads: ``COPY`` into a table, a temporary table filled by one query, and fresh planner
statistics afterwards."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import (
    JSON,
    BindParameter,
    ColumnClause,
    ColumnElement,
    Connection,
    CursorResult,
    FromClause,
    Select,
    Table,
    any_,
    bindparam,
    func,
    select,
    text,
    values,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute, Session
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.expression import Executable

T = TypeVar("T")


def bulk_insert(session: Session, model: type[DeclarativeBase], rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the session's transaction, the fastest way the database offers
    (:func:`insert_rows`)."""
    insert_rows(session.connection(), cast(Table, model.__table__), rows)


def insert_rows(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table`` on ``connection``, in its transaction.

    PostgreSQL: ``COPY ... FROM STDIN``, several times faster than a multi-row INSERT: for the
    thousands of records of a batch import (psycopg's executemany sent 22,000 pipelined
    statements for four 500-candidate batches), and for the audit trail's batches (8 µs a row,
    mostly waiting on the server with the GIL released, against 45 µs a row of the worker's
    CPU for a multi-row INSERT through SQLAlchemy). SQLite: ``executemany``. Every row has the
    same keys; values are what the columns' Python types expect (no defaults are applied).
    """
    if not rows:
        return
    if connection.dialect.name != "postgresql":
        connection.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    names = ", ".join(f'"{name}"' for name in columns)
    sql = f"COPY {table.name} ({names}) FROM STDIN"
    # COPY takes JSON columns as their text; every other value as the driver adapts it.
    as_json = {name for name in columns if isinstance(table.c[name].type, JSON)}
    driver: Any = connection.connection.driver_connection
    dbapi: Any = connection.dialect.loaded_dbapi
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(
                    [
                        orjson.dumps(row[name]).decode() if name in as_json else row[name]
                        for name in columns
                    ]
                )
    except dbapi.Error as error:
        # The driver's own exception, wrapped as SQLAlchemy would (a unique violation becomes
        # IntegrityError, a lost connection an invalidated OperationalError), so callers and
        # the error handler treat it like any other statement.
        raise DBAPIError.instance(
            sql, None, error, dbapi.Error, connection_invalidated=bool(driver.broken)
        ) from error


class _CreateTemporaryTableAs(Executable, ClauseElement):
    """``CREATE TEMPORARY TABLE name AS select`` (PostgreSQL and SQLite alike)."""

    inherit_cache = False

    def __init__(self, name: str, query: Select[Any]) -> None:
        self.name = name
        self.query = query


@compiles(_CreateTemporaryTableAs)
def _compile_create_temporary_table_as(
    element: _CreateTemporaryTableAs, compiler: Any, **kw: Any
) -> str:
    name = compiler.preparer.quote(element.name)
    return f"CREATE TEMPORARY TABLE {name} AS {compiler.process(element.query, **kw)}"


def create_temporary_table_as(
    session: Session, table: Table, query: Select[Any], params: dict[str, Any]
) -> int:
    """Create the temporary ``table`` (a description: its name and columns) as the rows of
    ``query``, whose columns are labelled with the table's column names; how many rows.

    Not ``CREATE`` then ``INSERT ... SELECT``: PostgreSQL plans a query that creates a table in
    parallel, which it never does for an ``INSERT`` (the rescoring fill at a million candidates:
    a Gather over a parallel scan of the records, 5.8-6.0 s against 6.7-8.2 s). The table has
    no key or index: whoever reads it joins it whole, by hash.
    """
    result = cast(
        CursorResult[Any],
        session.execute(
            _CreateTemporaryTableAs(table.name, query),
            params,
            execution_options={"preserve_rowcount": True},
        ),
    )
    if result.rowcount >= 0:  # PostgreSQL reports it ("SELECT n"); SQLite does not
        return result.rowcount
    return int(session.execute(select(func.count()).select_from(table)).scalar_one())


def rows_to_join(
    session: Session, name: str, columns: Sequence[ColumnClause[Any]], rows: Sequence[Sequence[Any]]
) -> FromClause:
    """``rows`` (tuples of ``columns``' values) as a table named ``name`` to join to.

    PostgreSQL: ``unnest`` of one array parameter per column. The statement is the same
    whatever the rows, so SQLAlchemy compiles it once; a ``VALUES`` list is a new statement
    each time, compiled again: 105 of the 575 ms of a 1,000-candidate demo chunk (cProfile),
    for the two 500-row lists of its duplicate check. SQLite (no arrays): ``VALUES``, as a CTE
    (it has no column aliases on a ``VALUES`` subquery).
    """
    if session.get_bind().dialect.name == "postgresql":
        arrays = [
            bindparam(f"{name}_{column.name}", [row[i] for row in rows], type_=ARRAY(column.type))
            for i, column in enumerate(columns)
        ]
        return func.unnest(*arrays).table_valued(*columns).render_derived(name=name)
    return values(*columns, name=name).data([tuple(row) for row in rows]).cte(name)


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size`` (bounds a statement's IN list)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def refresh_statistics(session: Session, *models: type[DeclarativeBase]) -> None:
    """``ANALYZE`` these tables, so the planner knows their size after a bulk load.

    PostgreSQL's autovacuum does this by itself in time; a long import should not wait for it:
    with stale statistics the rescoring query's plan flips to scanning every record (measured:
    0.15 s against 4.8 s per 500 candidates once past 50,000 candidates with no statistics).
    """
    for model in models:
        session.execute(text(f"ANALYZE {cast(Table, model.__table__).name}"))


Column = ColumnElement[Any] | QueryableAttribute[Any]


def among(dialect: str, column: Column, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values``, for lists of hundreds of values (a chunk of a batch, a load).

    PostgreSQL: ``column = ANY(:array)``, one array parameter. An ``IN`` list is expanded into
    one placeholder per value at each execution, so its text is new to psycopg every time,
    which then parses it anew (``_query2pg_nocache``): 12.8 % of a demo loader's samples
    (py-spy, 1,000-candidate chunks), in the events' numbering, the summary's counts and the
    matches' writes; a 100,000-candidate load's CPU went from 29.7-30.9 to 28.1-28.4 s.
    SQLite: ``IN``.
    """
    if dialect == "postgresql":
        array = bindparam(None, list(values), type_=ARRAY(column.expression.type))
        return column == any_(array)
    return column.in_(values)


def among_parameter(dialect: str, column: Column, name: str) -> ColumnElement[bool]:
    """:func:`among` for a statement built once: the list is the parameter ``name``, bound at
    each execution."""
    if dialect == "postgresql":
        array: BindParameter[Any] = bindparam(name, type_=ARRAY(column.expression.type))
        return column == any_(array)
    return column.in_(bindparam(name, expanding=True))
