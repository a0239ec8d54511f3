"""Engines and pools: how rolefit connects to SQLite and PostgreSQL.

Nothing here connects at import time. :class:`Database` is built by the application factory
(or the CLI) from a URL; the request's use of it is :mod:`service.api.unit_of_work`'s.
"""

from __future__ import annotations

import hashlib
import select
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, ExceptionContext
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

LONG_STATEMENT_TIMEOUT = "rolefit.long_statement_timeout_ms"
"""Key of a session's ``info``: the statement timeout of :func:`long_statements`, in ms."""


LONG_STATEMENT_WORK_MEM = "256MB"
"""``work_mem`` of the statements in :func:`long_statements` (one at a time per worker)."""


@contextmanager
def long_statements(session: Session) -> Iterator[None]:
    """Within this block, the session's statements may run up to its long statement timeout
    (``ROLEFIT_RESCORE_TIMEOUT_SECONDS``) instead of the engine's ``statement_timeout`` (the
    5 s of ordinary requests); PostgreSQL only, SQLite has no statement timeout.

    ``SET LOCAL`` lasts until the transaction ends, so the block sets the ordinary timeout back
    (``TO DEFAULT``: the connection's own, from its startup options) when it is left: only the
    statements inside it get the long one, and nothing leaks into the connection's next use.
    For the rescoring of a role over every candidate, which runs inside the role's ``PUT``
    (measured: 2.6 s at 100,000 candidates, issue 15).
    """
    milliseconds = session.info.get(LONG_STATEMENT_TIMEOUT)
    if session.get_bind().dialect.name != "postgresql" or milliseconds is None:
        yield
        return
    session.execute(text(f"SET LOCAL statement_timeout = {int(milliseconds)}"))
    # The rescoring's aggregate over every candidate's records spilled to disk with the default
    # 4 MB (30 MB of temporary files at 100,000 candidates, EXPLAIN ANALYZE).
    session.execute(text(f"SET LOCAL work_mem = '{LONG_STATEMENT_WORK_MEM}'"))
    yield
    # Not after an error: the transaction is aborted, and its rollback ends the SET LOCAL.
    session.execute(text("SET LOCAL statement_timeout TO DEFAULT"))
    session.execute(text("SET LOCAL work_mem TO DEFAULT"))


def make_engine(
    url: str,
    *,
    statement_timeout_ms: int = 5000,
    pool_size: int = 5,
    autocommit: bool = False,
    transaction_pooler: bool = False,
) -> Engine:
    """Create the engine for ``url`` with the settings every deployment needs.

    - No ``pool_pre_ping``: its ``SELECT 1`` is a round trip on every checkout, measured at about
      a sixth of a dashboard read. Instead, on PostgreSQL, every checkout asks the kernel whether
      the idle connection's socket has anything to read (one ``select`` with no wait, a few
      microseconds): a server that terminated the session (a restart, ``pg_terminate_backend``)
      has sent its goodbye and closed it, and the pool opens a fresh connection instead. A
      request whose key is not cached also finds a dead connection with its first statement
      (the key lookup) and retries it once (:func:`service.api.auth.authenticate_request`). A
      database restart costs no request.
    - Statement parameters are hidden in every error (they hold contact data): a logged
      database error never carries them.
    - PostgreSQL: a ``statement_timeout`` so one slow query cannot pin a worker forever, and
      sessions in UTC whatever the server's default, so that SQL date arithmetic never depends
      on it and timestamps arrive already in UTC.
    - SQLite: foreign keys on, WAL and a busy timeout so several workers can share the file.
    - ``autocommit``: every connection of the pool stays in autocommit mode, for reads only.
    - ``transaction_pooler``: ``url`` goes through a pooler in transaction mode (PgBouncer),
      where a server session is shared by many clients, one transaction at a time. psycopg's
      server-side prepared statements are turned off (``prepare_threshold=None``: PgBouncer
      before 1.21 cannot follow them from one server connection to the next, and Debian 12
      ships 1.18), and no per-connection options are sent (PgBouncer refuses the ``options``
      startup parameter): the server role (``ALTER ROLE ... SET statement_timeout = '5s'``,
      ``SET TimeZone = 'UTC'``) or the pooler's ``connect_query`` must set them instead.
    """
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = _postgresql_engine(
            url, options, statement_timeout_ms, pool_size, transaction_pooler
        )
        event.listen(engine, "checkout", _closed_by_server)
    event.listen(engine, "handle_error", _hide_parameters)
    return engine


def _hide_parameters(context: ExceptionContext) -> None:
    if context.sqlalchemy_exception is not None:
        context.sqlalchemy_exception.hide_parameters = True


def _postgresql_engine(
    url: str,
    options: dict[str, Any],
    statement_timeout_ms: int,
    pool_size: int,
    transaction_pooler: bool,
) -> Engine:
    connect_args: dict[str, Any] = {"connect_timeout": 5}
    if transaction_pooler:
        connect_args["prepare_threshold"] = None
    else:
        connect_args["options"] = (
            f"-c statement_timeout={int(statement_timeout_ms)} -c TimeZone=UTC"
        )
    return create_engine(
        url,
        **options,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=10,
        connect_args=connect_args,
    )


def _closed_by_server(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """An idle PostgreSQL connection has nothing to read, unless the server ended it."""
    try:
        readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except (OSError, ValueError) as error:
        raise DisconnectionError("the connection is closed") from error
    if readable:
        raise DisconnectionError("the server ended this idle connection")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    def sha256_hex(value: str | bytes | None) -> str | None:
        if value is None:
            return None
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        return hashlib.sha256(data).hexdigest()

    # sha256(text) -> lowercase hex, as PostgreSQL's encode(sha256(convert_to(x, 'UTF8')), 'hex'):
    # lets the same set-based SQL compute matches.inputs_hash (:mod:`service.domain.matching`).
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

    def __init__(
        self,
        url: str,
        *,
        statement_timeout_ms: int = 5000,
        pool_size: int = 5,
        transaction_pooler: bool = False,
        long_statement_timeout_ms: int = 600_000,
    ) -> None:
        self.url = url
        self.engine = make_engine(
            url,
            statement_timeout_ms=statement_timeout_ms,
            pool_size=pool_size,
            transaction_pooler=transaction_pooler,
        )
        self.read_engine = make_engine(
            url,
            statement_timeout_ms=statement_timeout_ms,
            pool_size=max(1, pool_size // 2),
            autocommit=True,
            transaction_pooler=transaction_pooler,
        )
        # What long_statements() gives the few statements that may run long (0: no limit).
        self.sessionmaker = sessionmaker(
            self.engine,
            expire_on_commit=False,
            info={LONG_STATEMENT_TIMEOUT: long_statement_timeout_ms},
        )
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
