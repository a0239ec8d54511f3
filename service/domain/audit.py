"""The audit trail: who (which API key) did what to which resource, when, and how it ended.

Two ways in, chosen by what is at stake:

- **Changes** (create, update, erase) are recorded with :func:`record`, in the caller's session:
  the event commits or rolls back with the change it describes, so the trail never claims a
  change that did not happen, nor misses one that did.
- **Reads** (read, list, score) and refused attempts (401, 403, 404, ...) go through a
  :class:`BufferedWriter`: the request appends a row to an in-memory buffer (a few
  microseconds, no database round trip) and a background thread writes the buffer with one
  multi-row ``INSERT`` every ``flush_seconds`` or every ``batch_size`` events, whichever
  comes first. The hot read paths (match explanations, rankings, inline scoring) thus stay at
  authentication plus one query. The price: if a worker process dies abruptly (SIGKILL, OOM
  kill, power loss), the read events of its last ``flush_seconds`` (at most the buffer's
  contents) are lost. A normal shutdown (SIGTERM, SIGINT, gunicorn's worker timeout, max
  requests) flushes the buffer at exit. If the database is unreachable, events stay buffered
  and are retried; beyond ``max_buffered`` the oldest are dropped and an error is logged with
  the count. If the database refuses a batch for its content, the rows are written one by one
  and only a refused row is dropped (and logged). ``flush_seconds=0`` writes every read event
  before the response is sent instead (one extra round trip per request, nothing lost).

Events hold ids only (key id, resource id, request id): never names, contact data, query
strings or bodies, so they stay after a candidate is erased.
"""

from __future__ import annotations

import atexit
import os
import threading
import uuid
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from service.db import bulk_insert, utcnow
from service.models import AuditEvent

ACTIONS: tuple[str, ...] = ("read", "list", "create", "update", "erase", "export", "score")
"""What was done. ``export`` is reserved for bulk exports of personal data (none exist yet)."""

OUTCOMES: tuple[str, ...] = ("success", "replayed", "denied", "not-found", "failed")
"""How it ended: ``denied`` is a 401 or 403, ``replayed`` an ``Idempotency-Key`` replay."""

API_ACTOR = "api"

_TABLE = cast(sa.Table, AuditEvent.__table__)
log = structlog.get_logger("rolefit.audit")


def outcome_for(status: int | None, *, replayed: bool = False) -> str:
    """The outcome recorded for an HTTP status (None: a command-line job that succeeded)."""
    if status is None or status < 400:
        return "replayed" if replayed else "success"
    if status in (401, 403):
        return "denied"
    if status == 404:
        return "not-found"
    return "failed"


@dataclass(frozen=True)
class Actor:
    """Who acts: an API key within a request, or a command-line job (``cli:retention``)."""

    name: str
    key_id: str | None = None
    request_id: str | None = None


def event(
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: str | uuid.UUID | None,
    *,
    status: int | None = None,
    replayed: bool = False,
    at: datetime | None = None,
) -> dict[str, Any]:
    """One event as a row ready to insert."""
    return {
        "occurred_at": at or utcnow(),
        "actor": actor.name,
        "api_key_id": actor.key_id,
        "action": action,
        "resource_type": resource_type,
        "resource_id": _fit(resource_id, 64),
        "request_id": _fit(actor.request_id, 128),
        "status": status,
        "outcome": outcome_for(status, replayed=replayed),
    }


def _fit(value: str | uuid.UUID | None, length: int) -> str | None:
    """An id as stored: at most ``length`` characters, no NUL (a path segment can be anything)."""
    if value is None:
        return None
    return str(value).replace("\x00", "\ufffd")[:length]


