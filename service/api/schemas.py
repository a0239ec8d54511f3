"""Schemas shared by every resource: problems, pagination, health."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any, cast

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from service.api.pagination import MAX_CURSOR_LENGTH
from service.domain.competencies import KEY_PATTERN

# Competency and role keys, as the domain defines them.
SLUG_PATTERN = KEY_PATTERN.pattern
MAX_LIMIT = 200
DEFAULT_LIMIT = 50


# C0 control characters other than tab, line feed and carriage return.
_CONTROL = r"\x00-\x08\x0B\x0C\x0E-\x1F"
# What str.split() (and so name normalisation) treats as white space, outside _CONTROL.
_SPACE = r"\t\n\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
PLAIN_TEXT_PATTERN = f"^[^{_CONTROL}]*$"
NAME_PATTERN = f"^[{_SPACE}]*[^{_CONTROL}{_SPACE}][^{_CONTROL}]*$"


class PlainText:
    """Every string field's validator: text that every database can store and show.

    PostgreSQL cannot store NUL in text, and a JSON body can carry lone surrogates (``\\ud800``)
    that are not UTF-8 at all; both would otherwise fail deep in the driver as a 500. The other
    C0 control characters (tab and line breaks aside) are refused too: no name, note or
    description legitimately holds one. The document states the rule as each field's
    ``pattern`` (apispec reads :attr:`regex`); lone surrogates, which no JSON Schema pattern can
    name, are refused as invalid Unicode (the API description says so).

    With ``named``, the text must also hold something other than white space (aliases, which
    are compared with white space collapsed).
    """

    def __init__(self, *, named: bool = False) -> None:
        self.named = named
        self.regex = re.compile(NAME_PATTERN if named else PLAIN_TEXT_PATTERN)

    def __call__(self, value: str) -> str:
        if "\x00" in value:
            raise ValidationError("must not contain NUL characters")
        if _CONTROL_CHARACTER.search(value):
            raise ValidationError("must not contain control characters (tab and line breaks aside)")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError("must be valid Unicode text") from None
        if self.named and not value.split():
            raise ValidationError("must not be blank")
        return value


_CONTROL_CHARACTER = re.compile(f"[{_CONTROL}]")
plain_text = PlainText()
plain_name = PlainText(named=True)


def text(
    max_length: int, min_length: int | None = None, *, named: bool = False
) -> list[validate.Validator]:
    """Validators of a bounded string field: length and plain text (both in the document);
    ``named``: not blank either."""
    checks = plain_name if named else plain_text
    return [validate.Length(min=min_length, max=max_length), checks]  # type: ignore[list-item]


class Pattern(validate.Regexp):
    """A ``pattern`` as the document means it (ECMA-262 ``$`` is the end of the text).

    marshmallow's Regexp uses ``re.match``, where ``$`` also matches before a final newline: a
    key ``"tpm\\n"`` passed ``^[a-z][a-z0-9-]{1,63}$``. This one matches the whole value.
    """

    def __call__(self, value: str) -> str:  # type: ignore[override]
        if cast("re.Pattern[str]", self.regex).fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class JsonInteger(fields.Integer):
    """An integer of a JSON body: a JSON number without a fraction, never a string or a boolean
    (marshmallow's Integer takes ``"3"`` and ``3.0``; the document says integer)."""

    fast_as = fields.Integer

    def _validated(self, value: Any) -> int:
        if type(value) is not int:
            raise self.make_error("invalid")
        return value


class JsonFloat(fields.Float):
    """A number of a JSON body, never a string or a boolean."""

    fast_as = fields.Float

    def _validated(self, value: Any) -> float:
        if type(value) is not int and type(value) is not float:
            raise self.make_error("invalid")
        return super()._validated(value)


class JsonBoolean(fields.Boolean):
    """``true`` or ``false`` in a JSON body, never ``0``, ``1`` or ``"yes"``."""

    fast_as = fields.Boolean

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if value is not True and value is not False:
            raise self.make_error("invalid")
        return value


class Instant(fields.AwareDateTime):
    """An RFC 3339 timestamp with an offset, as every time filter and time field takes: ISO 8601
    parsing, and a 422 (not a 500) for one that has no UTC equivalent (year 1 at +01:00)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        instant = super()._deserialize(value, attr, data, **kwargs)
        try:
            instant.astimezone(UTC)
        except OverflowError:
            raise self.make_error("invalid", input=value, obj_type="datetime") from None
        return instant


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
    current_stage = fields.String(
        metadata={"description": "409 stage-conflict: the stage id the application is in"}
    )
    current_stage_name = fields.String(allow_none=True)
    current_status = fields.String(
        metadata={"description": "409 on an action or a job status move: the status now"}
    )
    requested_status = fields.String()
    active_applications = fields.Integer(
        metadata={"description": "409 on a stage edit: active applications in removed stages"}
    )
    hired = fields.Integer(metadata={"description": "409 on openings: hires so far"})
    must_haves_met = fields.Boolean(
        metadata={"description": "409 on a missing-must-have rejection: the match meets them"}
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
    # Checked by service.api.pagination.decode_cursor, which answers 400 (an empty or overlong
    # cursor is a cursor that is not one): the bounds are documented here, not validated.
    cursor = fields.String(
        metadata={
            "description": "Opaque cursor from the previous page's next_cursor; leave it out "
            "for the first page. A cursor that is not one (empty, or another list's) is a 400",
            "minLength": 1,
            "maxLength": MAX_CURSOR_LENGTH,
        },
    )


class PageSchema(Schema):
    next_cursor = fields.String(
        allow_none=True, required=True, metadata={"description": "null on the last page"}
    )


class Timestamp(fields.DateTime):
    """RFC 3339 in UTC to the second, as every timestamp of the API: 2026-11-26T10:42:57Z
    (bodies format it with :func:`service.api.jsonio.rfc3339`; this documents it).

    No ``format`` string: apispec would document it as ``format: null`` (an invalid schema);
    this way it is ``format: date-time``.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("dump_only", True)
        metadata = {"example": "2026-11-26T10:42:57Z", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)
