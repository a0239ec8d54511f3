"""Schemas of /v1/audit-events."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from service.api.schemas import Instant, PageArgsSchema, PageSchema, text
from service.domain import audit

RESOURCE_TYPES = (
    "candidate",
    "ranking",
    "ranking-summary",
    "inline-profile",
    "role",
    "competency",
    "audit-event",
    "job",
    "job-funnel",
    "rejection-reason",
    "application",
    "transition",
    "event",
    "webhook-endpoint",
    "webhook-delivery",
)


class AuditEventSchema(Schema):
    """One audit event. Ids only: never names, contact data, queries or bodies."""

    id = fields.Integer(dump_only=True)
    # RFC 3339, microseconds (events of one second keep their order): see .bodies.
    occurred_at = fields.DateTime(
        dump_only=True,
        metadata={
            "description": "RFC 3339, UTC, to the microsecond",
            "example": "2026-11-26T10:42:57.123456Z",
        },
    )
    actor = fields.String(
        dump_only=True,
        metadata={"description": "`api` for requests, `cli:<command>` for jobs (retention)"},
    )
    key_id = fields.String(
        attribute="api_key_id",
        dump_only=True,
        allow_none=True,
        metadata={"description": "The API key's id (never its secret); null before auth"},
    )
    action = fields.String(dump_only=True, metadata={"enum": list(audit.ACTIONS)})
    resource_type = fields.String(dump_only=True, metadata={"enum": list(RESOURCE_TYPES)})
    resource_id = fields.String(dump_only=True, allow_none=True)
    request_id = fields.String(dump_only=True, allow_none=True)
    status = fields.Integer(
        dump_only=True, allow_none=True, metadata={"description": "HTTP status; null for jobs"}
    )
    outcome = fields.String(dump_only=True, metadata={"enum": list(audit.OUTCOMES)})


class AuditQueryArgsSchema(PageArgsSchema):
    resource_id = fields.String(
        validate=text(64, 1),
        metadata={"description": "A candidate id, role key, ...: events about that resource"},
    )
    resource_type = fields.String(validate=validate.OneOf(RESOURCE_TYPES))
    action = fields.String(validate=validate.OneOf(audit.ACTIONS))
    key_id = fields.String(
        validate=text(36, 1), metadata={"description": "Events of this API key (its id)"}
    )
    outcome = fields.String(validate=validate.OneOf(audit.OUTCOMES))
    since = Instant(metadata={"description": "RFC 3339; events at or after this time"})
    until = Instant(metadata={"description": "RFC 3339; events before this time"})


class AuditEventPageSchema(PageSchema):
    data = fields.List(fields.Nested(AuditEventSchema), required=True)
