"""Response bodies of /v1/webhook-endpoints, as :mod:`.schemas` documents them."""

from __future__ import annotations

from typing import Any

from service.api.jsonio import rfc3339
from service.models import DeliveryAttempt, WebhookEndpoint


def endpoint_body(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": str(endpoint.id),
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": rfc3339(endpoint.created_at),
        "updated_at": rfc3339(endpoint.updated_at),
    }


def attempt_body(attempt: DeliveryAttempt) -> dict[str, Any]:
    return {
        "event_id": attempt.event_id,
        "event_type": attempt.event_type,
        "attempt": attempt.attempt,
        "attempted_at": rfc3339(attempt.attempted_at),
        "status_code": attempt.status_code,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
        "next_attempt_at": rfc3339(attempt.next_attempt_at) if attempt.next_attempt_at else None,
    }
