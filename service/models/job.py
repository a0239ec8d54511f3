"""Jobs opened against a role profile, with their ordered stages."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.infra.ids import uuid7
from service.infra.orm import Base, UTCDateTime, trigram_index, utcnow

JOB_STATUSES = ("draft", "open", "closed", "archived")
STAGE_KINDS = ("applied", "screen", "assessment", "interview", "offer")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("openings BETWEEN 1 AND 1000", name="openings_range"),
        # The last line of "never more hires than openings", whatever the application code does.
        CheckConstraint("hired >= 0 AND hired <= openings", name="hired_within_openings"),
        CheckConstraint("status IN ('draft', 'open', 'closed', 'archived')", name="status_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    title: Mapped[str] = mapped_column(String(200))
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id"), index=True)
    department: Mapped[str | None] = mapped_column(String(200))
    location: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    openings: Mapped[int] = mapped_column(default=1)
    hired: Mapped[int] = mapped_column(default=0)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    row_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Every stage the job ever had; removed ones keep their rows (transitions name them).
    stages: Mapped[list[JobStage]] = relationship(
        back_populates="job", order_by="JobStage.position", cascade="all"
    )

    __mapper_args__ = {"version_id_col": row_version}


# ``q`` searches lower(title), lower(department) and lower(location) (service.domain.jobs).
trigram_index("ix_jobs_title_trgm", Job.title)
trigram_index("ix_jobs_department_trgm", Job.department)
trigram_index("ix_jobs_location_trgm", Job.location)


class JobStage(Base):
    """A step of a job's pipeline. A removed stage stays (``removed_at``) for the history."""

    __tablename__ = "job_stages"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('applied', 'screen', 'assessment', 'interview', 'offer')", name="kind_known"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("jobs.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    position: Mapped[int]
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    job: Mapped[Job] = relationship(back_populates="stages")


class RejectionReason(Base):
    """Why an application was rejected: ours, the candidate's, or other."""

    __tablename__ = "rejection_reasons"
    __table_args__ = (
        CheckConstraint(
            "type IN ('we_rejected', 'candidate_withdrew', 'other')", name="type_known"
        ),
    )

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)
    row_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __mapper_args__ = {"version_id_col": row_version}
