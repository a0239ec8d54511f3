"""Schemas shared by every resource: problems, pagination, health."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Response
from marshmallow import Schema, ValidationError, fields, validate

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


def plain_text(value: str) -> None:
    """Every string field's validator: text that every database can store.

    PostgreSQL cannot store NUL in text, and a JSON body can carry lone surrogates (``\\ud800``)
    that are not UTF-8 at all; both would otherwise fail deep in the driver as a 500.
    """
    if "\x00" in value:
        raise ValidationError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("must be valid Unicode text") from None


def text(max_length: int, min_length: int | None = None) -> list[validate.Validator]:
    """Validators of a bounded string field: length (documented in the spec) and plain text."""
    return [validate.Length(min=min_length, max=max_length), plain_text]  # type: ignore[list-item]


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error of this API is rendered."""

    type = fields.String(metadata={"description": "URI identifying the kind of problem"})
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    instance = fields.String(metadata={"description": "The request path"})
    request_id = fields.String(metadata={"description": "Quote it when reporting a problem"})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Field path to messages (validation errors only)"},
    )


class HealthSchema(Schema):
    status = fields.String(required=True)


class PageArgsSchema(Schema):
    """``limit`` and ``cursor`` of every list."""

    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"Page size, 1..{MAX_LIMIT}"},
    )
    cursor = fields.String(
        metadata={
            "description": "Opaque cursor from the previous page's next_cursor; "
            "a cursor that is not one (or is another list's) is a 400"
        },
    )


class PageSchema(Schema):
    next_cursor = fields.String(
        allow_none=True, required=True, metadata={"description": "null on the last page"}
    )


class Timestamp(fields.DateTime):
    """RFC 3339 in UTC to the second, as every timestamp of the API: 2026-11-26T10:42:57Z."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("dump_only", True)
        super().__init__(format="%Y-%m-%dT%H:%M:%SZ", **kwargs)  # type: ignore[arg-type]


def rfc3339(value: datetime) -> str:
    """Format as :class:`Timestamp` does, for views that build their JSON directly."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response from data already in its documented shape.

    The hot read paths (rankings, match explanations) build their bodies directly instead of
    dumping them through marshmallow, which would cost more than the rest of the request; the
    schemas still document them, and tests check that the bodies match the schemas.
    """
    response = Response(
        json.dumps(body, separators=(",", ":")), status, mimetype="application/json"
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
