"""The funnel's counts (:mod:`service.models.funnel`), kept by every change of an application.

A job's funnel used to be computed from all its transitions on every read: 130 ms of SQL for a
job of 10,000 applications and 40,000 transitions, 1.45 s at p99 under 16 dashboards
(bench.pipeline). Now each change adds its deltas to a few counters in the same transaction and
the funnel reads the counters (:func:`service.domain.funnel.job_funnel`). The definitions are
those of :mod:`service.domain.funnel`; its scanning computation, still used for cohorts, is the
reference the tests hold these counts to.

Every change of a job's counts also gives the job a new stamp (``job_count_stamps``), which
is what a cached funnel is checked against (:mod:`service.domain.funnel`).

Who calls what, so that no change escapes the counts:

- :func:`count_new_applications`: every creation (one application or a batch);
- :func:`count_transition` and :func:`add_deltas`: every action on an application, the deltas
  computed before its version check and written as its last write;
- :func:`recount_progress`: after the job's stages change (positions decide ``reached``);
- :func:`recount`: everything of a job again from its transitions (data written in bulk).

Concurrency (PostgreSQL): the counters are updated by one upsert per table with the keys in
sorted order, after the action's lock on the job (see ``applications``), so concurrent actions
queue on the rows they share instead of deadlocking; a stage edit holds the job exclusively.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from service.infra.counters import add_to_counts, set_values
from service.infra.orm import epoch_seconds, whole_seconds
from service.models import (
    Application,
    JobCountStamp,
    JobProgressCount,
    JobStage,
    JobStageCount,
    JobStayCount,
    Transition,
)

SECONDS_PER_DAY = 86400
# The two bucket widths of the stay histogram: exact seconds, and days to locate a rank.
STAY_WIDTHS = (1, SECONDS_PER_DAY)

_STAGE_KEYS = ("job_id", "stage_id", "status", "channel")
_PROGRESS_KEYS = ("job_id", "furthest_position", "hired_there")
_STAY_KEYS = ("job_id", "stage_id", "width", "bucket")


@dataclass(frozen=True)
class LastStep:
    """What the counts need of an application's latest transition: where it left the
    application, and when."""

    seq: int
    stage_id: uuid.UUID
    status: str
    occurred_at: datetime


def last_step(session: Session, application_id: uuid.UUID) -> LastStep:
    """The application's latest transition (every application has its ``created`` one)."""
    row = session.execute(
        select(Transition.seq, Transition.to_stage_id, Transition.to_status, Transition.occurred_at)
        .where(Transition.application_id == application_id)
        .order_by(Transition.seq.desc())
        .limit(1)
    ).one()
    return LastStep(*row)


def count_new_applications(
    session: Session, applications: Iterable[tuple[uuid.UUID, uuid.UUID, str, int]]
) -> None:
    """Count new active applications, given as (job, stage, source channel, the stage's
    position): in their stage, and as having got as far as it."""
    stages: Counter[tuple[Any, ...]] = Counter()
    progress: Counter[tuple[Any, ...]] = Counter()
    applications = list(applications)
    _restamp(session, {job_id for job_id, *_ in applications})
    for job_id, stage_id, channel, position in applications:
        stages[(job_id, stage_id, "active", channel)] += 1
        progress[(job_id, position, False)] += 1
    add_to_counts(session, _table(JobStageCount), _STAGE_KEYS, stages)
    add_to_counts(session, _table(JobProgressCount), _PROGRESS_KEYS, progress)


@dataclass(frozen=True)
class Deltas:
    """What one action changes in its job's counts, to be added by :func:`add_deltas`."""

    job_id: uuid.UUID
    stages: Counter[tuple[Any, ...]]
    progress: Counter[tuple[Any, ...]]
    stays: Counter[tuple[Any, ...]]


