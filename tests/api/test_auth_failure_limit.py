"""The limit on failed authentications per client address: a key guesser is refused (429 with
Retry-After) before its keys are looked up, counted where every worker and instance sees it,
while clients on other addresses, and valid keys, are unaffected."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from service.api.proxy import ForwardedFor
from service.domain.ratelimit import FailureLimiter, address_key
from tests.api.test_audit import fresh_app
from tests.api.test_ops_and_errors import assert_problem
from tests.api.test_rate_limit import REDIS_URL, needs_redis
from tests.conftest import bearer

LIMIT = 3


class LookupCounter:
    """Counts the API-key lookups that reach the database, at the driver: SQLite's trace
    callback, psycopg's cursor (the lookup runs on the driver's own cursor, below SQLAlchemy's
    events)."""

    def __init__(self, *engines: Engine) -> None:
        self.count = 0
        for engine in engines:
            event.listen(engine, "connect", self._connected)
            engine.dispose()  # connections opened before this one are reopened through it

    def _seen(self, sql: str) -> None:
        normalized = " ".join(sql.split()).lower()
        if normalized.startswith("select") and "from api_keys" in normalized:
            self.count += 1

    def _connected(self, dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(self._seen)
            return
        import psycopg

        counter = self

        class CountingCursor(psycopg.Cursor):  # type: ignore[type-arg]
            def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                text = query if isinstance(query, str) else str(query)
                counter._seen(text)
                return super().execute(query, *args, **kwargs)

        dbapi_connection.cursor_factory = CountingCursor


@pytest.fixture
def limited(request, database, database_url: str) -> Callable[..., tuple[Flask, LookupCounter]]:
    def build(**overrides: Any) -> tuple[Flask, LookupCounter]:
        settings: dict[str, Any] = {"auth_failure_limit": LIMIT, "auth_failure_window": 3600}
        app = fresh_app(request, database_url, **{**settings, **overrides})
        database = app.extensions["rolefit.db"]
        return app, LookupCounter(database.engine, database.read_engine)

    return build


def guess() -> dict[str, str]:
    """A well-formed key nobody has: it costs a lookup to refuse."""
    return bearer(f"rf_{secrets.token_hex(6)}_{secrets.token_urlsafe(24)}")


def from_address(address: str, headers: dict[str, str]) -> dict[str, str]:
    # The test client's peer is 127.0.0.1, the trusted proxy: as nginx would, it says who.
    return {**headers, "X-Forwarded-For": address}


def fresh_address() -> str:
    """An address of its own (documentation range), so that Redis counters of earlier runs in
    the same window do not count."""
    return f"2001:db8:{secrets.randbelow(65536):x}:{secrets.randbelow(65536):x}::1"


@pytest.mark.parametrize("redis_url", [None, pytest.param(REDIS_URL, marks=needs_redis)])
def test_a_guesser_is_refused_before_lookup_after_the_limit(limited, redis_url: str | None) -> None:
    app, lookups = limited(redis_url=redis_url)
    client = app.test_client()
    address = fresh_address()
    for _ in range(LIMIT):
        response = client.get("/v1/roles", headers=from_address(address, guess()))
        assert_problem(response, 401)
    assert lookups.count == LIMIT

    for _ in range(20):
        refused = client.get("/v1/roles", headers=from_address(address, guess()))
        body = assert_problem(refused, 429)
        assert "failed authentications from this address" in body["detail"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert lookups.count == LIMIT  # none of the 20 cost a lookup


def test_clients_on_other_addresses_are_unaffected(limited, make_key) -> None:
    app, _ = limited()
    client = app.test_client()
    good = bearer(make_key("admin"))
    for _ in range(LIMIT + 2):
        client.get("/v1/roles", headers=from_address("203.0.113.7", guess()))
    assert client.get("/v1/roles", headers=from_address("203.0.113.7", guess())).status_code == 429
    for _ in range(5):
        assert (
            client.get("/v1/roles", headers=from_address("198.51.100.2", good)).status_code == 200
        )
    # The same address without a key is unauthenticated, not refused: nothing failed there.
    assert_problem(client.get("/v1/roles", headers=from_address("198.51.100.2", {})), 401)


def test_a_valid_key_from_a_blocked_address_waits_too(limited, make_key) -> None:
    """Documented: the key cannot be told from a guess without the lookup the block saves."""
    app, lookups = limited()
    client = app.test_client()
    for _ in range(LIMIT):
        client.get("/v1/roles", headers=from_address("203.0.113.8", guess()))
    before = lookups.count
    response = client.get("/v1/roles", headers=from_address("203.0.113.8", bearer(make_key())))
    assert_problem(response, 429)
    assert lookups.count == before


def test_missing_and_malformed_keys_count_as_failures(limited) -> None:
    app, lookups = limited()
    client = app.test_client()
    attempts = [{}, {"Authorization": "Basic abc"}, bearer("not-a-key")]
    for headers in attempts:
        assert_problem(client.get("/v1/roles", headers=from_address("203.0.113.9", headers)), 401)
    assert_problem(client.get("/v1/roles", headers=from_address("203.0.113.9", guess())), 429)
    assert lookups.count == 0  # malformed keys never reach the database


def test_a_missing_scope_is_not_a_failed_authentication(limited, make_key) -> None:
    app, _ = limited()
    client = app.test_client()
    narrow = bearer(make_key("dashboard"))
    for _ in range(LIMIT + 3):
        response = client.post("/v1/roles", json={}, headers=from_address("203.0.113.10", narrow))
        assert_problem(response, 403)
    assert client.get("/v1/roles", headers=from_address("203.0.113.10", narrow)).status_code == 200


def test_another_worker_spends_at_most_one_lookup_on_a_blocked_address(limited) -> None:
    """Two apps on the same counters, as two gunicorn workers (or instances) are."""
    first, first_lookups = limited()
    second, second_lookups = limited()
    address = "203.0.113.11"
    for _ in range(LIMIT):
        first.test_client().get("/v1/roles", headers=from_address(address, guess()))
    assert first_lookups.count == LIMIT
    statuses = [
        second.test_client().get("/v1/roles", headers=from_address(address, guess())).status_code
        for _ in range(10)
    ]
    assert statuses == [401] + [429] * 9
    assert second_lookups.count == 1


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(limited) -> None:
    app, _ = limited()
    client = app.test_client()
    environ = {"REMOTE_ADDR": "192.0.2.50"}  # not a proxy of ours: its header is its own claim
    statuses = [
        client.get(
            "/v1/roles",
            headers={**guess(), "X-Forwarded-For": f"198.51.100.{n}"},
            environ_base=environ,
        ).status_code
        for n in range(LIMIT + 2)
    ]
    assert statuses == [401] * LIMIT + [429, 429]


def test_off_when_the_limit_is_zero(limited) -> None:
    app, lookups = limited(auth_failure_limit=0)
    client = app.test_client()
    for _ in range(LIMIT + 5):
        assert client.get("/v1/roles", headers=guess()).status_code == 401
    assert lookups.count == LIMIT + 5


def test_unreachable_counters_let_requests_through(limited) -> None:
    app, _ = limited(redis_url="redis://127.0.0.1:1/0")
    client = app.test_client()
    for _ in range(LIMIT + 3):
        assert_problem(client.get("/v1/roles", headers=guess()), 401)


def test_the_window_ends_and_the_address_gets_a_fresh_quota() -> None:
    class Counts:
        def __init__(self) -> None:
            self.hits: dict[tuple[str, int], int] = {}

        def hit(self, key_id: str, start: int, window: int, *, previous: bool) -> tuple[int, int]:
            self.hits[key_id, start] = self.hits.get((key_id, start), 0) + 1
            return self.hits[key_id, start], 0

        def undo(self, key_id: str, start: int) -> None:
            raise AssertionError("failures are never taken back")

    limiter = FailureLimiter(Counts(), limit=2, window=60)
    limiter.failed("192.0.2.1", now=600.0)
    assert limiter.refusal("192.0.2.1", now=601.0) is None
    limiter.failed("192.0.2.1", now=602.0)
    refusal = limiter.refusal("192.0.2.1", now=630.5)
    assert refusal is not None and refusal.retry_after == 30
    assert limiter.refusal("192.0.2.2", now=630.5) is None
    assert limiter.refusal("192.0.2.1", now=660.0) is None  # the next window


def test_ipv6_addresses_count_by_their_64_prefix() -> None:
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("::ffff:192.0.2.1") == address_key("192.0.2.1")
    assert address_key("192.0.2.1") != address_key("192.0.2.2")
    assert len("addr:" + address_key("192.0.2.1")) == 36  # fits the counters' key column


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [
        ("127.0.0.1", "127.0.0.1", "192.0.2.1", "192.0.2.1"),
        ("127.0.0.1", "192.0.2.9", "192.0.2.1", "192.0.2.9"),  # untrusted peer: ignored
        ("127.0.0.1,10.0.0.0/8", "127.0.0.1", "203.0.113.5, 192.0.2.1, 10.1.2.3", "192.0.2.1"),
        ("127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.1"),  # only proxies: the first one
        ("127.0.0.1", "127.0.0.1", "junk, 192.0.2.1", "192.0.2.1"),
        ("127.0.0.1", "127.0.0.1", "192.0.2.1, junk", "127.0.0.1"),  # a hop we did not write
        ("*", "192.0.2.9", "192.0.2.1", "192.0.2.1"),
    ],
)
def test_the_client_address_behind_trusted_proxies(
    trusted: str, peer: str, forwarded: str, client: str
) -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        return []

    ForwardedFor(app, trusted)({"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded}, None)
    assert seen["REMOTE_ADDR"] == client
