"""A per-process cache of verified API keys, kept honest by PostgreSQL's LISTEN/NOTIFY.

Every ``/v1`` request authenticates its key. Without a cache that is a database round trip
before the view's own query (the key's row, and the catalog's state token read with it). With
it, a request whose key this worker verified recently makes no key query at all. Measured with
``bench.matching`` (100,000 candidates, gunicorn 2 workers, INFO logging, audit and metrics on;
two runs each on a heavily shared 2-core machine), as a ratio to the one-query reference: the
candidate's matches from 0.42-0.93 to 0.84-1.04, the ranking page from 0.33-0.56 to 0.71-0.77,
``POST /v1/match`` (no query left) from 0.59-0.69 to 1.20-1.64; served side by side in one run,
after/before was 1.26, 1.26 and 2.45. A cache hit costs about 3 µs (the token's SHA-256, a lock,
a dict, a copy of the principal with the current catalog token).

What is cached
    Entries are keyed by the SHA-256 of the token (the plaintext is never kept) and hold what
    authentication decided (the key's id, scopes, last use). At most ``limit`` entries, least
    recently used evicted first. An entry is stored only if nothing was invalidated between
    the moment its row was read and the moment it is stored (a generation counter), so a
    revocation that races a lookup can never be cached over.

When the cache may answer
    Only while a listener thread (one per process and database) holds a direct connection to
    PostgreSQL that LISTENs on :data:`KEYS_CHANNEL` and :data:`CATALOG_CHANNEL`, and has
    *confirmed* within the last ``max_unconfirmed`` seconds (1 s) that it has received every
    notification: it sends a ``SELECT 1`` every ``heartbeat`` seconds (0.25 s) and after every
    notification; PostgreSQL delivers the notifications of transactions committed before a
    query ahead of that query's answer (psycopg hands them to the connection's notify handler
    while it reads that answer, so ``notifies()`` is not needed: the thread waits on the socket
    with ``select``). That costs each worker four trivial queries a second. So:

    - a change of a key (committed anywhere: any worker, any instance, the CLI) drops the entry
      as soon as its notification arrives (well under a millisecond on one host);
    - if the listener is not connected (not started yet, connection lost, SQLite: there is
      none) the cache does not answer at all; if its connection hangs silently (a network
      partition), the cache stops answering at most 1 s after the last confirmation;
    - when the listener (re)connects, the whole cache is cleared (notifications may have been
      missed while it was away);
    - a change committed *in this process* stops the cache until the next confirmation sent
      after the commit, so a worker always sees its own writes, notification or not.

    Hence the README's promise: a key revoked with rolefit is refused within 1 s on every
    worker and instance, and at once while the listener is connected.

    Entries also expire after ``max_age`` (60 s) even while confirmed: a change made outside
    rolefit (an ``UPDATE api_keys`` in psql) sends no notification, and is seen within a minute.

The catalog's state token (:mod:`service.domain.catalog`) rides along: the listener reads it
when it connects and follows :data:`CATALOG_CHANNEL`, so a cached request also needs no query
to know whether the worker's cached catalog is current.

Why not on SQLite: there is no listener, so entries could only expire by age; the catalog's
token would then be up to that age stale on other workers (a role change unseen for a while),
and an SQLite lookup is an in-process call of about 20 µs. The cache is simply never consulted.

Fork: a child process starts with an empty cache and no listener (it starts its own on first
use); gunicorn does not preload the app, so this is only a safeguard.
"""

from __future__ import annotations

import os
import select
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import psycopg
import structlog
from sqlalchemy import event, func
from sqlalchemy import select as sql_select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

T = TypeVar("T")

KEYS_CHANNEL = "rolefit_api_keys"
CATALOG_CHANNEL = "rolefit_catalog"
MAX_UNCONFIRMED_SECONDS = 1.0
HEARTBEAT_SECONDS = 0.25
MAX_AGE_SECONDS = 60.0
RECONNECT_SECONDS = 0.5

log = structlog.get_logger("rolefit.key_cache")

_ANNOUNCED = "rolefit.key_cache.announced"


class _LocalChanges:
    """When this process last committed an announced change (time.monotonic())."""

    committed_at = float("-inf")


_local = _LocalChanges()