def count_transition(
    application: Application,
    *,
    left: tuple[uuid.UUID, str],
    previous: LastStep,
    at: datetime,
    position: int,
    hired: bool,
) -> Deltas:
    """The counts of one action on ``application``, already changed in memory (stage and
    status), that took it out of ``left`` (stage, status) at ``at`` into a stage now at
    ``position``; ``hired`` when the action is a hire. Updates the application's furthest and
    hired positions, to be written with it; the deltas are written by :func:`add_deltas`."""
    a = application
    stages: Counter[tuple[Any, ...]] = Counter()
    stages[(a.job_id, left[0], left[1], a.source_channel)] -= 1
    stages[(a.job_id, a.stage_id, a.status, a.source_channel)] += 1

    progress: Counter[tuple[Any, ...]] = Counter()
    progress[(a.job_id, a.furthest_position, a.hired_position == a.furthest_position)] -= 1
    a.furthest_position = max(a.furthest_position, position)
    if hired:
        a.hired_position = max(a.hired_position or 0, position)
    progress[(a.job_id, a.furthest_position, a.hired_position == a.furthest_position)] += 1

    stays: Counter[tuple[Any, ...]] = Counter()
    if previous.status == "active":  # a stay in the stage the previous transition entered ends
        seconds = whole_seconds(at) - whole_seconds(previous.occurred_at)
        for width in STAY_WIDTHS:
            stays[(a.job_id, previous.stage_id, width, seconds // width)] += 1
    return Deltas(a.job_id, stages, progress, stays)


def add_deltas(session: Session, deltas: Deltas) -> None:
    """Write an action's deltas: the job's new stamp, then its counters, in key order.

    Call it as the action's last write. Concurrent actions on one job queue on these rows
    (the stamp at least) until the first commits, so the later they are taken the less the
    actions wait: taken before the action's own writes, they held 16 concurrent moves to 90
    a second (bench.pipeline's move, all on one job)."""
    _restamp(session, {deltas.job_id})
    add_to_counts(session, _table(JobStageCount), _STAGE_KEYS, deltas.stages)
    add_to_counts(session, _table(JobProgressCount), _PROGRESS_KEYS, deltas.progress)
    add_to_counts(session, _table(JobStayCount), _STAY_KEYS, deltas.stays)


def recount_progress(session: Session, job_id: uuid.UUID) -> None:
    """Recount how far the job's applications got, by the stages' current positions (after
    stages were reordered, added or removed)."""
    _restamp(session, {job_id})
    _recount_positions(session, job_id)
    session.execute(sa.delete(JobProgressCount).where(JobProgressCount.job_id == job_id))
    hired_there = case(
        (Application.hired_position == Application.furthest_position, True), else_=False
    )
    session.execute(
        sa.insert(JobProgressCount).from_select(
            [*_PROGRESS_KEYS, "n"],
            select(Application.job_id, Application.furthest_position, hired_there, func.count())
            .where(Application.job_id == job_id)
            .group_by(Application.job_id, Application.furthest_position, hired_there),
        )
    )


def recount(session: Session, job_id: uuid.UUID) -> None:
    """Every count of the job again, from its applications and transitions, in SQL (for data
    written in bulk: the demo's history, a benchmark's, a migration's backfill)."""
    _restamp(session, {job_id})
    session.execute(sa.delete(JobStageCount).where(JobStageCount.job_id == job_id))
    session.execute(sa.delete(JobStayCount).where(JobStayCount.job_id == job_id))
    session.execute(
        sa.insert(JobStageCount).from_select(
            [*_STAGE_KEYS, "n"],
            select(
                Application.job_id,
                Application.stage_id,
                Application.status,
                Application.source_channel,
                func.count(),
            )
            .where(Application.job_id == job_id)
            .group_by(
                Application.job_id,
                Application.stage_id,
                Application.status,
                Application.source_channel,
            ),
        )
    )
    recount_progress(session, job_id)
    durations = stay_seconds(session, job_id)
    for width in STAY_WIDTHS:
        bucket = _floor_div(durations.c.seconds, width)
        session.execute(
            sa.insert(JobStayCount).from_select(
                [*_STAY_KEYS, "n"],
                select(
                    sa.literal(job_id, sa.Uuid),
                    durations.c.stage_id,
                    sa.literal(width),
                    bucket,
                    func.count(),
                ).group_by(durations.c.stage_id, bucket),
            )
        )


def stay_seconds(session: Session, job_id: uuid.UUID, *cohort: Any) -> sa.Subquery:
    """(stage_id, seconds) of every completed stay of the job's applications (narrowed by the
    ``cohort`` conditions on applications): a stay starts with a transition whose ``to_status``
    is ``active`` and ends with the application's next transition by ``seq``; its length is the
    difference of the two times in whole seconds from the epoch."""
    dialect = session.get_bind().dialect.name
    entered = epoch_seconds(Transition.occurred_at, dialect)
    steps = select(
        Transition.to_stage_id,
        Transition.to_status,
        entered.label("entered"),
        func.lead(entered)
        .over(partition_by=Transition.application_id, order_by=Transition.seq)
        .label("left"),
    ).where(Transition.job_id == job_id)
    if cohort:
        steps = steps.join(Application, Application.id == Transition.application_id).where(*cohort)
    s = steps.subquery("steps")
    return (
        select(s.c.to_stage_id.label("stage_id"), (s.c.left - s.c.entered).label("seconds"))
        .where(s.c.to_status == "active", s.c.left.is_not(None))
        .subquery("stays")
    )


def _recount_positions(session: Session, job_id: uuid.UUID) -> None:
    """Each application's furthest and hired positions, from its transitions."""

    def highest(*conditions: Any) -> Any:
        return (
            select(func.max(JobStage.position))
            .join(Transition, Transition.to_stage_id == JobStage.id)
            .where(Transition.application_id == Application.id, *conditions)
            .scalar_subquery()
        )

    session.execute(
        sa.update(Application)
        .where(Application.job_id == job_id)
        .values(
            furthest_position=func.coalesce(highest(), 0),
            hired_position=highest(Transition.kind == "hired"),
        )
        .execution_options(synchronize_session=False)
    )
    for application in session.identity_map.values():
        if isinstance(application, Application) and application.job_id == job_id:
            session.expire(application, ["furthest_position", "hired_position"])


def count_stamp(session: Session, job_id: uuid.UUID) -> uuid.UUID | None:
    """The job's current count stamp (None before its first application)."""
    return session.scalar(select(JobCountStamp.stamp).where(JobCountStamp.job_id == job_id))


def _restamp(session: Session, job_ids: set[uuid.UUID]) -> None:
    """Give each job a new count stamp, in job order (the first rows of the job's counts that
    a change locks, always in the same order: concurrent changes queue, never deadlock)."""
    rows = [{"job_id": job_id, "stamp": uuid.uuid4()} for job_id in job_ids]
    set_values(session, _table(JobCountStamp), ("job_id",), rows)


def _floor_div(value: Any, divisor: int) -> Any:
    """``value // divisor`` rounded down as Python does, with integer division in SQL (which
    rounds towards zero on both backends)."""
    return case(
        (value >= 0, value // divisor),
        else_=-((-value + divisor - 1) // divisor),
    )


def _table(model: type[Any]) -> sa.Table:
    return cast(sa.Table, model.__table__)
