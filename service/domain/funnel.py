"""A job's hiring funnel, computed in SQL from its applications and their transitions.

Definitions (pipeline.md, "Funnel"):

- The cohort: the job's applications, erased ones included (their aggregates stay true after an
  erasure), narrowed by ``applied_at >= applied_after``, ``applied_at < applied_before`` and
  ``source_channel == source`` when given.
- ``applications``, ``active``, ``hired``, ``rejected``: the cohort counted by current status.
- ``time_to_hire_days``: over the currently hired applications, ``hired_at - applied_at`` in
  days; its median and p90.
- ``stages``: the job's current stages (``removed_at IS NULL``) in position order. An
  application's furthest position is the highest position (each stage's position as it is now)
  of the ``to_stage`` of all its transitions, whatever their kind. ``reached``: applications
  whose furthest position is at or after the stage's (skipping a stage counts as passing
  through it). ``advanced``: of those, how many have a furthest position after the stage's, or
  were ever hired at this stage or a later one (a ``hired`` transition whose ``to_stage`` is
  positioned at or after it). ``current``: active applications in the stage; ``rejected_here``:
  rejected applications in the stage (a rejected application keeps its stage). ``conversion``:
  ``advanced / reached`` to 3 decimals, null when nothing reached the stage.
- ``days_in_stage``: a stay in a stage starts with a transition into it whose ``to_status`` is
  ``active`` (a creation, a move, an unreject, an unhire) and ends with the application's next
  transition by ``seq``, whatever its kind; only completed stays (there is a next transition)
  count. Its duration is measured in whole seconds (the difference of the two times in whole
  seconds from the epoch: integers, exact on every backend) and shown in days; the median and
  p90 of the stage's stays.
- Percentiles interpolate linearly between the two nearest ranks (as PostgreSQL's
  ``percentile_cont``), are rounded to 2 decimals, and are null when there is no value.
- ``sources``: per ``source_channel`` present in the cohort, by channel: its applications and
  how many of them are currently hired.

Two computations give the same numbers:

- the whole job (no cohort filter, what dashboards pull) is read from the counts every change
  keeps (:mod:`service.domain.funnel_counts`): a few small index range scans whatever the size
  of the job; the percentiles of stays from a histogram of whole seconds, located by day;
- a cohort is computed from its applications and transitions in SQL: furthest positions by
  aggregation over the transitions, stays with ``LEAD`` over an application's transitions in
  ``seq`` order, the ranks of percentiles with ``ROW_NUMBER()``/``COUNT() OVER``. No transition
  is loaded into Python; only aggregates, and for each percentile the two rows around its rank.

The tests hold the first to the second on random histories (tests/domain/test_funnel_counts.py).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Subquery,
    case,
    cast,
    extract,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session, aliased

from service.domain import funnel_counts
from service.domain.funnel_counts import SECONDS_PER_DAY, stay_seconds
from service.domain.jobs import current_stages
from service.infra.stamped_cache import StampedCache
from service.models import (
    Application,
    Job,
    JobProgressCount,
    JobStage,
    JobStageCount,
    JobStayCount,
    Transition,
)

# name, numerator, denominator: the percentile as an exact fraction, so that its rank is found
# with integer arithmetic (in SQL, identical on every backend, and in Python).
PERCENTILES: tuple[tuple[str, int, int], ...] = (("median", 1, 2), ("p90", 9, 10))

Stats = dict[str, float | None]


def job_funnel(
    session: Session,
    job: Job,
    *,
    applied_after: datetime | None = None,
    applied_before: datetime | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The funnel of ``job`` over the cohort the filters select (see the module docstring)."""
    if applied_after is None and applied_before is None and source is None:
        return counted_funnel(session, job)
    return scanned_funnel(
        session, job, applied_after=applied_after, applied_before=applied_before, source=source
    )


# --------------------------------------------------------------------------- from the counts


@dataclass(frozen=True)
class _Counted:
    """What the funnel of a whole job reads from its counts, before the stages are laid out."""

    by_stage: dict[tuple[uuid.UUID, str], int]
    progress: list[tuple[int, bool, int]]  # (furthest position, hired there, applications)
    days_in_stage: dict[uuid.UUID, Stats]
    time_to_hire: dict[Any, Stats]
    sources: list[tuple[str, int, int]]

    def reached_advanced(self, position: int) -> tuple[int, int]:
        reached = sum(n for furthest, _, n in self.progress if furthest >= position)
        advanced = sum(
            n
            for furthest, hired, n in self.progress
            if furthest > position or (furthest == position and hired)
        )
        return reached, advanced


