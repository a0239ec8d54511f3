"""Bearer API-key authentication and per-route scopes.

Every ``/v1`` view is decorated with :func:`requires`, which authenticates the key (one indexed
read: nothing is cached, so a revoked key is refused by every worker on its next request),
checks the scope, and documents both in the OpenAPI spec. The decorator also leaves
``required_scope`` on the view so that tests can derive the scope table from the URL map.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from flask_smorest import Blueprint
from sqlalchemy.exc import DBAPIError

from service.api.errors import problem
from service.config import Config
from service.db import Database, close_request_connections, request_connection, request_session
from service.domain import catalog
from service.domain.apikeys import Principal, authenticate, touch, use_worth_recording
from service.domain.catalog import Catalog
from service.domain.ratelimit import (
    DatabaseCounters,
    Decision,
    RateLimiter,
    RedisCounters,
)
from service.observability import RATE_LIMITED

F = TypeVar("F", bound=Callable[..., Any])

SECURITY_SCHEME = {"type": "http", "scheme": "bearer", "description": "An API key: rf_…"}


class AuthError(Exception):
    """Raised inside a view to refuse the request with 401 or 403."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def current_principal() -> Principal:
    principal: Principal = g.principal
    return principal


def has_scope(scope: str) -> bool:
    principal: Principal | None = g.get("principal")
    return principal is not None and scope in principal.scopes


def _authenticate() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise AuthError(401, "send an API key as 'Authorization: Bearer <key>'")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(401, "the Authorization header must be 'Bearer <key>'")
    principal = authenticate_request(token.strip())
    if principal is None:
        raise AuthError(401, "the API key is unknown or revoked")
    if use_worth_recording(principal):
        # In its own short transaction: the request's may be read-only or roll back.
        database: Database = current_app.extensions["rolefit.db"]
        with database.session() as session:
            touch(session, principal.key_id)
            session.commit()
    return principal


def authenticate_request(token: str) -> Principal | None:
    """Look the key up on the request's connection: its first statement, and the liveness check.

    When the pooled connection turns out dead (the database restarted since it was last used),
    SQLAlchemy has already discarded it and every older pooled connection, and nothing else has
    happened in this request yet, so one retry on a fresh connection is safe.
    """
    try:
        return authenticate(request_connection(), token)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        close_request_connections()
        return authenticate(request_connection(), token)


def read_only(func: F) -> F:
    """Mark a non-GET view as read-only: its session runs without a transaction (fewer round
    trips). Put it above ``@requires``, which opens the session."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.read_only = True
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def requires(scope: str) -> Callable[[F], F]:
    """Authenticate the caller and require ``scope`` for this view."""

    def decorator(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = _authenticate()
            g.principal = principal
            limiter: RateLimiter | None = current_app.extensions.get(RATE_LIMITER)
            if limiter is not None:  # off by default: then this is the whole cost
                _enforce_rate_limit(limiter, principal.key_id)
            if scope not in principal.scopes:
                raise AuthError(403, f"this API key lacks the scope {scope!r}")
            return func(*args, **kwargs)

        wrapper.required_scope = scope  # type: ignore[attr-defined]
        documented = Blueprint.doc(security=[{"bearerAuth": []}], **{"x-required-scope": scope})(
            wrapper
        )
        documented.required_scope = scope  # type: ignore[attr-defined]
        return documented  # type: ignore[no-any-return]

    return decorator


def handle_auth_error(error: AuthError) -> Any:
    if error.status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="rolefit"'}
        return problem(401, "Unauthorized", error.detail, headers=headers)
    return problem(403, "Forbidden", error.detail)


def current_catalog() -> Catalog:
    """The taxonomy and current role profiles, from the worker's cache when still current."""
    principal: Principal | None = g.get("principal")
    token = principal.catalog_token if principal else None
    database: Database = current_app.extensions["rolefit.db"]
    cached = catalog.cached(database.cache_key, token)
    return cached if cached is not None else catalog.current(request_session(), token)


# --------------------------------------------------------------------------- rate limits

RATE_LIMITER = "rolefit.ratelimit"


class RateLimitExceeded(Exception):
    """Raised by :func:`requires` when the key has used up its quota: a 429."""

    def __init__(self, decision: Decision) -> None:
        super().__init__("rate limit exceeded")
        self.decision = decision


def _enforce_rate_limit(limiter: RateLimiter, key_id: str) -> None:
    """Count the request against the key's quota; every authenticated request counts, also
    one that is then refused for a missing scope."""
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
