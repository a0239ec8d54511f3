"""Candidates and their competency records (personal data: see README, "Security")."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.infra.ids import uuid7
from service.infra.orm import Base, UTCDateTime, trigram_index, utcnow


class Candidate(Base):
    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    external_id: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    headline: Mapped[str | None] = mapped_column(String(300))
    years_experience: Mapped[float | None]
    legal_hold: Mapped[bool] = mapped_column(default=False)
    # sha256 of the canonical competency records (scoring.records_digest): part of every
    # stored match's inputs_hash, so a score can be tied to the exact records it came from.
    records_digest: Mapped[str] = mapped_column(String(64), default="")
    row_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    competencies: Mapped[list[CandidateCompetency]] = relationship(
        back_populates="candidate",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="CandidateCompetency.position",
    )

    __mapper_args__ = {"version_id_col": row_version}


class CandidateCompetency(Base):
    """One competency record; ``last_used_month`` is year*12 + month-1 so SQL can age it."""

    __tablename__ = "candidate_competencies"
    __table_args__ = (CheckConstraint("level BETWEEN 0 AND 5", name="level_range"),)

    candidate_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True
    )
    competency_id: Mapped[int] = mapped_column(
        ForeignKey("competencies.id"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    level: Mapped[int]
    years: Mapped[float | None]
    last_used_month: Mapped[int | None]
    evidence: Mapped[str] = mapped_column(String(16), default="self")
    note: Mapped[str | None] = mapped_column(Text)

    candidate: Mapped[Candidate] = relationship(back_populates="competencies")


# An ``updated_after`` sync page collects the ids updated since, then takes the first by id
# (service.infra.search): with the id in the index, that is an index-only scan (migration 0013).
Index("ix_candidates_updated_at_id", Candidate.updated_at, Candidate.id)

# ``q`` searches lower(name) and lower(headline) for a substring (service.domain.candidates).
trigram_index("ix_candidates_name_trgm", Candidate.name)
trigram_index("ix_candidates_headline_trgm", Candidate.headline)