def announce(session: Session, channel: str, payload: str) -> None:
    """Tell every worker's cache, at commit, that ``payload`` on ``channel`` changed.

    ``pg_notify`` in the session's transaction: delivered when (and only if) it commits. On
    every database the commit also stops this process's caches until their next confirmation.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(sql_select(func.pg_notify(channel, payload)))
    session.info[_ANNOUNCED] = True


@event.listens_for(Session, "after_commit")
def _announced_change_committed(session: Session) -> None:
    if session.info.pop(_ANNOUNCED, False):
        _local.committed_at = time.monotonic()


@event.listens_for(Session, "after_rollback")
def _announced_change_rolled_back(session: Session) -> None:
    session.info.pop(_ANNOUNCED, None)


class KeyCache(Generic[T]):
    """Verified keys of one database, by token hash; see the module docstring for the rules.

    ``direct_url`` is a SQLAlchemy URL straight to PostgreSQL (never through a transaction
    pooler: LISTEN needs a session of its own), or None for no listener (SQLite): then the
    cache never answers. ``state_sql`` reads the catalog's state token (one row, one column).
    """

    def __init__(
        self,
        direct_url: str | None,
        state_sql: str,
        *,
        limit: int = 10_000,
        max_unconfirmed: float = MAX_UNCONFIRMED_SECONDS,
        heartbeat: float = HEARTBEAT_SECONDS,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.direct_url = direct_url
        self.state_sql = state_sql
        self.limit = limit
        self.max_unconfirmed = max_unconfirmed
        self.heartbeat = heartbeat
        self.max_age = max_age
        self._clock = clock
        self._reset()
        _CACHES.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[str, float, T]] = OrderedDict()
        self._hash_of: dict[str, str] = {}  # key id -> token hash
        self._generation = 0
        self._confirmed_at: float | None = None
        self._state: str | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.listener_pid: int | None = None  # the listener's backend, for tests and logs
        self.connects = 0

    # ------------------------------------------------------------------- what requests call

    def get(self, token_hash: str) -> tuple[T, str | None] | None:
        """The cached value and the catalog's current state token, or None (look it up)."""
        now = self._clock()
        if not self._answers(now):
            return None
        with self._lock:
            entry = self._entries.get(token_hash)
            if entry is None:
                return None
            if now - entry[1] > self.max_age:
                self._drop(token_hash)
                return None
            self._entries.move_to_end(token_hash)
            return entry[2], self._state

    def ticket(self) -> int | None:
        """Take before reading a key from the database; give to :meth:`put` afterwards."""
        self._ensure_listener()
        return self._generation if self._answers(self._clock()) else None

    def put(self, ticket: int | None, token_hash: str, key_id: str, value: T) -> None:
        """Cache ``value`` unless anything was invalidated since ``ticket`` was taken."""
        with self._lock:
            if ticket is None or ticket != self._generation:
                return
            self._drop(self._hash_of.get(key_id, token_hash))
            self._entries[token_hash] = (key_id, self._clock(), value)
            self._hash_of[key_id] = token_hash
            while len(self._entries) > self.limit:
                oldest = next(iter(self._entries))
                self._drop(oldest)

    def replace(self, token_hash: str, value: T) -> None:
        """Update a cached value in place (a new last use), if it is still cached."""
        with self._lock:
            entry = self._entries.get(token_hash)
            if entry is not None:
                self._entries[token_hash] = (entry[0], entry[1], value)

    def __len__(self) -> int:
        return len(self._entries)

    # ------------------------------------------------------------------- invalidation

    def invalidate(self, key_id: str) -> None:
        """Drop the entry of ``key_id`` (a notification arrived)."""
        with self._lock:
            self._generation += 1
            token_hash = self._hash_of.get(key_id)
            if token_hash is not None:
                self._drop(token_hash)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self._hash_of.clear()

    def _drop(self, token_hash: str) -> None:
        entry = self._entries.pop(token_hash, None)
        if entry is not None:
            self._hash_of.pop(entry[0], None)

    def _answers(self, now: float) -> bool:
        confirmed = self._confirmed_at
        return (
            confirmed is not None
            and now - confirmed <= self.max_unconfirmed
            and confirmed > _local.committed_at
        )

    # ------------------------------------------------------------------- the listener

    def _ensure_listener(self) -> None:
        if self._thread is not None or self.direct_url is None:
            return
        with self._lock:
            if self._thread is not None:
                return
            # The thread holds the cache weakly: a dropped cache ends its thread.
            self._thread = threading.Thread(
                target=_listen, args=(weakref.ref(self),), name="rolefit-key-cache", daemon=True
            )
        self._thread.start()

    def stop(self) -> None:
        """End the listener (tests, shutdown); the cache then no longer answers."""
        self._stop.set()
        self._confirmed_at = None
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _connected(self, state: str | None, confirmed_at: float) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self._hash_of.clear()
            self._state = state
            self._confirmed_at = confirmed_at
            self.connects += 1

    def _notified(self, notify: psycopg.Notify) -> None:
        if notify.channel == CATALOG_CHANNEL:
            self._state = notify.payload or None
        else:
            self.invalidate(notify.payload)

    def _confirm(self, sent_at: float) -> None:
        self._confirmed_at = sent_at

    def _disconnected(self) -> None:
        self._confirmed_at = None
        self.listener_pid = None


