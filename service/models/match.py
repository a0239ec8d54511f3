"""Stored match scores: one row per (role, candidate), the input of rankings and summaries."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from service.infra.orm import Base, UTCDateTime


class Match(Base):
    __tablename__ = "matches"
    role_id: Mapped[int] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )
    candidate_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role_version: Mapped[int]
    model_version: Mapped[str] = mapped_column(String(32))
    score_hundredths: Mapped[int]
    must_haves_met: Mapped[bool]
    band: Mapped[str] = mapped_column(String(16))
    # must_haves_met * 100000 + score_hundredths, so one descending key gives the ranking order.
    rank_key: Mapped[int]
    # Month (year*12 + month-1) that recency was computed against.
    as_of_month: Mapped[int]
    inputs_hash: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Copies of the candidate's name and headline, so that a ranking page reads matches alone
    # (joining candidates cost PostgreSQL 250 against 115 µs a 50-row page). Written with every
    # score and every change of the profile (service.domain.matching.profile_changed); erased
    # with the candidate's matches.
    candidate_name: Mapped[str] = mapped_column(String(200))
    candidate_headline: Mapped[str | None] = mapped_column(String(300))


# The ranking order (must-haves met first, then score: one descending key), then candidate id
# ascending; the mixed directions need them in the index for a plain forward range scan. On
# PostgreSQL it also carries every column a ranking page shows: an index-only scan, no heap.
Index(
    "ix_matches_ranking",
    Match.role_id,
    Match.rank_key.desc(),
    Match.candidate_id,
    postgresql_include=[
        "score_hundredths",
        "band",
        "must_haves_met",
        "role_version",
        "model_version",
        "computed_at",
        "candidate_name",
        "candidate_headline",
    ],
)
