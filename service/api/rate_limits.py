"""Rate limits per API key, when ``ROLEFIT_RATE_LIMIT`` turns them on, and the limit on failed
authentications per client address, on unless ``ROLEFIT_AUTH_FAILURE_LIMIT`` is 0 (see
:mod:`service.domain.ratelimit` for the strategies, :mod:`service.infra.rate_limit_counters`
for where hits are counted).

:func:`service.api.auth.requires` calls :func:`refuse_blocked_address` before it looks at the
key, and :func:`count_failed_authentication` when it answers 401. The address is
``request.remote_addr``: the client's own, or the one a trusted proxy forwarded
(:mod:`service.api.proxy`).
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request

from service.api.errors import problem
from service.config import Config
from service.domain.ratelimit import Decision, FailureLimiter, RateLimiter, Refusal
from service.infra.database import Database
from service.infra.rate_limit_counters import DatabaseCounters, RedisCounters
from service.observability import AUTH_FAILURES, AUTH_REFUSED, RATE_LIMITED

RATE_LIMITER = "rolefit.ratelimit"
FAILURE_LIMITER = "rolefit.auth_failure_limit"


class RateLimitExceeded(Exception):
    """Raised by :func:`enforce_rate_limit` when the key has used up its quota: a 429."""

    def __init__(self, decision: Decision) -> None:
        super().__init__("rate limit exceeded")
        self.decision = decision


class AddressBlocked(Exception):
    """Raised by :func:`refuse_blocked_address`: too many failed authentications, a 429."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__("too many failed authentications")
        self.refusal = refusal


def refuse_blocked_address() -> None:
    """Refuse the request, before its key is looked up, when its address has failed to
    authenticate too often this window (a 429 with ``Retry-After``)."""
    limiter: FailureLimiter | None = current_app.extensions.get(FAILURE_LIMITER)
    if limiter is None:
        return
    refusal = limiter.refusal(request.remote_addr or "")
    if refusal is not None:
        AUTH_REFUSED.inc()
        raise AddressBlocked(refusal)


def count_failed_authentication() -> None:
    """Count a 401 against the request's address (one write to the shared counters)."""
    AUTH_FAILURES.inc()
    limiter: FailureLimiter | None = current_app.extensions.get(FAILURE_LIMITER)
    if limiter is not None:
        limiter.failed(request.remote_addr or "")


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
    """Turn the limit on failed authentications on when ``config.auth_failure_limit`` > 0, and
    rate limiting per key when ``config.rate_limit`` > 0 (``ROLEFIT_RATE_LIMIT``).

    Counters go to Redis when ``ROLEFIT_REDIS_URL`` is set, else to the database. When off,
    nothing is registered: no hook, no header, no counter.
    """
    _init_failure_limit(app, config, database)
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


def _init_failure_limit(app: Flask, config: Config, database: Database) -> None:
    if config.auth_failure_limit <= 0:
        return
    counters = (
        RedisCounters(config.redis_url, prefix="rolefit:authfail")
        if config.redis_url
        else DatabaseCounters(database.engine, namespace="addr:")
    )
    app.extensions[FAILURE_LIMITER] = FailureLimiter(
        counters, limit=config.auth_failure_limit, window=config.auth_failure_window
    )

    @app.errorhandler(AddressBlocked)
    def address_blocked(error: AddressBlocked) -> Response:
        refusal = error.refusal
        return problem(
            429,
            "Too Many Requests",
            f"too many failed authentications from this address ({refusal.limit} per "
            f"{refusal.window} s); retry after {refusal.retry_after} s",
            headers=refusal.headers(),
        )
