"""Jobs, their stages, and rejection reasons: the frame of the hiring pipeline.

A job is opened against a role profile (its applications are scored against that role), moves
draft -> open -> closed -> archived (and closed -> open again), and has an ordered list of
stages. Replacing the stages keeps the rows of removed ones (``removed_at``): transitions name
them for ever. A stage that still holds active applications cannot be removed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from service.domain import events, funnel_counts
from service.domain.competencies import KEY_PATTERN, contains_pattern
from service.domain.errors import Conflict, Invalid, NotFound
from service.domain.roles import get_role
from service.infra.orm import utcnow
from service.models import Application, Job, JobStage, RejectionReason, Role

DEFAULT_STAGES: tuple[tuple[str, str], ...] = (
    ("Applied", "applied"),
    ("Screen", "screen"),
    ("Assessment", "assessment"),
    ("Interview", "interview"),
    ("Offer", "offer"),
)
MAX_STAGES = 20
# Which status a job may move to from each status.
STATUS_MOVES: dict[str, frozenset[str]] = {
    "draft": frozenset({"open"}),
    "open": frozenset({"closed"}),
    "closed": frozenset({"archived", "open"}),
    "archived": frozenset(),
}
JOB_FIELDS = ("title", "department", "location", "openings")


def current_stages(job: Job) -> list[JobStage]:
    """The job's stages as it has them now, in order."""
    return sorted((s for s in job.stages if s.removed_at is None), key=lambda s: s.position)


def get_job(session: Session, job_id: uuid.UUID) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job


def lock_job(session: Session, job_id: uuid.UUID, *, exclusive: bool = False) -> Job:
    """The job, locked until the transaction ends, with its stages as they are once locked.

    Every change of an application takes its job's lock shared, and a change of the job's
    stages takes it exclusively: so a stage cannot be removed under an application entering
    it, and the funnel's counts of how far applications got (by stage position) are recounted
    with no action in between. PostgreSQL only; SQLite runs one writer at a time anyway.
    """
    jobs = _locked(session, [job_id], exclusive=exclusive)
    if not jobs:
        raise NotFound(f"no job {job_id}")
    return jobs[0]


def lock_jobs(session: Session, job_ids: Iterable[uuid.UUID]) -> list[Job]:
    """The jobs that exist among ``job_ids``, share-locked as :func:`lock_job` does, in id order
    (two batches lock the jobs they share in the same order)."""
    return _locked(session, sorted(set(job_ids)), exclusive=False)


def _locked(session: Session, job_ids: Sequence[uuid.UUID], *, exclusive: bool) -> list[Job]:
    return list(
        session.scalars(
            select(Job)
            .where(Job.id.in_(job_ids))
            .order_by(Job.id)
            .options(selectinload(Job.stages))
            # FOR NO KEY UPDATE, or FOR SHARE
            .with_for_update(key_share=exclusive, read=not exclusive)
            .execution_options(populate_existing=True)
        )
    )


def role_keys(session: Session) -> dict[int, str]:
    """Every role's key by id (roles are few: one small query, for one job or a page)."""
    return {role_id: key for role_id, key in session.execute(select(Role.id, Role.key))}


def list_jobs(
    session: Session,
    *,
    limit: int,
    after: uuid.UUID | None = None,
    status: str | None = None,
    role_key: str | None = None,
    q: str | None = None,
) -> list[Job]:
    """Up to ``limit`` jobs in creation order after the id ``after``; ``q`` is a
    case-insensitive substring of the title, department or location."""
    # The page shows every job's stages: loaded for all of them in one more query.
    query = select(Job).options(selectinload(Job.stages)).order_by(Job.id).limit(limit)
    if after is not None:
        query = query.where(Job.id > after)
    if status is not None:
        query = query.where(Job.status == status)
    if role_key is not None:
        query = query.join(Role, Role.id == Job.role_id).where(Role.key == role_key)
    if q is not None:
        needle = contains_pattern(q.lower())
        query = query.where(
            or_(
                func.lower(Job.title).like(needle, escape="\\"),
                func.lower(Job.department).like(needle, escape="\\"),
                func.lower(Job.location).like(needle, escape="\\"),
            )
        )
    return list(session.scalars(query))


def _check_stages(stages: Sequence[dict[str, Any]]) -> None:
    if not 1 <= len(stages) <= MAX_STAGES:
        raise Invalid("a job has 1 to 20 stages", {"stages": [f"1 to {MAX_STAGES} stages"]})
    seen: dict[str, int] = {}
    errors: dict[str, list[str]] = {}
    for index, stage in enumerate(stages):
        name = " ".join(stage["name"].split()).casefold()
        if name in seen:
            errors[f"stages.{index}.name"] = [f"the name of stage {seen[name]} already"]
        seen.setdefault(name, index)
    if errors:
        raise Invalid("stage names are unique within a job", errors)


def _apply_status(job: Job, status: str, now: datetime) -> None:
    if status == job.status:
        return
    if status not in STATUS_MOVES[job.status]:
        raise Conflict(
            f"a {job.status} job cannot become {status}",
            current_status=job.status,
            requested_status=status,
        )
    if status == "open":
        job.opened_at = job.opened_at or now
        job.closed_at = None
    elif status == "closed":
        job.closed_at = now
    job.status = status


def create_job(session: Session, data: dict[str, Any]) -> Job:
    """Open a job against a role (by key), with the default stages unless ``stages`` is sent."""
    role = get_role(session, data["role"])
    stages = data.get("stages") or [{"name": n, "kind": k} for n, k in DEFAULT_STAGES]
    _check_stages(stages)
    now = utcnow()
    job = Job(
        title=data["title"],
        role_id=role.id,
        department=data.get("department"),
        location=data.get("location"),
        openings=data.get("openings", 1),
        status="draft",
        created_at=now,
        updated_at=now,
        stages=[
            JobStage(name=s["name"], kind=s["kind"], position=position)
            for position, s in enumerate(stages, start=1)
        ],
    )
    _apply_status(job, data.get("status", "draft"), now)
    session.add(job)
    session.flush()
    _emit(session, "job.created", job)
    return job


