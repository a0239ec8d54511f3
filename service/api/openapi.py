"""How the OpenAPI document describes errors, security outcomes, headers and links.

Views document what is theirs with the helpers at the end (:func:`problem_doc`,
:func:`if_match_doc`, :func:`idempotency_doc`, :func:`links_doc` and the header constants).

flask-smorest documents errors with its own ``Error`` schema as ``application/json``; this API
serves every error as an RFC 9457 problem (``application/problem+json``, :class:`ProblemSchema`).
:class:`ProblemApi` documents them so, and :class:`ProblemDocsPlugin` adds the responses every
operation can give besides its own: 401 / 403 / 429 where a key is required (``requires`` marks
those with ``security``), 400 / 413 / 415 where a body is taken, 503 under ``/v1``.
"""

from __future__ import annotations

import http
from collections.abc import Callable
from typing import Any, TypeVar

from apispec import APISpec, BasePlugin
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from webargs.fields import DelimitedList

from service.api.errors import PROBLEM_MIMETYPE
from service.api.schemas import SLUG_PATTERN, ProblemSchema
from service.api.unit_of_work import IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_PATTERN, IF_MATCH_PATTERN

F = TypeVar("F", bound=Callable[..., Any])

_RETRY_AFTER = {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
REQUEST_ID_HEADER = "X-Request-ID"
# Every response carries it (components/headers, referred to from every response).
_REQUEST_ID = {
    "description": "The request's id: the client's X-Request-ID when it sent a valid one "
    "(1..128 of A-Z a-z 0-9 . _ : -), else generated. Quote it when reporting a problem",
    "required": True,
    "schema": {"type": "string"},
}

# Reusable responses (components/responses), added to an operation only when it can give them.
_COMMON_RESPONSES: dict[str, dict[str, Any]] = {
    "Unauthorized": {
        "status": 401,
        "description": "The API key is missing, unknown or revoked",
        "headers": {
            "WWW-Authenticate": {
                "description": 'Always `Bearer realm="rolefit"`',
                "required": True,
                "schema": {"type": "string"},
            }
        },
    },
    "Forbidden": {"status": 403, "description": "The API key lacks the scope this needs"},
    "RateLimited": {
        "status": 429,
        "description": "Rate limit of this API key reached (when rate limits are on), or too many "
        "failed authentications from this address: refused before the key is looked up",
        "headers": {
            "Retry-After": {**_RETRY_AFTER, "required": True},
            "RateLimit-Policy": {"schema": {"type": "string"}},
            "RateLimit": {"schema": {"type": "string"}},
        },
    },
    "BadBody": {
        "status": 400,
        "description": "The body is missing, is not RFC 8259 JSON, or nests more than 32 deep",
    },
    "PayloadTooLarge": {"status": 413, "description": "The body is over 1 MiB"},
    "UnsupportedMediaType": {"status": 415, "description": "The body is not application/json"},
    "Unavailable": {
        "status": 503,
        "description": "The database is unreachable or the service is shutting down; retry later",
        "headers": {"Retry-After": {**_RETRY_AFTER, "required": True}},
    },
}


def _problem_response(
    description: str, spec: APISpec, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "schema": ProblemSchema,
        "headers": {REQUEST_ID_HEADER: REQUEST_ID_HEADER, **(headers or {})},
    }
    prepare_response(response, spec, PROBLEM_MIMETYPE)
    return response


class ProblemApi(Api):  # type: ignore[misc]
    """flask-smorest's ``Api``, documenting errors as problem+json and adding the plugin."""

    ERROR_SCHEMA = ProblemSchema

    def _init_spec(self, *, extra_plugins: Any = None, **options: Any) -> None:
        plugins = [*(extra_plugins or ()), ProblemDocsPlugin()]
        super()._init_spec(extra_plugins=plugins, **options)
        self.ma_plugin.converter.add_attribute_function(_untyped_not_nullable)
        self.ma_plugin.converter.add_parameter_attribute_function(_delimited_list_parameter)

    def _register_pagination_header(self) -> None:
        """No X-Pagination header: lists are cursor-paginated (``service.api.pagination``).

        flask-smorest registers the header lazily, but resolves its ``PaginationMetadata``
        schema eagerly, which would leave an unused components/schemas entry.
        """

    def _register_responses(self) -> None:
        """Lazily register the error responses that decorators refer to, as problems."""
        self.spec.components.header(REQUEST_ID_HEADER, _REQUEST_ID)
        for status in http.HTTPStatus:
            if status >= 400:
                response = _problem_response(status.phrase, self.spec)
                self.spec.components.response(status.name, response, lazy=True)
        default = _problem_response("An error, as a problem document", self.spec)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, default, lazy=True)
        for name, info in _COMMON_RESPONSES.items():
            response = _problem_response(info["description"], self.spec, info.get("headers"))
            self.spec.components.response(name, response, lazy=True)

    def register_blueprint(self, blp: Any, **options: Any) -> None:
        super().register_blueprint(blp, **options)
        # A path whose every operation is hidden (``@blp.doc(hide=True)``) leaves no trace.
        paths = self.spec._paths
        for path in [p for p, item in paths.items() if not set(item) & _METHODS]:
            del paths[path]


