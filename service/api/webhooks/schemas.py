"""Schemas of /v1/webhook-endpoints."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from service.api.schemas import Instant, JsonBoolean, PageSchema, Pattern, Timestamp, text
from service.domain.events import TYPE_PATTERNS
from service.domain.webhooks import MAX_EVENT_TYPES

# A host name (an address literal is refused anyway: only public names receive webhooks in
# production), an optional port, a path. Plain http passes only with ROLEFIT_WEBHOOKS_ALLOW_HTTP.
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
URL_PATTERN = (
    r"^https?://[A-Za-z][A-Za-z0-9-]*(\.[A-Za-z0-9][A-Za-z0-9-]*)*(:" + _PORT + r")?(/[!-~]*)?$"
)
_URL = {
    "description": "https only (plain http with ROLEFIT_WEBHOOKS_ALLOW_HTTP=1); a host that "
    "resolves to a private, loopback or link-local address is refused (422 here, and again at "
    "every delivery)",
    "example": "https://hooks.example.com/rolefit",
}
_URL_CHECKS = [validate.Length(min=1, max=2048), Pattern(URL_PATTERN)]
_TYPES = {
    "description": "Event types to receive; `application.*` stands for a family",
    "example": ["application.*", "candidate.erased"],
}
_EVENT_TYPE = fields.String(validate=validate.OneOf(TYPE_PATTERNS))


class WebhookEndpointSchema(Schema):
    """A receiver of signed webhooks."""

    id = fields.UUID(dump_only=True)
    url = fields.String(required=True, validate=_URL_CHECKS, metadata=_URL)
    description = fields.String(allow_none=True, validate=text(500))
    event_types = fields.List(
        _EVENT_TYPE,
        required=True,
        validate=validate.Length(min=1, max=MAX_EVENT_TYPES),
        metadata=_TYPES,
    )
    enabled = JsonBoolean()
    disabled_reason = fields.String(allow_none=True, dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class WebhookEndpointWithSecretSchema(WebhookEndpointSchema):
    secret = fields.String(
        dump_only=True,
        metadata={"description": "whsec_ + base64 of 32 bytes: shown this once, keep it"},
    )


class WebhookEndpointPatchSchema(Schema):
    url = fields.String(validate=_URL_CHECKS, metadata=_URL)
    description = fields.String(allow_none=True, validate=text(500))
    event_types = fields.List(
        _EVENT_TYPE, validate=validate.Length(min=1, max=MAX_EVENT_TYPES), metadata=_TYPES
    )
    enabled = JsonBoolean(
        metadata={"description": "true clears disabled_reason; it does not replay (recover)"}
    )


class WebhookEndpointPageSchema(PageSchema):
    data = fields.List(fields.Nested(WebhookEndpointSchema), required=True)


class TestQueuedSchema(Schema):
    event_id = fields.String(required=True)


class RecoverSchema(Schema):
    since = Instant(required=True, metadata={"description": "Replay the events since then"})


class RecoverQueuedSchema(Schema):
    queued = fields.Integer(required=True, metadata={"description": "Deliveries due now"})


class DeliveryAttemptSchema(Schema):
    """One attempt to deliver an event (never its payload)."""

    event_id = fields.String(required=True)
    event_type = fields.String(required=True)
    attempt = fields.Integer(required=True)
    attempted_at = Timestamp(required=True)
    status_code = fields.Integer(required=True, allow_none=True)
    error = fields.String(required=True, allow_none=True)
    duration_ms = fields.Integer(required=True)
    next_attempt_at = Timestamp(
        required=True, allow_none=True, metadata={"description": "null: delivered or given up"}
    )


class DeliveryAttemptPageSchema(PageSchema):
    data = fields.List(fields.Nested(DeliveryAttemptSchema), required=True)
