"""Tombstones of erased candidates: the id, when, and by whom; nothing personal."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from service.infra.orm import Base, UTCDateTime


class CandidateTombstone(Base):
    __tablename__ = "candidate_tombstones"

    candidate_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The API key that erased it, or NULL when a command-line job did (see ``actor``).
    erased_by_key_id: Mapped[str | None] = mapped_column(String(36))
    actor: Mapped[str] = mapped_column(String(64))