def _untyped_not_nullable(
    self: Any, field: Any, ret: dict[str, Any], **kwargs: Any
) -> dict[str, Any]:
    """OpenAPI 3.0.3: ``nullable`` only applies beside ``type``; an untyped schema (a
    ``fields.Raw``) already admits null, so apispec's ``nullable: true`` there is dropped."""
    if "type" not in ret:
        ret.pop("nullable", None)
    return {}


def _delimited_list_parameter(self: Any, field: Any, **kwargs: Any) -> dict[str, Any]:
    """A comma-separated list in one query parameter (webargs' DelimitedList): ``a,b``, not
    apispec's default for lists (``explode: true``, ``?x=a&x=b``)."""
    if isinstance(field, DelimitedList):
        return {"style": "form", "explode": False}
    return {}


_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _add(responses: dict[Any, Any], status: int, name: str) -> None:
    if status not in responses and str(status) not in responses:
        responses[str(status)] = name


class ProblemDocsPlugin(BasePlugin):
    """Adds the responses every operation can give besides those its view documents."""

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not operations:
            return
        for method in list(operations):
            operation = operations[method]
            if method not in _METHODS or not isinstance(operation, dict):
                continue
            if operation.pop("hide", False):
                del operations[method]
                continue
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if not isinstance(response, dict):
                    continue  # a components/responses name: documented there
                response.setdefault("headers", {}).setdefault(REQUEST_ID_HEADER, REQUEST_ID_HEADER)
                # An error documented without a body (``alt_response(503)``) is still a problem.
                if str(status)[0] in "45":
                    response.setdefault("content", {PROBLEM_MIMETYPE: {"schema": "Problem"}})
            if operation.get("security"):
                _add(responses, 401, "Unauthorized")
                _add(responses, 403, "Forbidden")
                _add(responses, 429, "RateLimited")
            if "requestBody" in operation:
                _add(responses, 400, "BadBody")
                _add(responses, 413, "PayloadTooLarge")
                _add(responses, 415, "UnsupportedMediaType")
            if path and path.startswith("/v1/"):
                _add(responses, 503, "Unavailable")


def links_doc(blp: Any, status: int, links: dict[str, dict[str, Any]]) -> Any:
    """Document OpenAPI links on a success response (what a client can call next with it)."""
    return blp.doc(responses={status: {"links": links}})


IF_MATCH_PARAMETER = {
    "in": "header",
    "name": "If-Match",
    "required": True,
    "schema": {"type": "string", "pattern": IF_MATCH_PATTERN, "example": '"1"'},
    "description": "The ETag of your last GET of this resource: missing is a 428, stale a 412 "
    "(nothing is written), not an entity-tag list a 400",
}
IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": IDEMPOTENCY_HEADER,
    "required": False,
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": IDEMPOTENCY_KEY_PATTERN,
    },
    "description": (
        "1..255 printable ASCII characters (no space at either end), scoped to your API key and "
        "kept 24 h. A retry with the same key and body replays the first response with "
        "`Idempotent-Replayed: true`; the same key with another body is a 422"
    ),
}
ETAG_HEADER = {
    "ETag": {
        "description": "For If-Match on PUT/PATCH",
        "required": True,
        "schema": {"type": "string"},
    }
}
LOCATION_HEADER = {
    "Location": {"description": "The new resource", "required": True, "schema": {"type": "string"}}
}
REPLAYED_HEADER = {
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored response of an earlier request",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


def problem_doc(blp: Any, status: int, description: str) -> Callable[[F], F]:
    """Document an error response of a view as a problem+json document."""
    decorator: Callable[[F], F] = blp.alt_response(
        status, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE, description=description
    )
    return decorator


def if_match_doc(blp: Any) -> Callable[[F], F]:
    """Document ``If-Match`` and its 400 / 412 / 428 on a PUT or PATCH view."""

    def decorator(func: F) -> F:
        func = problem_doc(
            blp, 400, "The body is missing or not JSON, or If-Match is not an entity-tag list"
        )(func)
        func = problem_doc(blp, 412, "If-Match is stale: nothing was written")(func)
        func = problem_doc(blp, 428, "If-Match is missing")(func)
        documented: F = blp.doc(parameters=[IF_MATCH_PARAMETER])(func)
        return documented

    return decorator


def idempotency_doc(blp: Any, conflict: str | None = None) -> Callable[[F], F]:
    """Document ``Idempotency-Key`` and its outcomes on a POST view.

    ``conflict`` describes the view's own 409, if it has one (one status, one description).
    """
    in_flight = "the first request with this Idempotency-Key is still in flight"

    def decorator(func: F) -> F:
        func = problem_doc(blp, 400, "Idempotency-Key is not 1..255 printable characters")(func)
        func = problem_doc(blp, 409, f"{conflict}; or {in_flight}" if conflict else in_flight)(func)
        documented: F = blp.doc(parameters=[IDEMPOTENCY_PARAMETER])(func)
        return documented

    return decorator


def key_parameter(what: str) -> list[dict[str, Any]]:
    """The ``{key}`` path parameter of a role or competency, with the slug rule it obeys (any
    other value names nothing: a 404)."""
    return [
        {
            "in": "path",
            "name": "key",
            "required": True,
            "description": f"The {what}'s key",
            "schema": {
                "type": "string",
                "pattern": SLUG_PATTERN,
                "example": "technical-depth" if what == "competency" else "tpm",
            },
        }
    ]
