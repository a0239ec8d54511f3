"""The audit trail: one append-only row per access to personal data or change to the catalog.

Rows hold ids only (API key id, resource id, request id), never names or contact data, so they
survive a candidate's erasure. Nothing updates or deletes them (on PostgreSQL, triggers refuse
it: :mod:`service.infra.tamper_guard`). There are no foreign keys on purpose: an event outlives
the candidate, role or key it names.

:class:`AuditSeal` rows are the checkpoints of ``rolefit audit seal``
(:mod:`service.domain.audit_seals`): each one a SHA-256 over a range of events, chained to the
seal before it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.infra.orm import Base, UTCDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"

    # BIGINT on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # "api" for HTTP requests, "cli:<command>" for jobs such as retention.
    actor: Mapped[str] = mapped_column(String(64))
    api_key_id: Mapped[str | None] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(16))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    # The HTTP status of the request (NULL for command-line jobs).
    status: Mapped[int | None] = mapped_column(SmallInteger)
    outcome: Mapped[str] = mapped_column(String(16))


# Newest first, optionally narrowed to one resource or one key: each an index range scan.
Index("ix_audit_events_occurred_at", AuditEvent.occurred_at, AuditEvent.id)
Index(
    "ix_audit_events_resource",
    AuditEvent.resource_id,
    AuditEvent.occurred_at,
    AuditEvent.id,
)
Index("ix_audit_events_key", AuditEvent.api_key_id, AuditEvent.occurred_at, AuditEvent.id)


class AuditSeal(Base):
    """One sealed range of the audit trail: the events with ``id`` above the previous seal's
    ``last_event_id`` and up to this one's, in id order."""

    __tablename__ = "audit_seals"
    # Two sealers running at once cannot both extend the chain from the same seal.
    __table_args__ = (UniqueConstraint("previous_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    first_event_id: Mapped[int] = mapped_column(BigInteger)
    last_event_id: Mapped[int] = mapped_column(BigInteger)
    event_count: Mapped[int] = mapped_column(BigInteger)
    # Over the canonical lines of the range's events (audit_seals.canonical_line).
    events_sha256: Mapped[str] = mapped_column(String(64))
    # The previous seal's chain_sha256; 64 zeros for the first seal.
    previous_sha256: Mapped[str] = mapped_column(String(64))
    # Over previous_sha256 and every other field of this seal.
    chain_sha256: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime)
