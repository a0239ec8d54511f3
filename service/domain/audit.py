"""The audit trail: who (which API key) did what to which resource, when, and how it ended.

Two ways in, chosen by what is at stake:

- **Changes** (create, update, erase) are recorded with :func:`record`, in the caller's session:
  the event commits or rolls back with the change it describes, so the trail never claims a
  change that did not happen, nor misses one that did.
- **Reads** (read, list, score) and refused attempts (401, 403, 404, ...) go through a
  :class:`~service.infra.audit_writer.BufferedWriter`: an in-memory buffer written in batches
  by a background thread, so the hot read paths (match explanations, rankings, inline scoring)
  stay at authentication plus one query. What that trades away (at most the last
  ``flush_seconds`` of a worker killed abruptly) is said there; ``ROLEFIT_AUDIT_FLUSH_SECONDS=0``
  writes every event before the response instead.

Events hold ids only (key id, resource id, request id): never names, contact data, query
strings or bodies, so they stay after a candidate is erased.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from service.infra.audit_writer import BufferedWriter
from service.infra.bulk import bulk_insert
from service.infra.orm import utcnow
from service.models import AuditEvent

ACTIONS: tuple[str, ...] = (
    "read",
    "list",
    "create",
    "update",
    "delete",
    "erase",
    "export",
    "score",
)
"""What was done. ``export`` is reserved for bulk exports of personal data (none exist yet)."""

OUTCOMES: tuple[str, ...] = ("success", "replayed", "denied", "not-found", "failed")
"""How it ended: ``denied`` is a 401 or 403, ``replayed`` an ``Idempotency-Key`` replay."""

API_ACTOR = "api"


def outcome_for(status: int | None, *, replayed: bool = False) -> str:
    """The outcome recorded for an HTTP status (None: a command-line job that succeeded)."""
    if status is None or status < 400:
        return "replayed" if replayed else "success"
    if status in (401, 403):
        return "denied"
    if status == 404:
        return "not-found"
    return "failed"


@dataclass(frozen=True)
class Actor:
    """Who acts: an API key within a request, or a command-line job (``cli:retention``)."""

    name: str
    key_id: str | None = None
    request_id: str | None = None


def event(
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: str | uuid.UUID | None,
    *,
    status: int | None = None,
    replayed: bool = False,
    at: datetime | None = None,
) -> dict[str, Any]:
    """One event as a row ready to insert."""
    return {
        "occurred_at": at or utcnow(),
        "actor": actor.name,
        "api_key_id": actor.key_id,
        "action": action,
        "resource_type": resource_type,
        "resource_id": _fit(resource_id, 64),
        "request_id": _fit(actor.request_id, 128),
        "status": status,
        "outcome": outcome_for(status, replayed=replayed),
    }


def _fit(value: str | uuid.UUID | None, length: int) -> str | None:
    """An id as stored: at most ``length`` characters, no NUL (a path segment can be anything)."""
    if value is None:
        return None
    return str(value).replace("\x00", "\ufffd")[:length]


def record(session: Session, events: Sequence[dict[str, Any]]) -> None:
    """Add events in the caller's transaction (COPY on PostgreSQL); they commit with it."""
    bulk_insert(session, AuditEvent, list(events))


def buffered_writer(engine: Engine, **options: Any) -> BufferedWriter:
    """A writer of read events and refusals, in batches (see the module docstring)."""
    return BufferedWriter(engine, cast(sa.Table, AuditEvent.__table__), **options)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class EventFilter:
    """Filters of the audit list; every one is optional. ``until`` is exclusive."""

    resource_id: str | None = None
    resource_type: str | None = None
    action: str | None = None
    key_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_events(
    session: Session,
    filters: EventFilter,
    *,
    limit: int,
    before: tuple[datetime, int] | None = None,
) -> list[AuditEvent]:
    """Up to ``limit`` events, newest first (``occurred_at``, then id, both descending),
    strictly after the keyset position ``before`` = (occurred_at, id) of the last one seen."""
    e = AuditEvent
    query = sa.select(e).order_by(e.occurred_at.desc(), e.id.desc()).limit(limit)
    for column, value in (
        (e.resource_id, filters.resource_id),
        (e.resource_type, filters.resource_type),
        (e.action, filters.action),
        (e.api_key_id, filters.key_id),
        (e.outcome, filters.outcome),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.since is not None:
        query = query.where(e.occurred_at >= filters.since)
    if filters.until is not None:
        query = query.where(e.occurred_at < filters.until)
    if before is not None:
        at, last_id = before
        query = query.where(
            sa.or_(e.occurred_at < at, sa.and_(e.occurred_at == at, e.id < last_id))
        )
    return list(session.scalars(query))
