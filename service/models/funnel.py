"""The counts a job's funnel is read from, kept up to date by every transition.

Each table is a set of counters (``n``) keyed by what the funnel groups by, so that reading a
funnel costs a few small index range scans whatever the number of applications and transitions
(``service.domain.funnel_counts`` keeps them, ``service.domain.funnel`` reads them):

- ``job_stage_counts``: the job's applications by their current stage, status and source
  channel (``current``, ``rejected_here``, the totals by status and the sources);
- ``job_progress_counts``: applications by their furthest stage position and whether they were
  hired there (``reached``, ``advanced``);
- ``job_stay_counts``: completed stays in a stage by duration in whole seconds, at two bucket
  widths: 1 second (exact values) and 1 day (to find a percentile's rank without reading every
  value).
- ``job_count_stamps``: a fresh random stamp per job, replaced in the same transaction as any
  of the job's counts change: what a cached funnel is checked against (a stamp is never reused,
  even by a change that was rolled back, as a counter's next value would be).
"""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from service.infra.orm import Base


class JobStageCount(Base):
    """How many of the job's applications are now in ``stage_id`` with ``status``, by channel."""

    __tablename__ = "job_stage_counts"

    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("jobs.id"), primary_key=True)
    stage_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("job_stages.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class JobProgressCount(Base):
    """How many of the job's applications got as far as ``furthest_position`` (the highest
    current position of a stage they were ever in), and whether they were hired there."""

    __tablename__ = "job_progress_counts"

    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("jobs.id"), primary_key=True)
    furthest_position: Mapped[int] = mapped_column(Integer, primary_key=True)
    hired_there: Mapped[bool] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class JobStayCount(Base):
    """How many completed stays in ``stage_id`` lasted ``bucket * width`` to
    ``(bucket + 1) * width`` seconds (``width`` 1: exactly ``bucket`` seconds)."""

    __tablename__ = "job_stay_counts"

    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("jobs.id"), primary_key=True)
    stage_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("job_stages.id"), primary_key=True)
    width: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class JobCountStamp(Base):
    """The job's counts as of ``stamp``: a new random value whenever any of them changes."""

    __tablename__ = "job_count_stamps"

    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("jobs.id"), primary_key=True)
    stamp: Mapped[uuid.UUID] = mapped_column(Uuid)
