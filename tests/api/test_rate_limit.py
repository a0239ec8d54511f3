"""Rate limits per API key: off by default (and then free), a 429 problem with Retry-After,
RateLimit-Policy and RateLimit headers, counters in the database or Redis shared by every
worker and instance, fixed or sliding windows."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from service.domain.ratelimit import Decision, RateLimiter
from service.infra.database import Database
from service.infra.rate_limit_counters import RedisCounters
from service.models import RateLimitCounter
from tests.api.test_audit import fresh_app
from tests.api.test_ops_and_errors import assert_problem
from tests.conftest import bearer

REDIS_URL = "redis://127.0.0.1:6379/0"
POLICY = re.compile(r'^"default";q=(\d+);w=(\d+)$')
STATE = re.compile(r'^"default";r=(\d+);t=(\d+)$')


def redis_reachable() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.3).ping())
    except Exception:
        return False


needs_redis = pytest.mark.skipif(not redis_reachable(), reason="Redis at 127.0.0.1:6379 needed")


@pytest.fixture
def limited_app(request, database_url: str) -> Callable[..., Flask]:
    def build(**overrides: Any) -> Flask:
        # A window of an hour: a test never straddles two windows by bad luck.
        return fresh_app(request, database_url, rate_limit=3, rate_limit_window=3600, **overrides)

    return build


def counters(database: Database) -> int:
    with database.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(RateLimitCounter)) or 0)


def test_off_by_default_no_headers_and_no_counters(
    client, admin_headers, database: Database
) -> None:
    for _ in range(20):
        response = client.get("/v1/roles", headers=admin_headers)
        assert response.status_code == 200
        assert "RateLimit" not in response.headers and "RateLimit-Policy" not in response.headers
    assert counters(database) == 0


@pytest.mark.parametrize("redis_url", [None, pytest.param(REDIS_URL, marks=needs_redis)])
def test_over_the_limit_is_a_429_problem_with_retry_after_and_ratelimit_headers(
    limited_app, make_key, redis_url: str | None
) -> None:
    client = limited_app(redis_url=redis_url).test_client()
    headers = bearer(make_key("admin"))
    remaining = []
    for _ in range(3):
        response = client.get("/v1/roles", headers=headers)
        assert response.status_code == 200
        assert POLICY.match(response.headers["RateLimit-Policy"]).groups() == ("3", "3600")
        remaining.append(int(STATE.match(response.headers["RateLimit"]).group(1)))
    assert remaining == [2, 1, 0]

    refused = client.get("/v1/roles", headers=headers)
    body = assert_problem(refused, 429)
    assert "3 requests per 3600 s" in body["detail"]
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 3600
    r, t = STATE.match(refused.headers["RateLimit"]).groups()
    assert int(r) == 0 and int(t) == retry_after
    assert POLICY.match(refused.headers["RateLimit-Policy"])
    # Writes are refused too, before they touch anything.
    assert client.post("/v1/candidates", json={"name": "x"}, headers=headers).status_code == 429

    # The quota is per key: another key is unaffected.
    assert client.get("/v1/roles", headers=bearer(make_key("admin"))).status_code == 200


@pytest.mark.parametrize("redis_url", [None, pytest.param(REDIS_URL, marks=needs_redis)])
def test_every_instance_shares_the_counters(limited_app, make_key, redis_url: str | None) -> None:
    """Two app instances (as two workers or two machines) draw on one quota."""
    first = limited_app(redis_url=redis_url).test_client()
    second = limited_app(redis_url=redis_url).test_client()
    headers = bearer(make_key("dashboard"))
    statuses = [
        (first if n % 2 else second).get("/v1/roles", headers=headers).status_code for n in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]


def test_unauthenticated_and_forbidden_requests(limited_app, make_key) -> None:
    client = limited_app().test_client()
    for _ in range(5):  # no key, no quota to count against: 401 as ever
        assert client.get("/v1/roles").status_code == 401
    headers = bearer(make_key("dashboard"))
    # A refused scope still counts: probing for routes spends the quota.
    for _ in range(3):
        assert client.delete(f"/v1/candidates/{uuid.uuid4()}", headers=headers).status_code == 403
    assert client.get("/v1/roles", headers=headers).status_code == 429


def test_unreachable_redis_lets_requests_through(limited_app, make_key) -> None:
    client = limited_app(redis_url="redis://127.0.0.1:1/0").test_client()
    headers = bearer(make_key("admin"))
    for _ in range(5):
        response = client.get("/v1/roles", headers=headers)
        assert response.status_code == 200
        assert "RateLimit" not in response.headers


def test_the_sliding_strategy_over_http(limited_app, make_key) -> None:
    client = limited_app(rate_limit_strategy="sliding").test_client()
    headers = bearer(make_key("admin"))
    assert [client.get("/v1/roles", headers=headers).status_code for _ in range(5)] == [
        200,
        200,
        200,
        429,
        429,
    ]


def test_an_unknown_strategy_is_refused_at_start(limited_app) -> None:
    with pytest.raises(ValueError, match="strategy"):
        limited_app(rate_limit_strategy="leaky")


# --- the limiter, with a clock of our own ------------------------------------------------------


class MemoryCounters:
    """Counters in a dict: the arithmetic of the strategies, without a store."""

    def __init__(self) -> None:
        self.hits: dict[tuple[str, int], int] = {}

    def hit(
        self, key_id: str, window_start: int, window: int, *, previous: bool
    ) -> tuple[int, int]:
        self.hits[(key_id, window_start)] = self.hits.get((key_id, window_start), 0) + 1
        before = self.hits.get((key_id, window_start - window), 0) if previous else 0
        return self.hits[(key_id, window_start)], before

    def undo(self, key_id: str, window_start: int) -> None:
        self.hits[(key_id, window_start)] -= 1


def run(limiter: RateLimiter, at: float, key: str = "k") -> Decision:
    decision = limiter.check(key, now=at)
    assert decision is not None
    return decision


def test_fixed_window_resets_at_the_boundary() -> None:
    limiter = RateLimiter(MemoryCounters(), limit=2, window=10, strategy="fixed")
    assert [run(limiter, 100 + t).allowed for t in (0, 1, 2)] == [True, True, False]
    refused = run(limiter, 103.5)
    assert (refused.allowed, refused.retry_after, refused.reset, refused.remaining) == (
        False,
        7,
        7,
        0,
    )
    assert run(limiter, 110).allowed  # a new window
    assert run(limiter, 110).remaining == 0


def test_sliding_window_weighs_the_previous_window() -> None:
    counters = MemoryCounters()
    limiter = RateLimiter(counters, limit=4, window=10, strategy="sliding")
    assert all(run(limiter, 100 + t).allowed for t in (0, 1, 2, 3))  # 4 in [100, 110)
    # At 112 (20% into the next window) the previous four weigh 80%: 3.2 + 1 > 4.
    refused = run(limiter, 112)
    assert not refused.allowed
    assert counters.hits[("k", 110)] == 0  # a refused request is not counted
    # One more fits once the weight is down to 3 / 4: at 112.5 the estimate is 3 + 1.
    assert refused.retry_after == 1
    assert run(limiter, 112.5).allowed
    assert not run(limiter, 113).allowed
    # A full window later the old requests no longer count.
    assert run(limiter, 120).allowed


def test_sliding_retry_after_spans_into_the_next_window() -> None:
    limiter = RateLimiter(MemoryCounters(), limit=2, window=10, strategy="sliding")
    assert run(limiter, 100).allowed and run(limiter, 101).allowed
    refused = run(limiter, 102)
    # 8 s to the end of this window, then 2 * (10 - t) / 10 + 1 <= 2 needs t >= 5.
    assert refused.retry_after == 13
    assert not run(limiter, 112.9).allowed
    assert run(limiter, 115).allowed


def test_headers_follow_the_draft() -> None:
    decision = Decision(False, 100, 60, 0, 17, 17)
    assert decision.headers() == {
        "RateLimit-Policy": '"default";q=100;w=60',
        "RateLimit": '"default";r=0;t=17',
        "Retry-After": "17",
    }
    assert "Retry-After" not in Decision(True, 100, 60, 99, 60, None).headers()


@pytest.fixture
def redis_counters() -> Iterator[RedisCounters]:
    counters = RedisCounters(REDIS_URL, prefix=f"rolefit-test:{uuid.uuid4().hex}")
    yield counters
    leftovers = list(counters._client.scan_iter(f"{counters._prefix}:*"))
    if leftovers:
        counters._client.delete(*leftovers)


@needs_redis
def test_redis_counters_expire_and_see_the_previous_window(redis_counters) -> None:
    assert redis_counters.hit("k", 100, 10, previous=True) == (1, 0)
    assert redis_counters.hit("k", 110, 10, previous=True) == (1, 1)
    assert redis_counters.hit("k", 110, 10, previous=False) == (2, 0)
    redis_counters.undo("k", 110)
    assert redis_counters.hit("k", 110, 10, previous=True) == (2, 1)
    ttl = redis_counters._client.ttl(f"{redis_counters._prefix}:k:110")
    assert 0 < ttl <= 21
