"""Schemas shared by every resource: problems, pagination, health."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from service.api.jsonio import rfc3339

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


class PlainText:
    """Every string field's validator: text that every database can store and show.

    PostgreSQL cannot store NUL in text, and a JSON body can carry lone surrogates (``\\ud800``)
    that are not UTF-8 at all; both would otherwise fail deep in the driver as a 500. The other
    C0 control characters (tab and line breaks aside) are refused too: no name, note or
    description legitimately holds one. (The API description states the rule; it is not a
    ``pattern`` on every field, which would make generating examples from the spec very slow.)
    """

    _control = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

    def __call__(self, value: str) -> str:
        if "\x00" in value:
            raise ValidationError("must not contain NUL characters")
        if self._control.search(value):
            raise ValidationError("must not contain control characters (tab and line breaks aside)")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError("must be valid Unicode text") from None
        return value


plain_text = PlainText()


def not_blank(value: str) -> str:
    """For names compared with white space collapsed (aliases): some non-space character."""
    if not value.strip():
        raise ValidationError("must not be blank")
    return value


def text(max_length: int, min_length: int | None = None) -> list[validate.Validator]:
    """Validators of a bounded string field: length and plain text (both in the spec)."""
    return [validate.Length(min=min_length, max=max_length), plain_text]  # type: ignore[list-item]


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error of this API is rendered.

    Problem types may add members (RFC 9457 section 3.2): those this API adds are listed; a
    client must ignore others.
    """

    class Meta:
        unknown = INCLUDE  # documented as additionalProperties: true

    type = fields.String(
        required=True, metadata={"description": "URI identifying the kind of problem"}
    )
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    instance = fields.String(required=True, metadata={"description": "The request path"})
    request_id = fields.String(
        required=True, metadata={"description": "Quote it when reporting a problem"}
    )
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Field path to messages (validation errors only)"},
    )
    existing_id = fields.String(
        metadata={"description": "409 on a candidate: the id of the one with this external_id"}
    )
    owner = fields.String(
        metadata={"description": "409 on a competency: the key of the one holding the name"}
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
    """RFC 3339 in UTC to the second, as every timestamp of the API: 2026-11-26T10:42:57Z.

    Formatted by :func:`rfc3339` rather than with a ``format`` string, which apispec would
    document as ``format: null`` (an invalid schema); this way it is ``format: date-time``.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("dump_only", True)
        metadata = {"example": "2026-11-26T10:42:57Z", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else rfc3339(value)
