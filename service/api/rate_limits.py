"""Rate limits per API key, when ``ROLEFIT_RATE_LIMIT`` turns them on (see
:mod:`service.domain.ratelimit` for the strategies, :mod:`service.infra.rate_limit_counters`
for where hits are counted)."""

from __future__ import annotations

from flask import Flask, Response, current_app, g

from service.api.errors import problem
from service.config import Config
from service.domain.ratelimit import Decision, RateLimiter
from service.infra.database import Database
from service.infra.rate_limit_counters import DatabaseCounters, RedisCounters
from service.observability import RATE_LIMITED

RATE_LIMITER = "rolefit.ratelimit"


class RateLimitExceeded(Exception):
    """Raised by :func:`enforce_rate_limit` when the key has used up its quota: a 429."""

    def __init__(self, decision: Decision) -> None:
        super().__init__("rate limit exceeded")
        self.decision = decision


def enforce_rate_limit(key_id: str) -> None:
    """Count the request against the key's quota (when rate limits are on); every
    authenticated request counts, also one that is then refused for a missing scope."""
    limiter: RateLimiter | None = current_app.extensions.get(RATE_LIMITER)
    if limiter is None:  # off by default: then this is the whole cost
        return
    decision = limiter.check(key_id)
    if decision is None:  # counters unreachable: let it through (logged by the limiter)
        return
    g.rate_limit = decision
    if not decision.allowed:
        RATE_LIMITED.inc()
        raise RateLimitExceeded(decision)


def init_rate_limits(app: Flask, config: Config, database: Database) -> None:
    """Turn rate limiting on when ``config.rate_limit`` > 0 (``ROLEFIT_RATE_LIMIT``).

    Counters go to Redis when ``ROLEFIT_REDIS_URL`` is set, else to the database. When off,
    nothing is registered: no hook, no header, no counter.
    """
    if config.rate_limit <= 0:
        return
    counters = (
        RedisCounters(config.redis_url) if config.redis_url else DatabaseCounters(database.engine)
    )
    app.extensions[RATE_LIMITER] = RateLimiter(
        counters,
        limit=config.rate_limit,
        window=config.rate_limit_window,
        strategy=config.rate_limit_strategy,
    )

    @app.errorhandler(RateLimitExceeded)
    def too_many_requests(error: RateLimitExceeded) -> Response:
        return problem(
            429,
            "Too Many Requests",
            f"this API key may make {error.decision.limit} requests per "
            f"{error.decision.window} s; retry after {error.decision.retry_after} s",
            headers=error.decision.headers(),
        )

    @app.after_request
    def rate_limit_headers(response: Response) -> Response:
        decision: Decision | None = g.get("rate_limit")
        if decision is not None:
            for name, value in decision.headers().items():
                response.headers.setdefault(name, value)
        return response
