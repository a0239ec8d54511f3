"""Every failure as an RFC 9457 problem (``application/problem+json``), in one place.

HTTP errors (``abort``, routing, webargs validation), domain exceptions, an unreachable
database and unexpected exceptions all end here. A 500 says only that something failed and
which request id to quote; the details go to the log, never to the client.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any, NoReturn

import structlog
from flask import Flask, Response, g, request
from flask_smorest import abort as smorest_abort
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError

from service.domain.errors import Conflict, DomainError, Invalid, NotFound, PreconditionFailed
from service.observability import DB_UNAVAILABLE

try:
    from psycopg import OperationalError as _PsycopgOperationalError
except ImportError:  # pragma: no cover - psycopg is a dependency
    _PsycopgOperationalError = sqlite3.OperationalError  # type: ignore[assignment,misc]

PROBLEM_MIMETYPE = "application/problem+json"
PROBLEM_BASE = "https://rolefit.dev/problems/"
DB_RETRY_AFTER_SECONDS = 5

_DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    PreconditionFailed: 412,
}

_SLUG_BY_STATUS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    412: "precondition-failed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    428: "precondition-required",
    429: "rate-limited",
    500: "internal-error",
    503: "unavailable",
}

log = structlog.get_logger("rolefit.errors")


def abort(status: int, message: str, **kwargs: Any) -> NoReturn:
    """flask-smorest's ``abort``, typed as what it is: it always raises (an HTTPException that
    :func:`handle_http_exception` renders)."""
    smorest_abort(status, message=message, **kwargs)
    raise AssertionError("unreachable")


def problem_body(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    slug: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    instance: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A problem document of the current request (``instance`` defaults to its path): the body
    of every error response, and of each failed item of a batch."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or _SLUG_BY_STATUS.get(status, "error")),
        "title": title,
        "status": status,
        "detail": detail or title,
        "instance": instance or request.path,
        "request_id": getattr(g, "request_id", None),
    }
    if errors:
        body["errors"] = dict(errors)
    body.update(extra)
    return body


def domain_problem_body(error: DomainError, *, instance: str | None = None) -> dict[str, Any]:
    """The problem document of a domain exception."""
    status = next((_DOMAIN_STATUS[c] for c in type(error).__mro__ if c in _DOMAIN_STATUS), 400)
    errors = error.errors if isinstance(error, Invalid) else None
    return problem_body(
        status,
        error.title,
        error.detail,
        slug=error.slug,
        errors=errors,
        instance=instance,
        **error.extra,
    )


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    slug: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A problem response for the current request."""
    body = problem_body(status, title, detail, slug=slug, errors=errors, **extra)
    return problem_response(body, headers)


def problem_response(body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    """The response carrying the problem document ``body``."""
    response = Response(json.dumps(body), status=body["status"], mimetype=PROBLEM_MIMETYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested error dicts into ``{"a.0.b": ["message"]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_errors(value, path))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat[prefix or "_schema"] = list(messages)
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            flat.update(flatten_errors(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "_schema"] = [str(messages)]
    return flat


def _webargs_errors(data: Mapping[str, Any]) -> dict[str, list[str]]:
    messages = data.get("errors") or data.get("messages") or {}
    flat: dict[str, list[str]] = {}
    # webargs nests by location ("json", "query", "headers"); the field path is what matters.
    for _location, fields in messages.items():
        flat.update(flatten_errors(fields))
    return flat


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    if status >= 500 and not isinstance(error, InternalServerError):
        log.error("http_error", status=status)
    data = getattr(error, "data", None) or {}
    headers = dict(data.get("headers") or {})
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            headers[name] = value
    errors = _webargs_errors(data) if status in (400, 422) else None
    detail = data.get("message") or error.description
    if status == 422 and errors:
        detail = "the request has invalid fields; see errors"
    elif status == 400 and errors:
        detail = "the request could not be parsed; see errors"
    if status == 500:
        detail = "an unexpected error occurred; quote the request_id when reporting it"
    extra = {k: v for k, v in data.items() if k in {"existing_id", "owner"}}
    return problem(status, error.name, detail, errors=errors, headers=headers, **extra)


def handle_domain_error(error: DomainError) -> Response:
    return problem_response(domain_problem_body(error))


def handle_integrity_error(error: IntegrityError) -> Response:
    """A uniqueness race the domain's checks could not see (a concurrent write won): a 409."""
    log.info("integrity_conflict", error=type(getattr(error, "orig", error)).__name__)
    return problem(
        409,
        "Conflict",
        "the request conflicts with a concurrent change; read the resource again and retry",
    )


def handle_database_unavailable(error: Exception) -> Response:
    DB_UNAVAILABLE.inc()
    timed_out = getattr(getattr(error, "orig", error), "sqlstate", None) == "57014"
    log.warning("database_unavailable", error=type(error).__name__, timed_out=timed_out)
    return problem(
        503,
        "Service Unavailable",
        "the database did not answer in time; retry later"
        if timed_out
        else "the database is unreachable; retry later",
        headers={"Retry-After": str(DB_RETRY_AFTER_SECONDS)},
    )


def handle_unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    if _is_database_outage(error):
        return handle_database_unavailable(error)
    log.exception("unhandled_exception")
    return handle_http_exception(InternalServerError())


def _is_database_outage(error: Exception) -> bool:
    if isinstance(error, PoolTimeoutError):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    # A connect failure (server down, refused), a connection lost mid-statement, a statement
    # timeout (57014) or SQLite's "database is locked" surface as OperationalError; raw DB-API
    # errors come from code that drives the driver directly (COPY for bulk inserts).
    return isinstance(error, OperationalError | _PsycopgOperationalError | sqlite3.OperationalError)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(Exception, handle_unexpected)
