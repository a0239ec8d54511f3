"""Schemas of /v1/events."""

from __future__ import annotations

import re

from marshmallow import Schema, fields, validate

from service.api.schemas import PageArgsSchema, PageSchema, Pattern, Timestamp, text
from service.domain.events import EVENT_TYPES, TYPE_PATTERNS

_TYPES = "a comma list of event types; `application.*` stands for a family"
_ONE_TYPE = "|".join(re.escape(t) for t in TYPE_PATTERNS)
TYPE_LIST_PATTERN = f"^({_ONE_TYPE})(,({_ONE_TYPE}))*$"


class EventQueryArgsSchema(PageArgsSchema):
    type = fields.String(
        validate=[validate.Length(max=1000), Pattern(TYPE_LIST_PATTERN)],
        metadata={"description": _TYPES},
    )
    subject_id = fields.String(validate=text(64, 1))
    after_seq = fields.Integer(
        validate=validate.Range(min=0, max=2**63 - 1),
        metadata={"description": "Only events after this seq"},
    )


class SubjectSchema(Schema):
    type = fields.String(required=True, metadata={"description": "The resource to re-read"})
    id = fields.String(required=True)


class EventSchema(Schema):
    """A change. Thin: ids, keys, statuses, stages, scores and bands; never personal data."""

    id = fields.String(required=True, metadata={"example": "evt_0193a1b2c3d4e5f60718293a4b5c6d7e"})
    type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES))
    created_at = Timestamp(required=True)
    seq = fields.Integer(
        required=True, metadata={"description": "Strictly increasing in commit order"}
    )
    subject = fields.Nested(SubjectSchema, required=True)
    data = fields.Dict(required=True, metadata={"description": "What changed, by type (events.md)"})


class EventPageSchema(PageSchema):
    data = fields.List(fields.Nested(EventSchema), required=True)
