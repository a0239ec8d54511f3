"""The outbox: every change recorded as an event in the transaction that makes it.

``seq`` is null until the writing transaction is about to commit: then it takes the next numbers
under the lock of the ``outbox_cursors`` row ``seq`` (``service.domain.events``), held until the
commit, so seq increases in commit order and a reader of the feed never sees a gap later filled.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from service.infra.orm import Base, UTCDateTime, utcnow


class Event(Base):
    """A change, as the feed and webhooks show it. Thin: ids, keys, statuses, stages, scores."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # evt_ + 26 letters
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    type: Mapped[str] = mapped_column(String(40))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Set for a webhook.test event: delivered to this endpoint only, never in the feed.
    endpoint_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


Index("ix_events_subject", Event.subject_id, Event.seq)
Index("ix_events_created", Event.created_at)


class OutboxCursor(Base):
    """Named positions in the outbox: ``seq``, the last seq given out; ``fanned_out``, the last
    seq the workers turned into deliveries."""

    __tablename__ = "outbox_cursors"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
