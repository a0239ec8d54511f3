"""Webhook endpoints (events.md): registration, secrets, test pings, the attempt log, recovery.

Delivery itself (fan-out, claims, signatures, retries) is ``service.domain.delivery``, run by
``rolefit worker``. Secrets are made here, shown once by the caller, and kept sealed
(:class:`~service.infra.secrets.SecretBox`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain import events
from service.domain.errors import Invalid, NotFound
from service.infra.orm import UTCDateTime, utcnow
from service.infra.secrets import SecretBox, new_signing_secret
from service.infra.webhook_http import check_url
from service.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint

# After a rotation, deliveries are signed with the old secret too for this long.
ROTATION_OVERLAP = timedelta(hours=24)
MAX_EVENT_TYPES = 50


@dataclass(frozen=True)
class UrlPolicy:
    """What registration lets through (``ROLEFIT_WEBHOOKS_ALLOW_HTTP`` / ``_ALLOW_PRIVATE``)."""

    allow_http: bool = False
    allow_private: bool = False


def _check(url: str, policy: UrlPolicy) -> None:
    reason = check_url(url, policy.allow_http, policy.allow_private)
    if reason is not None:
        raise Invalid(f"this url cannot receive webhooks: {reason}", {"url": [reason]})


def _check_types(types: list[str]) -> list[str]:
    for index, pattern in enumerate(types):
        if pattern not in events.TYPE_PATTERNS:
            raise Invalid(
                f"unknown event type {pattern!r}",
                {f"event_types.{index}": ["an event type of events.md, or a family like job.*"]},
            )
    return list(dict.fromkeys(types))


def create_endpoint(
    session: Session, data: dict[str, Any], box: SecretBox, policy: UrlPolicy
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; it and its signing secret (to show once)."""
    _check(data["url"], policy)
    secret = new_signing_secret()
    now = utcnow()
    endpoint = WebhookEndpoint(
        url=data["url"],
        description=data.get("description"),
        event_types=_check_types(data["event_types"]),
        enabled=data.get("enabled", True),
        secret_encrypted=box.seal(secret),
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def get_endpoint(session: Session, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    found = session.get(WebhookEndpoint, endpoint_id)
    if found is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    return found


def list_endpoints(
    session: Session, *, limit: int, after: uuid.UUID | None = None
) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.id).limit(limit)
    if after is not None:
        query = query.where(WebhookEndpoint.id > after)
    return list(session.scalars(query))


def update_endpoint(
    session: Session, endpoint: WebhookEndpoint, changes: dict[str, Any], policy: UrlPolicy
) -> None:
    """Apply a PATCH. Re-enabling clears why it was disabled and starts its failure clock
    afresh; it does not replay what it missed (``recover`` does)."""
    if "url" in changes:
        _check(changes["url"], policy)
        endpoint.url = changes["url"]
    if "description" in changes:
        endpoint.description = changes["description"]
    if "event_types" in changes:
        endpoint.event_types = _check_types(changes["event_types"])
    if "enabled" in changes:
        if changes["enabled"] and not endpoint.enabled:
            endpoint.disabled_reason = None
            endpoint.failing_since = None
        endpoint.enabled = changes["enabled"]
    endpoint.updated_at = utcnow()
    session.flush()


def delete_endpoint(session: Session, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint with its deliveries, their attempt log and its test events."""
    session.execute(sa.delete(DeliveryAttempt).where(DeliveryAttempt.endpoint_id == endpoint.id))
    session.execute(sa.delete(Delivery).where(Delivery.endpoint_id == endpoint.id))
    session.execute(sa.delete(Event).where(Event.endpoint_id == endpoint.id))
    session.delete(endpoint)
    session.flush()


def rotate_secret(session: Session, endpoint: WebhookEndpoint, box: SecretBox) -> str:
    """A new secret (to show once); the old one keeps signing beside it for 24 hours."""
    secret = new_signing_secret()
    now = utcnow()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    endpoint.secret_encrypted = box.seal(secret)
    endpoint.updated_at = now
    session.flush()
    return secret


def send_test(session: Session, endpoint: WebhookEndpoint) -> str:
    """Enqueue a ``webhook.test`` event for this endpoint only, whatever its event types; its
    id."""
    return events.emit(
        session,
        "webhook.test",
        ("webhook_endpoint", endpoint.id),
        {"message": "a test event from rolefit: if its signature verifies, you are set up"},
        endpoint_id=endpoint.id,
    )


def list_attempts(
    session: Session, endpoint: WebhookEndpoint, *, limit: int, after: uuid.UUID | None = None
) -> list[DeliveryAttempt]:
    """The endpoint's attempt log, newest first (ids are time-ordered)."""
    query = (
        select(DeliveryAttempt)
        .where(DeliveryAttempt.endpoint_id == endpoint.id)
        .order_by(DeliveryAttempt.id.desc())
        .limit(limit)
    )
    if after is not None:
        query = query.where(DeliveryAttempt.id < after)
    return list(session.scalars(query))


def recover(session: Session, endpoint: WebhookEndpoint, since: datetime) -> int:
    """Enqueue again every event since ``since`` that this endpoint did not receive with a
    2xx, set-based: its failed and pending deliveries start over, and the events its event
    types take that it never had a delivery for (it was disabled then) get one. Only events
    the workers have fanned out already: the later ones reach it by the usual way. How many
    deliveries are due now."""
    if since > utcnow():
        raise Invalid("since is in the future", {"since": ["not in the future"]})
    now = utcnow()
    fanned_out = events.cursor_value(session, "fanned_out")
    for_it = sa.or_(
        Event.endpoint_id == endpoint.id,
        sa.and_(Event.endpoint_id.is_(None), events.type_condition(endpoint.event_types)),
    )
    missed = select(Event.id).where(
        Event.created_at >= since, Event.seq.is_not(None), Event.seq <= fanned_out, for_it
    )
    again = cast(
        sa.CursorResult[Any],
        session.execute(
            sa.update(Delivery)
            .where(
                Delivery.endpoint_id == endpoint.id,
                Delivery.status != "delivered",
                Delivery.event_id.in_(missed),
            )
            .values(
                status="pending", attempts=0, next_attempt_at=now, leased_until=None, leased_by=None
            )
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    never = missed.where(
        ~sa.exists().where(Delivery.event_id == Event.id, Delivery.endpoint_id == endpoint.id)
    )
    dialect = session.get_bind().dialect.name
    added = cast(
        sa.CursorResult[Any],
        session.execute(
            sa.insert(Delivery).from_select(
                [
                    "id",
                    "event_id",
                    "endpoint_id",
                    "status",
                    "attempts",
                    "next_attempt_at",
                    "created_at",
                ],
                select(
                    events.sql_uuid(dialect),
                    Event.id,
                    sa.literal(endpoint.id, sa.Uuid),
                    sa.literal("pending"),
                    sa.literal(0),
                    sa.literal(now, UTCDateTime),
                    sa.literal(now, UTCDateTime),
                ).where(Event.id.in_(never)),
            ),
            execution_options={"preserve_rowcount": True},
        ),
    ).rowcount
    return max(again, 0) + max(added, 0)
