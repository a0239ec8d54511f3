"""Database plumbing: the declarative ``Base``, column types, engines and sessions.

Nothing here connects at import time. :class:`Database` is built by the application factory
(or the CLI) from a URL. A request's connection and session live on ``flask.g`` and are closed
when the request ends: a write request owns exactly one transaction; a read request runs on an
autocommit connection of a pool of its own (no BEGIN, no ROLLBACK, no isolation switching).
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import DateTime, MetaData, Select, Table, create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every model; constraints get predictable names."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is UTC:  # PostgreSQL sessions run in UTC: as is
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, in UTC, to the microsecond."""
    return datetime.now(UTC)


_last_uuid7 = [0, 0]  # [millisecond, 12-bit sequence] of this process's last id


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7), increasing within this process.

    Candidate ids sort by creation time, so keyset pages on ``id`` come out in the order rows were
    created and the primary-key index stays append-mostly. Within one millisecond a 12-bit
    sequence keeps a process's ids in order (RFC 9562, method 1).
    """
    ms = time.time_ns() // 1_000_000
    last_ms, sequence = _last_uuid7
    if ms <= last_ms:
        ms, sequence = last_ms, sequence + 1
        if sequence > 0xFFF:
            ms, sequence = last_ms + 1, 0
    else:
        sequence = int.from_bytes(os.urandom(2), "big") & 0x7FF  # room to count up
    _last_uuid7[:] = [ms, sequence]
    rand = int.from_bytes(os.urandom(8), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= sequence << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def bulk_insert(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the session's transaction, the fastest way the database offers.

    PostgreSQL: ``COPY ... FROM STDIN``, several times faster than a multi-row INSERT for the
    thousands of records of a batch import. SQLite: ``executemany``. Every row must have the
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


class DriverQuery:
    """A Core SELECT compiled once per dialect and run on the driver's own cursor.

    For the few statements that run on every request (the API-key lookup, a candidate's inputs,
    a ranking page). SQLAlchemy's execution path (cache key, execution context, result metadata
    built from ``cursor.description``) costs more CPU than the round trip itself: measured
    150 µs a key lookup through ``Connection.execute`` against 75 µs on the cursor. The SQL is
    SQLAlchemy's own compilation for the connection's dialect, with the columns' bind and result
    processors applied, so the rows are the plain tuples ``Connection.execute`` would give.

    A driver error is wrapped as SQLAlchemy wraps it (``DBAPIError.instance``, parameters
    hidden). A lost connection is handed to SQLAlchemy by running the statement again through
    ``Connection.execute``: it invalidates the connection and the older ones in its pool and
    raises with ``connection_invalidated``, which the key lookup's retry relies on.
    """

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, _CompiledQuery] = {}

    def rows(self, connection: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Every row of the statement for ``params``, as tuples."""
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _CompiledQuery(self.statement, dialect)
        dbapi_connection: Any = connection.connection.dbapi_connection
        # psycopg's binary protocol: UUIDs and timestamps travel as bytes, not text to parse.
        cursor = (
            dbapi_connection.cursor(binary=True) if compiled.binary else dbapi_connection.cursor()
        )
        try:
            cursor.execute(compiled.sql, compiled.parameters(params))
            rows = cursor.fetchall()
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, cursor):
                return [tuple(row) for row in connection.execute(self.statement, params)]
            raise DBAPIError.instance(
                compiled.sql, None, error, dialect.loaded_dbapi.Error, hide_parameters=True
            ) from error
        finally:
            cursor.close()
        return compiled.processed(rows)