# Whole-job funnels by (job, its current stages), each valid for one count stamp. Dashboards
# poll the same funnels over and over; between two changes of a job only the stamp is read.
_COUNTED: StampedCache[_Counted] = StampedCache(size=512)


def counted_funnel(session: Session, job: Job) -> dict[str, Any]:
    """The funnel of the whole job, from the counts its changes keep (read again only after
    they changed: the job's count stamp is checked on every read)."""
    stages = current_stages(job)
    stamp = funnel_counts.count_stamp(session, job.id)
    key = (job.id, tuple(s.id for s in stages))
    counted = _COUNTED.get(key, stamp)
    if counted is None:
        # Read after the stamp: what is read is at least as new as the stamp it is kept under.
        counted = _read_counts(session, job, stages)
        _COUNTED.put(key, stamp, counted)
    return _assemble(
        job,
        stages,
        counted.by_stage,
        counted.reached_advanced,
        counted.days_in_stage,
        counted.time_to_hire,
        counted.sources,
    )


def _read_counts(session: Session, job: Job, stages: Sequence[JobStage]) -> _Counted:
    by_stage: dict[tuple[uuid.UUID, str], int] = defaultdict(int)
    by_channel: dict[str, list[int]] = {}
    for stage_id, status, channel, n in session.execute(
        select(
            JobStageCount.stage_id, JobStageCount.status, JobStageCount.channel, JobStageCount.n
        ).where(JobStageCount.job_id == job.id, JobStageCount.n != 0)
    ):
        by_stage[(stage_id, status)] += n
        counts = by_channel.setdefault(channel, [0, 0])
        counts[0] += n
        counts[1] += n if status == "hired" else 0

    progress = [
        (int(furthest), bool(hired), int(n))
        for furthest, hired, n in session.execute(
            select(
                JobProgressCount.furthest_position,
                JobProgressCount.hired_there,
                JobProgressCount.n,
            ).where(JobProgressCount.job_id == job.id, JobProgressCount.n != 0)
        )
    ]
    return _Counted(
        dict(by_stage),
        progress,
        _counted_stays(session, job, [s.id for s in stages]),
        _percentiles(session, _hire_times([Application.job_id == job.id], _dialect(session))),
        [(channel, total, hired) for channel, (total, hired) in sorted(by_channel.items())],
    )