# A link that stops answering (a network partition) fails within about ten seconds rather than
# hanging the listener forever; meanwhile the cache has stopped answering after one second.
_CONNECT_OPTIONS: dict[str, Any] = {
    "autocommit": True,
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
    "application_name": "rolefit-key-cache",
}


def _listen(ref: weakref.ref[KeyCache[Any]]) -> None:
    """The listener thread: connect, LISTEN, confirm every heartbeat; reconnect when lost."""
    quiet = False  # one warning per outage, not one per attempt
    while True:
        cache = ref()
        if cache is None or cache._stop.is_set():
            return
        url, stop, connects = cache.direct_url, cache._stop, cache.connects
        del cache
        try:
            _session(ref, _libpq_url(url or ""))
        except Exception as error:
            cache = ref()
            if cache is not None:
                cache._disconnected()
                quiet = quiet and cache.connects == connects
            if not quiet:
                log.warning("key_cache_listener_lost", error=type(error).__name__)
                quiet = True
            del cache
        if stop.wait(RECONNECT_SECONDS):
            return


def _session(ref: weakref.ref[KeyCache[Any]], url: str) -> None:
    clock = time.monotonic
    with psycopg.connect(url, **_CONNECT_OPTIONS) as connection:
        cache = ref()
        if cache is None:
            return
        connection.add_notify_handler(cache._notified)
        connection.execute(f"LISTEN {KEYS_CHANNEL}")
        connection.execute(f"LISTEN {CATALOG_CHANNEL}")
        sent = clock()
        row = connection.execute(cache.state_sql).fetchone()
        cache.listener_pid = connection.info.backend_pid
        cache._connected(row[0] if row else None, sent)
        heartbeat, stop = cache.heartbeat, cache._stop
        del cache
        while not stop.is_set():
            # Wakes up when a notification arrives, or every heartbeat; the query then reads
            # what has arrived (the notify handler runs inside it) and proves the link alive.
            select.select([connection.fileno()], [], [], heartbeat)
            sent = clock()
            connection.execute("SELECT 1")
            cache = ref()
            if cache is None:
                return
            cache._confirm(sent)
            del cache
    cache = ref()
    if cache is not None:
        cache._disconnected()


def _libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://...``) as libpq takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


_CACHES: weakref.WeakSet[KeyCache[Any]] = weakref.WeakSet()
_SHARED: dict[tuple[str, str], KeyCache[Any]] = {}
_SHARED_LOCK = threading.Lock()


def shared(direct_url: str | None, state_sql: str) -> KeyCache[Any]:
    """The process's cache for the database at ``direct_url`` (None: a cache that never
    answers). Apps of one process on one database share it, and its one listener."""
    if direct_url is None or not direct_url.startswith("postgresql"):
        return KeyCache(None, state_sql)
    with _SHARED_LOCK:
        found = _SHARED.get((direct_url, state_sql))
        if found is None:
            found = _SHARED[(direct_url, state_sql)] = KeyCache(direct_url, state_sql)
        return found


def _reset_after_fork() -> None:
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()
    for cache in list(_CACHES):
        cache._reset()


os.register_at_fork(after_in_child=_reset_after_fork)
