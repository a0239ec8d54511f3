"""Schemas shared by every resource: problems, pagination, health."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


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
        validate=validate.Length(max=512),
        metadata={"description": "Opaque cursor from the previous page's next_cursor"},
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
