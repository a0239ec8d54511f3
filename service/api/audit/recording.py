"""Recording the audit trail from HTTP requests (see :mod:`service.domain.audit`).

Views declare what they do with :func:`audited`, placed directly above the function (below
``@write``, so that it runs inside the request's transaction)::

    @requires("candidates:write")
    @write
    @blp.arguments(CandidatePatchSchema)
    @blp.response(200, CandidateSchema)
    @audited("update", "candidate", id_arg="candidate_id")
    def patch(self, changes, candidate_id): ...

- A change (create, update, erase) that succeeds is recorded by the decorator in the request's
  session, so ``@write`` commits it together with the change (or rolls both back).
- Everything else, reads and every failure (401, 403, 404, 409, 422, ...), is recorded when
  the response is ready, through the buffered writer: no database round trip on the request.

The spec travels up to the outermost wrapper (``functools.wraps`` copies attributes), where
the ``after_request`` hook finds it from the URL rule, so a refused request that never reached
the view (401, 403, 422 from the schema) is still recorded against the right resource.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

import orjson
from flask import Flask, Response, current_app, g, request

from service.api.blueprint import view_handler
from service.api.unit_of_work import request_session
from service.config import Config
from service.domain import audit
from service.infra.audit_writer import BufferedWriter
from service.infra.database import Database

F = TypeVar("F", bound=Callable[..., Any])

CHANGES = frozenset({"create", "update", "erase"})
SPEC_ATTRIBUTE = "audit_spec"


@dataclass(frozen=True)
class AuditSpec:
    """What a view does, for the trail: action, resource type, and where its id comes from."""

    action: str
    resource: str
    id_arg: str | None = None
    ids: Callable[[Any], Iterable[Any]] | None = None


def audited(
    action: str,
    resource: str,
    *,
    id_arg: str | None = None,
    ids: Callable[[Any], Iterable[Any]] | None = None,
) -> Callable[[F], F]:
    """Record ``action`` on ``resource`` for this view; the id is the URL argument ``id_arg``,
    or, for creations, ``ids(body)`` of the view's JSON response body."""
    if action not in audit.ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    spec = AuditSpec(action, resource, id_arg, ids)

    def decorator(func: F) -> F:
        if action not in CHANGES:
            setattr(func, SPEC_ATTRIBUTE, spec)
            return func

        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = func(*args, **kwargs)
            status = _status_of(result)
            if status < 400:
                if spec.ids is not None:
                    found = spec.ids(orjson.loads(current_app.make_response(result).get_data()))
                else:
                    found = [kwargs.get(spec.id_arg or "")]
                actor = request_actor()
                audit.record(
                    request_session(),
                    [audit.event(actor, action, resource, rid, status=status) for rid in found],
                )
                g.audit_recorded = True
            return result

        setattr(wrapper, SPEC_ATTRIBUTE, spec)
        return wrapper  # type: ignore[return-value]

    return decorator


def request_actor() -> audit.Actor:
    """The current request's API key (None before authentication) and request id."""
    principal = g.get("principal")
    return audit.Actor(
        audit.API_ACTOR,
        key_id=principal.key_id if principal is not None else None,
        request_id=g.get("request_id"),
    )


def _status_of(result: Any) -> int:
    if isinstance(result, Response):
        return result.status_code
    if isinstance(result, tuple):
        for item in result[1:]:
            if isinstance(item, int):
                return item
        return 200
    # A view answering 204 returns None; flask-smorest turns it into the empty response.
    return 204 if result is None else 200


def writer() -> BufferedWriter:
    """This app's buffered writer of read events."""
    found: BufferedWriter = current_app.extensions["rolefit.audit"]
    return found


def init_app(app: Flask, config: Config, database: Database) -> None:
    """Create the app's buffered writer and the hook that records each audited request."""
    buffered = audit.buffered_writer(
        database.engine,
        flush_seconds=config.audit_flush_seconds,
        batch_size=config.audit_batch_size,
    )
    app.extensions["rolefit.audit"] = buffered
    specs: dict[tuple[str, str], AuditSpec | None] = {}

    def spec_for(endpoint: str, method: str) -> AuditSpec | None:
        key = (endpoint, method)
        if key not in specs:
            specs[key] = getattr(view_handler(app, endpoint, method), SPEC_ATTRIBUTE, None)
        return specs[key]

    @app.after_request
    def record_audit_event(response: Response) -> Response:
        endpoint = request.endpoint
        if endpoint is None:
            return response
        spec = spec_for(endpoint, request.method)
        if spec is None:
            return response
        status = response.status_code
        if status < 400 and g.get("audit_recorded"):
            return response
        resource_id = (request.view_args or {}).get(spec.id_arg) if spec.id_arg else None
        if resource_id is None and "Location" in response.headers:
            resource_id = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        buffered.add(
            audit.event(
                request_actor(),
                spec.action,
                spec.resource,
                resource_id,
                status=status,
                replayed=response.headers.get("Idempotent-Replayed") == "true",
            )
        )
        return response
