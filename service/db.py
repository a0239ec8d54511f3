"""Database plumbing: the declarative ``Base``, column types, engine and sessions.

Nothing here connects at import time. :class:`Database` is built by the application factory
(or the CLI) from a URL; the request-scoped session lives on ``flask.g`` and is closed when the
request ends, so each request owns exactly one transaction.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import DateTime, MetaData, Table, create_engine, event, text
from sqlalchemy.engine import Engine
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
        if value is None:
            return None
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


def refresh_statistics(session: Session, *models: type[Base]) -> None:
    """``ANALYZE`` these tables, so the planner knows their size after a bulk load.

    PostgreSQL's autovacuum does this by itself in time; a long import should not wait for it:
    with stale statistics the rescoring query's plan flips to scanning every record (measured:
    0.15 s against 4.8 s per 500 candidates once past 50,000 candidates with no statistics).
    """
    for model in models:
        session.execute(text(f"ANALYZE {cast(Table, model.__table__).name}"))


def make_engine(url: str, *, statement_timeout_ms: int = 5000, pool_size: int = 5) -> Engine:
    """Create the engine for ``url`` with the settings every deployment needs.

    - No ``pool_pre_ping``: its ``SELECT 1`` is a round trip on every checkout, measured at about
      a sixth of a dashboard read. Instead the first statement of every request (the API-key
      lookup) is the liveness check: when it finds the connection dead, SQLAlchemy discards it
      and every pooled connection older than it, and authentication retries once on a fresh one
      (:func:`service.api.auth.authenticate_request`). A database restart costs no request.
    - PostgreSQL: a ``statement_timeout`` so one slow query cannot pin a worker forever.
    - SQLite: foreign keys on, WAL and a busy timeout so several workers can share the file.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=10,
        connect_args={
            "connect_timeout": 5,
            "options": f"-c statement_timeout={int(statement_timeout_ms)}",
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
    """An engine and its session factory, owned by one app (or one CLI run)."""

    def __init__(self, url: str, *, statement_timeout_ms: int = 5000, pool_size: int = 5) -> None:
        self.url = url
        self.engine = make_engine(
            url, statement_timeout_ms=statement_timeout_ms, pool_size=pool_size
        )
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # Reads run without BEGIN/ROLLBACK: two round trips fewer per request. Under READ
        # COMMITTED every statement sees its own snapshot anyway, so nothing is lost.
        self.read_sessionmaker = sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self.sessionmaker()

    def read_session(self) -> Session:
        """A session for reads only: each statement commits by itself, nothing is written."""
        return self.read_sessionmaker()

    def dispose(self) -> None:
        self.engine.dispose()


def request_session() -> Session:
    """The current request's session, opened on first use and closed at teardown.

    GET and HEAD requests, and views marked ``@read_only``, only read, so theirs runs in
    autocommit mode; every other request gets one transaction, which ``@write`` commits.
    """
    from flask import current_app, g, request

    session: Session | None = g.get("db_session")
    if session is None:
        database: Database = current_app.extensions["rolefit.db"]
        read_only = request.method in ("GET", "HEAD") or g.get("read_only", False)
        session = database.read_session() if read_only else database.session()
        g.db_session = session
    return session


def discard_request_session() -> None:
    """Close the current request's session; the next :func:`request_session` opens a new one."""
    from flask import g

    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()
