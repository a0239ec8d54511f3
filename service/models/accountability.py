"""Self-identification (kept apart from everything that scores) and stored bias audits.

``self_identifications`` is a table of its own, one row per candidate who answered, so that no
query of the scoring, matching or ranking code can reach it by a join it already makes; only
``service.domain.bias_audits`` reads it, and only into aggregates. Erasure deletes the row.

``bias_audits`` rows are written once and never updated: the report as it was computed, with
the hash of the inputs it was computed from.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from service.infra.ids import uuid7
from service.infra.orm import Base, UTCDateTime, utcnow

SEXES = ("male", "female")
RACES_ETHNICITIES = (
    "hispanic-or-latino",
    "white",
    "black-or-african-american",
    "native-hawaiian-or-other-pacific-islander",
    "asian",
    "american-indian-or-alaska-native",
    "two-or-more-races",
)
# Stored as answered; "declined" and a missing answer both count as unknown in an audit.
DECLINED = "declined"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in (*values, DECLINED))})"


class SelfIdentification(Base):
    """A candidate's voluntary answers, never returned by any endpoint."""

    __tablename__ = "self_identifications"
    __table_args__ = (
        CheckConstraint(_in("sex", SEXES), name="sex_known"),
        CheckConstraint(_in("race_ethnicity", RACES_ETHNICITIES), name="race_ethnicity_known"),
    )

    candidate_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True
    )
    sex: Mapped[str | None] = mapped_column(String(16))
    race_ethnicity: Mapped[str | None] = mapped_column(String(48))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BiasAudit(Base):
    """One computed bias audit report; immutable."""

    __tablename__ = "bias_audits"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_key_id: Mapped[str | None] = mapped_column(String(36))
    method_version: Mapped[str] = mapped_column(String(32))
    role_key: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("jobs.id"))
    selection: Mapped[str] = mapped_column(String(32))
    population: Mapped[int]
    inputs_hash: Mapped[str] = mapped_column(String(64))
    justification: Mapped[str | None] = mapped_column(Text)
    # The whole report as served (minus id and created_at), so a read is the numbers as they
    # were computed, whatever the code computes today.
    report: Mapped[dict[str, Any]] = mapped_column(JSON)


# The list, newest first (ids are time-ordered).
Index("ix_bias_audits_created", BiasAudit.created_at, BiasAudit.id)