def record(session: Session, events: Sequence[dict[str, Any]]) -> None:
    """Add events in the caller's transaction (COPY on PostgreSQL); they commit with it."""
    bulk_insert(session, AuditEvent, list(events))


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class EventFilter:
    """Filters of the audit list; every one is optional. ``until`` is exclusive."""

    resource_id: str | None = None
    resource_type: str | None = None
    action: str | None = None
    key_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_events(
    session: Session,
    filters: EventFilter,
    *,
    limit: int,
    before: tuple[datetime, int] | None = None,
) -> list[AuditEvent]:
    """Up to ``limit`` events, newest first (``occurred_at``, then id, both descending),
    strictly after the keyset position ``before`` = (occurred_at, id) of the last one seen."""
    e = AuditEvent
    query = sa.select(e).order_by(e.occurred_at.desc(), e.id.desc()).limit(limit)
    for column, value in (
        (e.resource_id, filters.resource_id),
        (e.resource_type, filters.resource_type),
        (e.action, filters.action),
        (e.api_key_id, filters.key_id),
        (e.outcome, filters.outcome),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.since is not None:
        query = query.where(e.occurred_at >= filters.since)
    if filters.until is not None:
        query = query.where(e.occurred_at < filters.until)
    if before is not None:
        at, last_id = before
        query = query.where(
            sa.or_(e.occurred_at < at, sa.and_(e.occurred_at == at, e.id < last_id))
        )
    return list(session.scalars(query))


# --------------------------------------------------------------------------- buffered writes


class BufferedWriter:
    """Collects read events in memory and writes them in batches from a background thread.

    See the module docstring for what this trades away. Appending is thread-safe
    (``deque.append``); the thread starts with the first event, and again in a child process
    after a fork (the child starts with an empty buffer: the parent flushes its own events).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        flush_seconds: float = 1.0,
        batch_size: int = 200,
        max_buffered: int = 10_000,
    ) -> None:
        self._engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.flush_seconds = flush_seconds
        self.batch_size = max(1, batch_size)
        self.max_buffered = max(self.batch_size, max_buffered)
        self.dropped = 0
        self._events: deque[dict[str, Any]] = deque()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        _WRITERS.add(self)

    @property
    def pending(self) -> int:
        return len(self._events)

    def add(self, row: dict[str, Any]) -> None:
        """Buffer one event (or write it at once when ``flush_seconds`` is 0)."""
        self._events.append(row)
        if self.flush_seconds <= 0:
            self.flush()
            return
        if self._thread is None:
            self._start()
        if len(self._events) >= self.batch_size:
            self._wake.set()

    def flush(self) -> int:
        """Write every buffered event now; how many were written (0 when the write failed)."""
        with self._flush_lock:
            rows: list[dict[str, Any]] = []
            while True:
                try:
                    rows.append(self._events.popleft())
                except IndexError:
                    break
            if not rows:
                return 0
            try:
                if len(rows) == 1:  # one INSERT commits by itself: a single round trip
                    with self._autocommit.connect() as connection:
                        connection.execute(sa.insert(_TABLE), rows)
                else:  # one transaction: the batch is written whole or not at all
                    with self._engine.begin() as connection:
                        _insert_batch(connection, rows)
            except Exception as error:
                if _unreachable(error):
                    self._requeue(rows, error)
                    return 0
                # The database answered but refused the batch: one bad row must not hold the
                # others back forever. Write them one by one and drop what is refused.
                return self._write_one_by_one(rows)
            return len(rows)

    def _write_one_by_one(self, rows: list[dict[str, Any]]) -> int:
        written = 0
        for index, row in enumerate(rows):
            try:
                with self._autocommit.connect() as connection:
                    connection.execute(sa.insert(_TABLE), row)
                written += 1
            except Exception as error:
                if _unreachable(error):
                    self._requeue(rows[index:], error)  # the database went away: retry later
                    return written
                self.dropped += 1
                log.error(
                    "audit_event_refused",
                    error=type(error).__name__,
                    action=row.get("action"),
                    resource_type=row.get("resource_type"),
                    request_id=row.get("request_id"),
                )
        return written

    def close(self) -> None:
        """Flush what is left (registered with ``atexit``); later events are written at once."""
        self._closed = True
        self.flush_seconds = 0
        self._wake.set()
        self.flush()

    def _requeue(self, rows: list[dict[str, Any]], error: Exception) -> None:
        self._events.extendleft(reversed(rows))
        overflow = len(self._events) - self.max_buffered
        for _ in range(max(0, overflow)):
            self._events.popleft()
        if overflow > 0:
            self.dropped += overflow
        log.error(
            "audit_flush_failed",
            error=type(error).__name__,
            pending=len(self._events),
            dropped=max(0, overflow),
            dropped_total=self.dropped,
        )

    def _start(self) -> None:
        with self._flush_lock:
            if self._thread is not None:
                return
            # The thread holds the writer only weakly: an app that is dropped (tests build
            # many) takes its writer and engine with it, and the thread then ends.
            thread = threading.Thread(
                target=_run, args=(weakref.ref(self),), name="rolefit-audit", daemon=True
            )
            self._thread = thread
        thread.start()

    def _after_fork(self) -> None:
        self._events = deque()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None


def _unreachable(error: Exception) -> bool:
    """Whether a failed write is worth retrying later (the database was not there) rather
    than a refusal of the rows themselves (a constraint, a value out of range)."""
    if isinstance(error, sa.exc.DBAPIError):
        return error.connection_invalidated or isinstance(error, sa.exc.OperationalError)
    return not isinstance(error, sa.exc.StatementError)


_COLUMNS = (
    "occurred_at",
    "actor",
    "api_key_id",
    "action",
    "resource_type",
    "resource_id",
    "request_id",
    "status",
    "outcome",
)
_COPY = f"COPY {_TABLE.name} ({', '.join(_COLUMNS)}) FROM STDIN"


def _insert_batch(connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Write a batch; on PostgreSQL with ``COPY``: measured 8 µs a row, mostly waiting on the
    server with the GIL released, where a multi-row INSERT through SQLAlchemy costs 45 µs a row
    of the worker's CPU (bind processing), taken from the requests it serves."""
    if connection.dialect.name != "postgresql":
        connection.execute(sa.insert(_TABLE), rows)
        return
    driver: Any = connection.connection.driver_connection
    dbapi: Any = connection.dialect.loaded_dbapi
    try:
        with driver.cursor() as cursor, cursor.copy(_COPY) as copy:
            for row in rows:
                copy.write_row([row[column] for column in _COLUMNS])
    except dbapi.Error as error:
        # As SQLAlchemy would have raised it: OperationalError, DataError, IntegrityError, ...
        raise sa.exc.DBAPIError.instance(
            _COPY, None, error, dbapi.Error, connection_invalidated=bool(driver.broken)
        ) from error


def _run(ref: weakref.ref[BufferedWriter]) -> None:
    while True:
        writer = ref()
        if writer is None or writer._closed:
            return
        wake, seconds = writer._wake, writer.flush_seconds
        del writer
        wake.wait(seconds if seconds > 0 else None)
        wake.clear()
        writer = ref()
        if writer is None:
            return
        try:
            writer.flush()
        except Exception:  # never let the thread die: the next round retries
            log.exception("audit_flush_crashed")
        del writer


_WRITERS: weakref.WeakSet[BufferedWriter] = weakref.WeakSet()


def _close_all() -> None:
    for writer in list(_WRITERS):
        writer.close()


def _reset_after_fork() -> None:
    for writer in list(_WRITERS):
        writer._after_fork()


atexit.register(_close_all)
os.register_at_fork(after_in_child=_reset_after_fork)
