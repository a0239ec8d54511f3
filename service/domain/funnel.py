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
  count. Its duration in fractional days; the median and p90 of the stage's stays.
- Percentiles interpolate linearly between the two nearest ranks (as PostgreSQL's
  ``percentile_cont``), are rounded to 2 decimals, and are null when there is no value.
- ``sources``: per ``source_channel`` present in the cohort, by channel: its applications and
  how many of them are currently hired.

Everything is counted in SQL: furthest positions by aggregation over the transitions, stays with
``LEAD`` over an application's transitions in ``seq`` order, and the ranks of percentiles with
``ROW_NUMBER()``/``COUNT() OVER``. No transition is loaded into Python; only aggregates come
back, and for each percentile at most the two rows around its rank per stage.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
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

from service.models import Application, Job, JobStage, Transition

# name, numerator, denominator: the percentile as an exact fraction, so that its rank is found
# with integer arithmetic in SQL (identical on every backend).
PERCENTILES: tuple[tuple[str, int, int], ...] = (("median", 1, 2), ("p90", 9, 10))
SECONDS_PER_DAY = 86400

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
    cohort = _cohort(job, applied_after, applied_before, source)
    dialect = session.get_bind().dialect.name

    # Counts by status, and by (stage, status) for current / rejected_here.
    by_status = {"active": 0, "hired": 0, "rejected": 0}
    by_stage: dict[tuple[uuid.UUID, str], int] = {}
    for stage_id, status, count in session.execute(
        select(Application.stage_id, Application.status, func.count())
        .where(*cohort)
        .group_by(Application.stage_id, Application.status)
    ):
        by_status[status] = by_status.get(status, 0) + int(count)
        by_stage[(stage_id, status)] = int(count)

    days_in_stage = _percentiles(session, _stays(job, cohort, dialect))
    time_to_hire = _percentiles(session, _hire_times(cohort, dialect))

    stages = []
    for stage_id, name, kind, position, reached, advanced in session.execute(
        _stage_counts(job, cohort)
    ):
        reached, advanced = int(reached or 0), int(advanced or 0)
        stages.append(
            {
                "stage": {"id": str(stage_id), "name": name, "kind": kind, "position": position},
                "reached": reached,
                "current": by_stage.get((stage_id, "active"), 0),
                "rejected_here": by_stage.get((stage_id, "rejected"), 0),
                "advanced": advanced,
                "conversion": round(advanced / reached, 3) if reached else None,
                "days_in_stage": days_in_stage.get(stage_id, _no_stats()),
            }
        )

    sources = [
        {"channel": channel, "applications": int(count), "hired": int(hired or 0)}
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

    return {
        "job_id": str(job.id),
        "applications": sum(by_status.values()),
        "active": by_status["active"],
        "hired": by_status["hired"],
        "rejected": by_status["rejected"],
        "time_to_hire_days": time_to_hire.get(0, _no_stats()),
        "stages": stages,
        "sources": sources,
    }


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


def _days_between(start: Any, end: Any, dialect: str) -> ColumnElement[Any]:
    """``end - start`` in fractional days, in SQL."""
    if dialect == "sqlite":
        # UTCDateTime stores naive UTC text on SQLite: julianday reads it as UTC.
        return cast(func.julianday(end) - func.julianday(start), Float)
    return cast(extract("epoch", end - start), Float) / float(SECONDS_PER_DAY)


def _stage_counts(job: Job, cohort: Sequence[ColumnElement[bool]]) -> Any:
    """Per current stage, in order: id, name, kind, position, reached, advanced."""
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
            stage.name,
            stage.kind,
            stage.position,
            func.count(furthest.c.application_id),
            func.coalesce(func.sum(case((advanced, 1), else_=0)), 0),
        )
        .select_from(stage)
        .outerjoin(furthest, furthest.c.furthest >= stage.position)
        .where(stage.job_id == job.id, stage.removed_at.is_(None))
        .group_by(stage.id, stage.name, stage.kind, stage.position)
        .order_by(stage.position, stage.id)
    )


def _stays(job: Job, cohort: Sequence[ColumnElement[bool]], dialect: str) -> Subquery:
    """(key: stage id, value: days) of every completed stay of the cohort in a current stage."""
    steps = (
        select(
            Transition.to_stage_id,
            Transition.to_status,
            Transition.occurred_at,
            func.lead(Transition.occurred_at)
            .over(partition_by=Transition.application_id, order_by=Transition.seq)
            .label("left_at"),
        )
        .join(Application, Application.id == Transition.application_id)
        .where(Transition.job_id == job.id, *cohort)
        .subquery("steps")
    )
    current = select(JobStage.id).where(JobStage.job_id == job.id, JobStage.removed_at.is_(None))
    return (
        select(
            steps.c.to_stage_id.label("key"),
            _days_between(steps.c.occurred_at, steps.c.left_at, dialect).label("value"),
        )
        .where(
            steps.c.to_status == "active",
            steps.c.left_at.is_not(None),
            steps.c.to_stage_id.in_(current.scalar_subquery()),
        )
        .subquery("stays")
    )


def _hire_times(cohort: Sequence[ColumnElement[bool]], dialect: str) -> Subquery:
    """(key: 0, value: days) from application to hire of the cohort's hired applications."""
    return (
        select(
            literal_column("0").label("key"),
            _days_between(Application.applied_at, Application.hired_at, dialect).label("value"),
        )
        .where(*cohort, Application.status == "hired", Application.hired_at.is_not(None))
        .subquery("hire_times")
    )


def _percentiles(session: Session, values: Subquery) -> dict[Any, Stats]:
    """The :data:`PERCENTILES` of ``values.value`` per ``values.key``; only the rows around
    each percentile's rank leave the database."""
    ranked = select(
        values.c.key,
        values.c.value,
        func.row_number().over(partition_by=values.c.key, order_by=values.c.value).label("rn"),
        func.count().over(partition_by=values.c.key).label("n"),
    ).subquery("ranked")
    around = []
    for _name, numerator, denominator in PERCENTILES:
        below = (ranked.c.n - 1) * numerator // denominator  # 0-based rank below the percentile
        around.append(or_(ranked.c.rn == below + 1, ranked.c.rn == below + 2))
    rows: dict[Any, tuple[int, dict[int, float]]] = {}
    for key, rn, n, value in session.execute(
        select(ranked.c.key, ranked.c.rn, ranked.c.n, ranked.c.value).where(or_(*around))
    ):
        rows.setdefault(key, (int(n), {}))[1][int(rn)] = float(value)
    result: dict[Any, Stats] = {}
    for key, (n, by_rank) in rows.items():
        stats: Stats = {}
        for name, numerator, denominator in PERCENTILES:
            lower, remainder = divmod((n - 1) * numerator, denominator)
            low = by_rank[lower + 1]
            high = by_rank.get(lower + 2, low)
            stats[name] = round(low + (high - low) * remainder / denominator, 2)
        result[key] = stats
    return result


def _no_stats() -> Stats:
    return {name: None for name, _, _ in PERCENTILES}