def _emit(session: Session, type: str, job: Job, **data: Any) -> None:
    role = session.get_one(Role, job.role_id).key
    events.emit(session, type, ("job", job.id), {"role": role, "status": job.status, **data})


def update_job(session: Session, job: Job, changes: dict[str, Any]) -> None:
    """Apply a PATCH: the writable fields and a status move the state machine allows."""
    openings = changes.get("openings")
    if openings is not None and openings < job.hired:
        raise Conflict(
            f"the job has {job.hired} hires: openings cannot go below that", hired=job.hired
        )
    now = utcnow()
    from_status = job.status
    for name in JOB_FIELDS:
        if name in changes:
            setattr(job, name, changes[name])
    if "status" in changes:
        _apply_status(job, changes["status"], now)
    job.updated_at = now
    session.flush()
    if any(name in changes for name in JOB_FIELDS):
        _emit(session, "job.updated", job)
    if job.status != from_status:
        _emit(session, "job.status_changed", job, from_status=from_status)


def replace_stages(session: Session, job: Job, stages: Sequence[dict[str, Any]]) -> None:
    """Make ``stages`` the job's ordered stages: one sent with its ``id`` keeps it (renamed,
    re-kinded, moved), one without is new, one left out is removed, unless it holds active
    applications (409 naming how many)."""
    _check_stages(stages)
    lock_job(session, job.id, exclusive=True)
    seen: dict[uuid.UUID, int] = {}
    for index, sent in enumerate(stages):
        if sent.get("id") is not None:
            if sent["id"] in seen:
                raise Invalid(
                    "a stage is listed twice",
                    {f"stages.{index}.id": [f"the id of stage {seen[sent['id']]} already"]},
                )
            seen[sent["id"]] = index
    existing = {s.id: s for s in current_stages(job)}
    kept = set(seen)
    unknown = kept - set(existing)
    if unknown:
        raise NotFound(f"job {job.id} has no stage {sorted(map(str, unknown))[0]}")
    removed = [stage for stage_id, stage in existing.items() if stage_id not in kept]
    if removed:
        # The job's lock (above) waits for every action in flight: the count sees them all.
        held = session.scalar(
            select(func.count())
            .select_from(Application)
            .where(
                Application.stage_id.in_([s.id for s in removed]),
                Application.status == "active",
            )
        )
        if held:
            raise Conflict(
                f"{held} active application(s) are in a stage this would remove; move them first",
                active_applications=int(held),
            )
    now = utcnow()
    job.updated_at = now
    session.flush()  # the job's version check first: a concurrent PUT fails before any change
    for stage in removed:
        # Position 0: a removed stage is before every stage, so an application that went
        # through it never counts as having reached the stage that takes its place.
        stage.removed_at, stage.position = now, 0
    for position, sent in enumerate(stages, start=1):
        if sent.get("id") is not None:
            stage = existing[sent["id"]]
            stage.name, stage.kind, stage.position = sent["name"], sent["kind"], position
        else:
            job.stages.append(JobStage(name=sent["name"], kind=sent["kind"], position=position))
    session.flush()
    funnel_counts.recount_progress(session, job.id)
    _emit(session, "job.updated", job)


# --------------------------------------------------------------------------- rejection reasons

BUILTIN_REASONS: tuple[tuple[str, str, str], ...] = (
    ("missing-must-have", "Misses a must-have of the role", "we_rejected"),
    ("weaker-than-others", "Weaker than other candidates", "we_rejected"),
    ("position-filled", "The position was filled", "we_rejected"),
    ("candidate-withdrew", "The candidate withdrew", "candidate_withdrew"),
    ("compensation", "Compensation did not match", "candidate_withdrew"),
    ("other", "Other", "other"),
)


def load_builtin_reasons(session: Session) -> list[str]:
    """Add the built-in rejection reasons that are missing; edits are never overwritten."""
    existing = set(session.scalars(select(RejectionReason.key)))
    added = []
    for key, name, kind in BUILTIN_REASONS:
        if key not in existing:
            session.add(RejectionReason(key=key, name=name, type=kind, active=True))
            added.append(key)
    session.flush()
    return added


def list_reasons(
    session: Session, *, limit: int, after: str | None = None
) -> list[RejectionReason]:
    query = select(RejectionReason).order_by(RejectionReason.key).limit(limit)
    if after is not None:
        query = query.where(RejectionReason.key > after)
    return list(session.scalars(query))


def get_reason(session: Session, key: str) -> RejectionReason:
    found = session.get(RejectionReason, key) if KEY_PATTERN.fullmatch(key) else None
    if found is None:
        raise NotFound(f"no rejection reason {key!r}")
    return found


def create_reason(session: Session, data: dict[str, Any]) -> RejectionReason:
    if session.get(RejectionReason, data["key"]) is not None:
        raise Conflict(f"rejection reason {data['key']!r} already exists")
    now = utcnow()
    reason = RejectionReason(
        key=data["key"],
        name=data["name"],
        type=data["type"],
        active=data.get("active", True),
        created_at=now,
        updated_at=now,
    )
    session.add(reason)
    session.flush()
    return reason


def update_reason(session: Session, reason: RejectionReason, changes: dict[str, Any]) -> None:
    for name in ("name", "active"):
        if name in changes:
            setattr(reason, name, changes[name])
    reason.updated_at = utcnow()
    session.flush()
