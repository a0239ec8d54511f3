"""The per-worker cache of verified API keys: no key query when cached, prompt revocation.

The rules under test (:mod:`service.infra.key_cache`): the cache answers only while its
listener has confirmed, within the last second, that it holds every notification; a key's
change drops its entry when the notification arrives; a reconnect clears everything; a change
committed in this process stops the cache until the next confirmation.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, text

from service import create_app
from service.domain import catalog
from service.domain.apikeys import token_hash
from service.infra import key_cache
from service.infra.database import Database
from service.infra.driver_query import DriverQuery
from service.infra.key_cache import KeyCache
from tests.conftest import POOLED, POSTGRES_DIRECT_URL, POSTGRES_URL, bearer, make_config

postgres_only = pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL (LISTEN/NOTIFY)")
STATE_SQL = catalog.token_sql()
CANDIDATE = {"name": "Cached Key", "competencies": [{"competency": "technical-depth", "level": 4}]}


# --------------------------------------------------------------------------- the rules, no database


class Clock:
    """A monotonic clock moved by hand, ahead of any real commit recorded in this process."""

    def __init__(self) -> None:
        self.now = time.monotonic() + 10_000

    def __call__(self) -> float:
        return self.now


def confirmed_cache(clock: Clock, **options: Any) -> KeyCache[str]:
    """A cache whose (simulated) listener just connected and confirmed."""
    cache: KeyCache[str] = KeyCache(None, STATE_SQL, clock=clock, **options)
    cache._connected("token-1", clock())
    return cache


def test_without_a_listener_the_cache_never_answers() -> None:
    """SQLite (and PostgreSQL before its listener connects): every request looks its key up."""
    cache: KeyCache[str] = KeyCache(None, STATE_SQL)
    cache.put(cache.ticket(), "hash", "key_1", "principal")
    assert cache.get("hash") is None
    assert len(cache) == 0


def test_entries_stop_answering_one_second_after_the_last_confirmation() -> None:
    clock = Clock()
    cache = confirmed_cache(clock)
    cache.put(cache.ticket(), "hash", "key_1", "principal")
    assert cache.get("hash") == ("principal", "token-1")
    clock.now += 0.9
    assert cache.get("hash") == ("principal", "token-1")
    clock.now += 0.2  # 1.1 s since the last confirmation: the listener may have missed things
    assert cache.get("hash") is None
    assert cache.ticket() is None
    cache._confirm(clock())
    assert cache.get("hash") == ("principal", "token-1")
    cache._disconnected()
    assert cache.get("hash") is None


def test_entries_expire_after_their_max_age_even_while_confirmed() -> None:
    clock = Clock()
    cache = confirmed_cache(clock, max_age=60)
    cache.put(cache.ticket(), "hash", "key_1", "principal")
    clock.now += 61
    cache._confirm(clock())
    assert cache.get("hash") is None


def test_a_notification_drops_the_key_and_a_racing_lookup_is_not_cached() -> None:
    clock = Clock()
    cache = confirmed_cache(clock)
    cache.put(cache.ticket(), "hash", "key_1", "principal")
    cache.invalidate("key_1")
    assert cache.get("hash") is None
    ticket = cache.ticket()  # a request starts reading key_2 from the database ...
    cache.invalidate("key_2")  # ... and key_2 is revoked before it stores what it read
    cache.put(ticket, "hash2", "key_2", "stale principal")
    assert cache.get("hash2") is None


def test_a_reconnect_clears_every_entry() -> None:
    clock = Clock()
    cache = confirmed_cache(clock)
    cache.put(cache.ticket(), "hash", "key_1", "principal")
    cache._connected("token-2", clock())
    assert cache.get("hash") is None and len(cache) == 0


def test_the_cache_keeps_the_most_recently_used_keys() -> None:
    clock = Clock()
    cache = confirmed_cache(clock, limit=2)
    for name in ("a", "b"):
        cache.put(cache.ticket(), name, f"key_{name}", name)
    cache.get("a")
    cache.put(cache.ticket(), "c", "key_c", "c")
    assert [cache.get(n) is not None for n in ("a", "b", "c")] == [True, False, True]


def test_a_change_committed_in_this_process_stops_the_cache_until_confirmed(
    database: Database,
) -> None:
    cache: KeyCache[str] = KeyCache(None, STATE_SQL)
    cache._connected("token-1", time.monotonic())
    cache.put(cache.ticket(), "hash", "key_1", "principal")
    assert cache.get("hash") is not None
    with database.session() as session:
        key_cache.announce(session, key_cache.KEYS_CHANNEL, "key_other")
        session.commit()
    assert cache.get("hash") is None
    cache._confirm(time.monotonic())
    assert cache.get("hash") is not None


# --------------------------------------------------------------------------- the listener


@pytest.fixture
def cached_app(database: Database, database_url: str) -> Iterator[Flask]:
    """An app with a cache of its own (not the process's shared one), listener started."""
    app = create_app(make_config(database_url))
    cache: KeyCache[Any] = KeyCache(POSTGRES_DIRECT_URL or database_url, STATE_SQL)
    app.extensions["rolefit.key_cache"] = cache
    yield app
    cache.stop()
    app.extensions["rolefit.db"].dispose()


def _cache(app: Flask) -> KeyCache[Any]:
    cache: KeyCache[Any] = app.extensions["rolefit.key_cache"]
    return cache


def _until(condition: Callable[[], bool], seconds: float) -> float:
    """Poll ``condition`` for at most ``seconds``; how long it took (fails past the bound)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.002)
    return time.monotonic() - started


def _cached(client: FlaskClient, app: Flask, token: str) -> None:
    """Use ``token`` until the worker answers it from its cache."""

    def served_from_cache() -> bool:
        assert client.get("/v1/roles", headers=bearer(token)).status_code == 200
        return _cache(app).get(token_hash(token)) is not None

    _until(served_from_cache, 5)


class Statements:
    """Every statement this thread sends: through SQLAlchemy and on the driver's cursor."""

    def __init__(self, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sql: list[str] = []
        self._thread = threading.get_ident()
        for engine in (database.engine, database.read_engine):
            event.listen(engine, "before_cursor_execute", self._seen)
        rows = DriverQuery.rows

        def counted(query: DriverQuery, connection: Any, params: dict[str, Any]) -> Any:
            self._record(str(query.statement))
            return rows(query, connection, params)

        monkeypatch.setattr(DriverQuery, "rows", counted)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self._record(statement)

    def _record(self, statement: str) -> None:
        if threading.get_ident() == self._thread:
            self.sql.append(statement)


@postgres_only
def test_a_cached_key_makes_no_key_query(
    cached_app: Flask, make_key: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = cached_app.test_client()
    token = make_key("admin")
    created = client.post("/v1/candidates", json=CANDIDATE, headers=bearer(token))
    assert created.status_code == 201
    url = f"/v1/candidates/{created.get_json()['id']}/matches"
    _cached(client, cached_app, token)
    assert client.get(url, headers=bearer(token)).status_code == 200  # the catalog is built

    statements = Statements(cached_app.extensions["rolefit.db"], monkeypatch)
    response = client.get(url, headers=bearer(token))
    assert response.status_code == 200
    assert not [s for s in statements.sql if "api_keys" in s], statements.sql
    assert len(statements.sql) == 1, statements.sql  # the candidate's inputs, nothing else


@postgres_only
def test_a_key_revoked_by_the_cli_of_another_process_is_refused_within_100_ms(
    cached_app: Flask, make_key: Callable[[str], str], database_url: str
) -> None:
    client = cached_app.test_client()
    token = make_key("admin")
    _cached(client, cached_app, token)
    key_id = "key_" + token.split("_")[1]
    env = dict(os.environ, ROLEFIT_DATABASE_URL=database_url, ROLEFIT_LOG_LEVEL="WARNING")
    if POOLED:
        env.update(ROLEFIT_DATABASE_TRANSACTION_POOLER="1")
    rolefit = Path(sys.executable).parent / "rolefit"
    revoke = [str(rolefit), "keys", "revoke", key_id]
    subprocess.run(revoke, env=env, check=True, timeout=60)  # noqa: S603 (our own CLI)
    took = _until(lambda: client.get("/v1/roles", headers=bearer(token)).status_code == 401, 0.1)
    assert took < 0.1


@postgres_only
def test_a_role_change_by_another_worker_reaches_cached_requests(
    cached_app: Flask, make_key: Callable[[str], str], database: Database
) -> None:
    """Another worker's catalog change (its new token, notified at commit) is seen at once."""
    client = cached_app.test_client()
    token = make_key("admin")
    _cached(client, cached_app, token)
    with psycopg.connect(_libpq(database), autocommit=True) as other:
        other.execute("UPDATE catalog_state SET token = 'elsewhere' WHERE id = 1")
        other.execute("SELECT pg_notify(%s, 'elsewhere')", (key_cache.CATALOG_CHANNEL,))
    cache = _cache(cached_app)
    _until(lambda: (cache.get(token_hash(token)) or (None, None))[1] == "elsewhere", 0.1)


def _libpq(database: Database) -> str:
    return database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


@postgres_only
def test_a_hung_listener_stops_the_cache_within_1_s(
    cached_app: Flask, make_key: Callable[[str], str], database: Database
) -> None:
    """The listener's link hangs (its server process stopped: no answer, no notification) and
    the key is revoked meanwhile: refused within 1 s all the same."""
    client = cached_app.test_client()
    token = make_key("admin")
    _cached(client, cached_app, token)
    pid = _cache(cached_app).listener_pid
    assert pid is not None
    try:
        os.kill(pid, signal.SIGSTOP)
    except (PermissionError, ProcessLookupError):
        pytest.skip("cannot signal the PostgreSQL server's processes (not local, or not root)")
    try:
        key_id = "key_" + token.split("_")[1]
        with psycopg.connect(_libpq(database), autocommit=True) as other:
            other.execute("UPDATE api_keys SET revoked_at = now() WHERE id = %s", (key_id,))
            other.execute("SELECT pg_notify(%s, %s)", (key_cache.KEYS_CHANNEL, key_id))
        refused = lambda: client.get("/v1/roles", headers=bearer(token)).status_code == 401  # noqa: E731
        assert _until(refused, 1.0) < 1.0
    finally:
        os.kill(pid, signal.SIGCONT)


@postgres_only
def test_a_killed_listener_reconnects_and_clears_the_cache(
    cached_app: Flask, make_key: Callable[[str], str], database: Database
) -> None:
    client = cached_app.test_client()
    token = make_key("admin")
    _cached(client, cached_app, token)
    cache = _cache(cached_app)
    pid, connects = cache.listener_pid, cache.connects
    with database.engine.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    _until(lambda: cache.connects > connects, 5)
    assert cache.get(token_hash(token)) is None
    assert cache.listener_pid != pid
    _cached(client, cached_app, token)  # and caches again from then on


@postgres_only
def test_a_stopped_listener_means_no_cache(
    cached_app: Flask, make_key: Callable[[str], str]
) -> None:
    client = cached_app.test_client()
    token = make_key("admin")
    _cached(client, cached_app, token)
    _cache(cached_app).stop()
    assert _cache(cached_app).get(token_hash(token)) is None
    assert client.get("/v1/roles", headers=bearer(token)).status_code == 200


@postgres_only
def test_last_use_is_still_recorded(
    cached_app: Flask, make_key: Callable[[str], str], database: Database
) -> None:
    client = cached_app.test_client()
    token = make_key("admin")
    _cached(client, cached_app, token)
    with database.engine.connect() as connection:
        used = connection.execute(
            text("SELECT last_used_at FROM api_keys WHERE id = :id"),
            {"id": "key_" + token.split("_")[1]},
        ).scalar()
    assert used is not None
    principal, _ = _cache(cached_app).get(token_hash(token)) or (None, None)
    assert principal is not None and principal.last_used_at is not None


def test_behind_a_pooler_without_a_direct_url_nothing_is_cached() -> None:
    """A LISTEN through a transaction pooler would hear nothing while its heartbeats succeed."""
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    pooled = create_app(
        make_config(url, database_transaction_pooler=True, database_direct_url=None)
    )
    assert _cache(pooled).direct_url is None
    direct = create_app(
        make_config(url, database_transaction_pooler=False, database_direct_url=None)
    )
    assert _cache(direct).direct_url == url
