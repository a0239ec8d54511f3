"""Response bodies of /v1/audit-events, as :class:`.schemas.AuditEventSchema` documents them."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from service.models import AuditEvent


def event_body(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        # To the microsecond: events of one second keep their order.
        "occurred_at": event.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": event.actor,
        "key_id": event.api_key_id,
        "action": event.action,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "request_id": event.request_id,
        "status": event.status,
        "outcome": event.outcome,
    }