def _counted_stays(
    session: Session, job: Job, stage_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Stats]:
    """The percentiles of the stays in each stage, from the stay histogram: the day buckets
    say which day holds each rank, then the exact seconds of only those days are read."""
    days: dict[uuid.UUID, list[tuple[int, int]]] = defaultdict(list)
    for stage_id, bucket, n in session.execute(
        select(JobStayCount.stage_id, JobStayCount.bucket, JobStayCount.n)
        .where(
            JobStayCount.job_id == job.id,
            JobStayCount.width == SECONDS_PER_DAY,
            JobStayCount.stage_id.in_(stage_ids),
            JobStayCount.n != 0,
        )
        .order_by(JobStayCount.stage_id, JobStayCount.bucket)
    ):
        days[stage_id].append((bucket, n))
    # For each stage: its number of stays, and the 0-based ranks the percentiles need.
    wanted: dict[uuid.UUID, tuple[int, set[int]]] = {}
    needed_days: set[tuple[uuid.UUID, int]] = set()
    for stage_id, buckets in days.items():
        total = sum(n for _, n in buckets)
        ranks = {r for _, num, den in PERCENTILES for r in _ranks(total, num, den)}
        wanted[stage_id] = (total, ranks)
        for rank in ranks:
            needed_days.add((stage_id, _bucket_of(buckets, rank)[0]))
    if not needed_days:
        return {}
    seconds: dict[uuid.UUID, list[tuple[int, int]]] = defaultdict(list)
    for stage_id, value, n in session.execute(
        select(JobStayCount.stage_id, JobStayCount.bucket, JobStayCount.n)
        .where(
            JobStayCount.job_id == job.id,
            JobStayCount.width == 1,
            JobStayCount.n != 0,
            or_(
                *(
                    (JobStayCount.stage_id == stage_id)
                    & (JobStayCount.bucket >= day * SECONDS_PER_DAY)
                    & (JobStayCount.bucket < (day + 1) * SECONDS_PER_DAY)
                    for stage_id, day in sorted(needed_days)
                )
            ),
        )
        .order_by(JobStayCount.stage_id, JobStayCount.bucket)
    ):
        seconds[stage_id].append((value, n))
    result: dict[uuid.UUID, Stats] = {}
    for stage_id, (total, ranks) in wanted.items():
        at_rank: dict[int, float] = {}
        for rank in ranks:
            day, before = _bucket_of(days[stage_id], rank)
            in_day = [(v, n) for v, n in seconds[stage_id] if v // SECONDS_PER_DAY == day]
            at_rank[rank] = float(_bucket_of(in_day, rank - before)[0])
        result[stage_id] = _interpolated(total, at_rank, SECONDS_PER_DAY)
    return result


def _bucket_of(buckets: Sequence[tuple[int, int]], rank: int) -> tuple[int, int]:
    """The bucket (value, count) pairs in order holding the 0-based ``rank``: its value, and
    how many values come before it."""
    before = 0
    for value, n in buckets:
        if rank < before + n:
            return value, before
        before += n
    raise ValueError(f"rank {rank} is beyond {before} values")


# --------------------------------------------------------------------------- scanned, for cohorts


def scanned_funnel(
    session: Session,
    job: Job,
    *,
    applied_after: datetime | None = None,
    applied_before: datetime | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The funnel of a cohort of the job's applications, computed from them and their
    transitions in SQL."""
    cohort = _cohort(job, applied_after, applied_before, source)
    dialect = _dialect(session)

    by_stage: dict[tuple[uuid.UUID, str], int] = {}
    for stage_id, status, count in session.execute(
        select(Application.stage_id, Application.status, func.count())
        .where(*cohort)
        .group_by(Application.stage_id, Application.status)
    ):
        by_stage[(stage_id, status)] = int(count)

    progress = {
        stage_id: (int(reached or 0), int(advanced or 0))
        for stage_id, reached, advanced in session.execute(_stage_counts(job, cohort))
    }
    stages = current_stages(job)
    by_position = {s.position: progress.get(s.id, (0, 0)) for s in stages}

    stays = stay_seconds(session, job.id, *cohort)
    sources = [
        (channel, int(count), int(hired or 0))
        for channel, count, hired in session.execute(
            select(
                Application.source_channel,
                func.count(),
                func.sum(case((Application.status == "hired", 1), else_=0)),
            )
            .where(*cohort)
            .group_by(Application.source_channel)
            .order_by(Application.source_channel)
        )
    ]
    return _assemble(
        job,
        stages,
        by_stage,
        lambda position: by_position[position],
        _percentiles(
            session,
            select(stays.c.stage_id.label("key"), stays.c.seconds.label("value")).subquery(),
            scale=SECONDS_PER_DAY,
        ),
        _percentiles(session, _hire_times(cohort, dialect)),
        sources,
    )


def _cohort(
    job: Job,
    applied_after: datetime | None,
    applied_before: datetime | None,
    source: str | None,
) -> list[ColumnElement[bool]]:
    """The conditions on ``applications`` that select the cohort (erased ones included)."""
    conditions: list[ColumnElement[bool]] = [Application.job_id == job.id]
    if applied_after is not None:
        conditions.append(Application.applied_at >= applied_after)
    if applied_before is not None:
        conditions.append(Application.applied_at < applied_before)
    if source is not None:
        conditions.append(Application.source_channel == source)
    return conditions


def _stage_counts(job: Job, cohort: Sequence[ColumnElement[bool]]) -> Any:
    """Per current stage: id, reached, advanced."""
    reached_stage = aliased(JobStage)
    is_hired = Transition.kind == "hired"
    furthest = (
        select(
            Transition.application_id,
            func.max(reached_stage.position).label("furthest"),
            func.max(case((is_hired, reached_stage.position), else_=None)).label("hired_position"),
        )
        .join(reached_stage, reached_stage.id == Transition.to_stage_id)
        .join(Application, Application.id == Transition.application_id)
        .where(Transition.job_id == job.id, *cohort)
        .group_by(Transition.application_id)
        .subquery("furthest")
    )
    stage = aliased(JobStage)
    advanced = or_(
        furthest.c.furthest > stage.position, furthest.c.hired_position >= stage.position
    )
    return (
        select(
            stage.id,
            func.count(furthest.c.application_id),
            func.coalesce(func.sum(case((advanced, 1), else_=0)), 0),
        )
        .select_from(stage)
        .outerjoin(furthest, furthest.c.furthest >= stage.position)
        .where(stage.job_id == job.id, stage.removed_at.is_(None))
        .group_by(stage.id)
    )


# --------------------------------------------------------------------------- shared


def _assemble(
    job: Job,
    stages: Sequence[JobStage],
    by_stage: dict[tuple[uuid.UUID, str], int],
    reached_advanced: Callable[[int], tuple[int, int]],
    days_in_stage: dict[Any, Stats],
    time_to_hire: dict[Any, Stats],
    sources: Sequence[tuple[str, int, int]],
) -> dict[str, Any]:
    """The funnel body, from what either computation counted."""
    by_status = {"active": 0, "hired": 0, "rejected": 0}
    for (_stage, status), n in by_stage.items():
        by_status[status] += n
    rows = []
    for stage in stages:
        reached, advanced = reached_advanced(stage.position)
        rows.append(
            {
                "stage": {
                    "id": str(stage.id),
                    "name": stage.name,
                    "kind": stage.kind,
                    "position": stage.position,
                },
                "reached": reached,
                "current": by_stage.get((stage.id, "active"), 0),
                "rejected_here": by_stage.get((stage.id, "rejected"), 0),
                "advanced": advanced,
                "conversion": round(advanced / reached, 3) if reached else None,
                "days_in_stage": days_in_stage.get(stage.id, _no_stats()),
            }
        )
    return {
        "job_id": str(job.id),
        "applications": sum(by_status.values()),
        "active": by_status["active"],
        "hired": by_status["hired"],
        "rejected": by_status["rejected"],
        "time_to_hire_days": time_to_hire.get(0, _no_stats()),
        "stages": rows,
        "sources": [
            {"channel": channel, "applications": total, "hired": hired}
            for channel, total, hired in sources
            if total
        ],
    }


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _days_between(start: Any, end: Any, dialect: str) -> ColumnElement[Any]:
    """``end - start`` in fractional days, in SQL."""
    if dialect == "sqlite":
        # UTCDateTime stores naive UTC text on SQLite: julianday reads it as UTC.
        return cast(func.julianday(end) - func.julianday(start), Float)
    return cast(extract("epoch", end - start), Float) / float(SECONDS_PER_DAY)


def _hire_times(cohort: Sequence[ColumnElement[bool]], dialect: str) -> Subquery:
    """(key: 0, value: days) from application to hire of the cohort's hired applications (at
    most the job's openings: read through the job's index by status)."""
    return (
        select(
            literal_column("0").label("key"),
            _days_between(Application.applied_at, Application.hired_at, dialect).label("value"),
        )
        .where(*cohort, Application.status == "hired", Application.hired_at.is_not(None))
        .subquery("hire_times")
    )


def _ranks(count: int, numerator: int, denominator: int) -> tuple[int, ...]:
    """The 0-based ranks whose values the percentile interpolates between."""
    lower = (count - 1) * numerator // denominator
    return (lower, lower + 1) if lower + 1 < count else (lower,)


def _interpolated(count: int, at_rank: dict[int, float], scale: int) -> Stats:
    """The :data:`PERCENTILES` of ``count`` values, from the values at their ranks, divided by
    ``scale`` and rounded to 2 decimals."""
    stats: Stats = {}
    for name, numerator, denominator in PERCENTILES:
        lower, remainder = divmod((count - 1) * numerator, denominator)
        low = at_rank[lower]
        high = at_rank.get(lower + 1, low)
        stats[name] = round((low + (high - low) * remainder / denominator) / scale, 2)
    return stats


def _percentiles(session: Session, values: Subquery, scale: int = 1) -> dict[Any, Stats]:
    """The :data:`PERCENTILES` of ``values.value`` per ``values.key``; only the rows around
    each percentile's rank leave the database."""
    ranked = select(
        values.c.key,
        values.c.value,
        (func.row_number().over(partition_by=values.c.key, order_by=values.c.value) - 1).label(
            "rank"
        ),
        func.count().over(partition_by=values.c.key).label("n"),
    ).subquery("ranked")
    around = []
    for _name, numerator, denominator in PERCENTILES:
        below = (ranked.c.n - 1) * numerator // denominator
        around.append(or_(ranked.c.rank == below, ranked.c.rank == below + 1))
    rows: dict[Any, tuple[int, dict[int, float]]] = {}
    for key, rank, n, value in session.execute(
        select(ranked.c.key, ranked.c.rank, ranked.c.n, ranked.c.value).where(or_(*around))
    ):
        rows.setdefault(key, (int(n), {}))[1][int(rank)] = float(value)
    return {key: _interpolated(n, at_rank, scale) for key, (n, at_rank) in rows.items()}


def _no_stats() -> Stats:
    return {name: None for name, _, _ in PERCENTILES}
