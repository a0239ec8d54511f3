"""Bearer API-key authentication, per-route scopes, and the request's catalog.

Every ``/v1`` view is decorated with :func:`requires`, the outermost of its decorators (see
:mod:`service.api.unit_of_work`), which authenticates the key (from the worker's key cache
when it may answer, else one indexed read on the request's connection; a revoked key is refused
within 1 s on every worker, at once while the cache's listener is connected: see
:mod:`service.infra.key_cache`), counts the request against the key's rate limit, checks the
scope, and documents both in the OpenAPI spec. The decorator also leaves
``required_scope`` on the view so that tests can derive the scope table from the URL map.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request
from flask_smorest import Blueprint
from sqlalchemy.exc import DBAPIError

from service.api.errors import problem
from service.api.rate_limits import (
    count_failed_authentication,
    enforce_rate_limit,
    refuse_blocked_address,
)
from service.api.unit_of_work import (
    close_request_connections,
    request_connection,
    request_session,
)
from service.domain import catalog
from service.domain.apikeys import (
    Principal,
    authenticate,
    authenticate_cached,
    record_use,
    touch,
    use_worth_recording,
)
from service.domain.catalog import Catalog
from service.infra.database import Database

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
        record_use(current_app.extensions["rolefit.key_cache"], token.strip(), principal)
    return principal


def authenticate_request(token: str) -> Principal | None:
    """The key from the worker's key cache, else looked up on the request's connection."""
    return authenticate_cached(
        current_app.extensions["rolefit.key_cache"], token, lambda: _look_up(token)
    )


def _look_up(token: str) -> Principal | None:
    """Look the key up on the request's connection: its first statement, and a liveness check.

    When the pooled connection turns out dead (the database restarted since it was last used),
    SQLAlchemy has already discarded it and every older pooled connection, and nothing else has
    happened in this request yet, so one retry on a fresh connection is safe. (A cached key
    skips this statement: the pool's checkout check catches dead connections then, see
    :func:`service.infra.database.make_engine`.)
    """
    try:
        return authenticate(request_connection(), token)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        close_request_connections()
        return authenticate(request_connection(), token)


def requires(scope: str) -> Callable[[F], F]:
    """Authenticate the caller and require ``scope`` for this view."""

    def decorator(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # Per client address, around the lookup (service.api.rate_limits): refused before
            # it once the address has failed too often, and every 401 counted.
            refuse_blocked_address()
            try:
                principal = _authenticate()
            except AuthError:
                count_failed_authentication()
                raise
            g.principal = principal
            enforce_rate_limit(principal.key_id)
            if scope not in principal.scopes:
                raise AuthError(403, f"this API key lacks the scope {scope!r}")
            return func(*args, **kwargs)

        wrapper.required_scope = scope  # type: ignore[attr-defined]
        documented: F = Blueprint.doc(security=[{"bearerAuth": []}], **{"x-required-scope": scope})(
            wrapper
        )
        documented.required_scope = scope  # type: ignore[attr-defined]
        return documented

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
