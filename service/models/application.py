"""Applications of candidates to jobs, and their append-only history of transitions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.infra.ids import uuid7
from service.infra.orm import Base, UTCDateTime, utcnow

APPLICATION_STATUSES = ("active", "rejected", "hired")
SOURCE_CHANNELS = ("applied", "sourced", "referral", "agency", "internal", "other")
TRANSITION_KINDS = ("created", "moved", "rejected", "unrejected", "hired", "unhired")


class Application(Base):
    """A candidate's application to a job. ``candidate_id`` is null once the candidate is
    erased (``erased``): the application stays, without anything of the person, for funnels."""

    __tablename__ = "applications"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'rejected', 'hired')", name="status_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    candidate_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("candidates.id", ondelete="SET NULL"), index=True
    )
    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("jobs.id"))
    status: Mapped[str] = mapped_column(String(16), default="active")
    stage_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("job_stages.id"))
    source_channel: Mapped[str] = mapped_column(String(16), default="applied")
    source_detail: Mapped[str | None] = mapped_column(String(200))
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rejection_reason: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("rejection_reasons.key")
    )
    rejection_note: Mapped[str | None] = mapped_column(Text)
    erased: Mapped[bool] = mapped_column(default=False)
    # For the funnel's counts (service.domain.funnel_counts): the highest current position of a
    # stage the application was ever in, and of one it was hired in; recounted from the
    # transitions when the job's stages change.
    furthest_position: Mapped[int] = mapped_column(default=0)
    hired_position: Mapped[int | None]
    row_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A copy of the rank key of the candidate's stored match for the job's role, kept by every
    # rescoring (service.domain.matching.rank_applications), so that the job's ranked view walks
    # the job's own applications in order instead of the role's whole ranking; None once erased.
    # Not part of the application's version: a rescoring does not change the application.
    rank_key: Mapped[int | None]

    __mapper_args__ = {"version_id_col": row_version}


# A candidate has at most one active application per job (pipeline.md).
Index(
    "uq_applications_one_active",
    Application.candidate_id,
    Application.job_id,
    unique=True,
    postgresql_where=text("status = 'active'"),
    sqlite_where=text("status = 'active'"),
)
# The job's applications (its ranked view and its funnel), and the list by update time.
Index("ix_applications_job", Application.job_id, Application.status, Application.stage_id)
# The job's ranked view: best match first, then application id (the page's keyset).
Index("ix_applications_job_rank", Application.job_id, Application.rank_key.desc(), Application.id)
Index("ix_applications_updated", Application.updated_at, Application.id)


class Transition(Base):
    """One step of an application's history. Written once, never updated or deleted (erasure
    clears its ``note``, the one free text that may speak of the person)."""

    __tablename__ = "transitions"
    __table_args__ = (
        UniqueConstraint("application_id", "seq"),
        CheckConstraint(
            "kind IN ('created', 'moved', 'rejected', 'unrejected', 'hired', 'unhired')",
            name="kind_known",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    application_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("applications.id"))
    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("jobs.id"))
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    from_stage_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("job_stages.id"))
    to_stage_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("job_stages.id"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64), ForeignKey("rejection_reasons.key"))
    note: Mapped[str | None] = mapped_column(Text)
    actor_key_id: Mapped[str | None] = mapped_column(String(64))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    # The candidate's stored match for the job's role at that moment: what the recruiter saw.
    score_hundredths: Mapped[int | None]
    band: Mapped[str | None] = mapped_column(String(16))
    must_haves_met: Mapped[bool | None]
    role_version: Mapped[int | None]
    model_version: Mapped[str | None] = mapped_column(String(32))
    inputs_hash: Mapped[str | None] = mapped_column(String(64))
    # When it happened (a backdated application's `created` is its applied_at) ...
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # ... and when it was written: the feed's order, so that a reader's cursor never passes a
    # row that is written later with an earlier occurred_at.
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


Index("ix_transitions_feed", Transition.recorded_at, Transition.id)
Index("ix_transitions_job", Transition.job_id, Transition.occurred_at)