class _CompiledQuery:
    """A statement's SQL for one dialect, with how to bind its parameters and load its rows."""

    def __init__(self, statement: Select[Any], dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.binary = dialect.driver == "psycopg"
        self._compiled = compiled
        # Positional drivers (sqlite3) take a sequence in this order; named ones a dict.
        self._order = list(compiled.positiontup or []) if dialect.positional else None
        self._binders = {
            name: processor
            for name, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        self._loaders = [
            (index, processor)
            for index, column in enumerate(statement.selected_columns)
            if (processor := column.type.dialect_impl(dialect).result_processor(dialect, None))
            is not None
        ]

    def parameters(self, params: dict[str, Any]) -> Any:
        values = self._compiled.construct_params(params)
        for name, processor in self._binders.items():
            if name in values:
                values[name] = processor(values[name])
        return values if self._order is None else [values[name] for name in self._order]

    def processed(self, rows: list[Any]) -> list[tuple[Any, ...]]:
        if not self._loaders:
            return rows
        loaded = []
        for row in rows:
            values = list(row)
            for index, processor in self._loaders:
                values[index] = processor(values[index])
            loaded.append(tuple(values))
        return loaded


def refresh_statistics(session: Session, *models: type[Base]) -> None:
    """``ANALYZE`` these tables, so the planner knows their size after a bulk load.

    PostgreSQL's autovacuum does this by itself in time; a long import should not wait for it:
    with stale statistics the rescoring query's plan flips to scanning every record (measured:
    0.15 s against 4.8 s per 500 candidates once past 50,000 candidates with no statistics).
    """
    for model in models:
        session.execute(text(f"ANALYZE {cast(Table, model.__table__).name}"))


def make_engine(
    url: str, *, statement_timeout_ms: int = 5000, pool_size: int = 5, autocommit: bool = False
) -> Engine:
    """Create the engine for ``url`` with the settings every deployment needs.

    - No ``pool_pre_ping``: its ``SELECT 1`` is a round trip on every checkout, measured at about
      a sixth of a dashboard read. Instead the first statement of every request (the API-key
      lookup) is the liveness check: when it finds the connection dead, SQLAlchemy discards it
      and every pooled connection older than it, and authentication retries once on a fresh one
      (:func:`service.api.auth.authenticate_request`). A database restart costs no request.
    - PostgreSQL: a ``statement_timeout`` so one slow query cannot pin a worker forever, and
      sessions in UTC whatever the server's default, so that SQL date arithmetic never depends
      on it and timestamps arrive already in UTC.
    - SQLite: foreign keys on, WAL and a busy timeout so several workers can share the file.
    - ``autocommit``: every connection of the pool stays in autocommit mode, for reads only.
    """
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        **options,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=10,
        connect_args={
            "connect_timeout": 5,
            "options": f"-c statement_timeout={int(statement_timeout_ms)} -c TimeZone=UTC",
        },
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    import hashlib

    def sha256_hex(value: str | bytes | None) -> str | None:
        if value is None:
            return None
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        return hashlib.sha256(data).hexdigest()

    # sha256(text) -> lowercase hex, as PostgreSQL's encode(sha256(convert_to(x, 'UTF8')), 'hex'):
    # lets the same set-based SQL compute matches.inputs_hash (service.domain.matching).
    dbapi_connection.create_function("sha256", 1, sha256_hex, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    """Two engines for one URL, owned by one app (or one CLI run).

    ``engine`` is for writes: every session and ``engine.begin()`` is one transaction.
    ``read_engine`` has a pool of its own whose connections stay in autocommit mode: reads run
    without BEGIN/ROLLBACK (two round trips fewer per request; under READ COMMITTED every
    statement sees its own snapshot anyway) and without switching the isolation level at every
    checkout and return, which costs a request about 40 µs of CPU. Sync workers serve one request
    at a time, so the read pool is small.
    """

    def __init__(self, url: str, *, statement_timeout_ms: int = 5000, pool_size: int = 5) -> None:
        self.url = url
        self.engine = make_engine(
            url, statement_timeout_ms=statement_timeout_ms, pool_size=pool_size
        )
        self.read_engine = make_engine(
            url,
            statement_timeout_ms=statement_timeout_ms,
            pool_size=max(1, pool_size // 2),
            autocommit=True,
        )
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # Names this database in per-process caches (as the catalog's), password hidden.
        self.cache_key = str(self.engine.url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self.sessionmaker()

    def read_session(self, connection: Connection) -> Session:
        """A session for reads only, on ``connection`` (of the read pool)."""
        return Session(connection, expire_on_commit=False)

    @property
    def pools(self) -> tuple[Any, ...]:
        return (self.engine.pool, self.read_engine.pool)

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


def _reads_only() -> bool:
    from flask import g, request

    return request.method in ("GET", "HEAD") or bool(g.get("read_only", False))


def request_connection() -> Connection:
    """The current request's connection, for the statements every request runs (the key lookup,
    the hot reads), opened on first use and closed at teardown.

    GET and HEAD requests, and views marked ``@read_only``, get an autocommit connection of the
    read pool, which their session (if they need one) shares; every other request gets the
    connection of its session's transaction.
    """
    from flask import current_app, g

    if not _reads_only():
        return request_session().connection()
    connection: Connection | None = g.get("db_connection")
    if connection is None:
        database: Database = current_app.extensions["rolefit.db"]
        connection = g.db_connection = database.read_engine.connect()
    return connection


def request_session() -> Session:
    """The current request's ORM session, opened on first use and closed at teardown.

    Read-only requests (see :func:`request_connection`) read through the request's autocommit
    connection; every other request gets one transaction, which ``@write`` commits.
    """
    from flask import current_app, g

    session: Session | None = g.get("db_session")
    if session is None:
        database: Database = current_app.extensions["rolefit.db"]
        session = (
            database.read_session(request_connection()) if _reads_only() else database.session()
        )
        g.db_session = session
    return session


def close_request_connections() -> None:
    """Close the current request's session and connection (the next use opens new ones)."""
    from flask import g

    session: Session | None = g.pop("db_session", None)
    connection: Connection | None = g.pop("db_connection", None)
    try:
        if session is not None:
            session.close()
    finally:
        if connection is not None:
            connection.close()
