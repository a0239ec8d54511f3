"""Applications and their history: the hiring pipeline's state machine, in one place.

An application is ``active`` in one of its job's stages until it is ``rejected`` (it keeps the
stage it was rejected in) or ``hired``; :data:`ACTIONS` says which action is allowed from which
status and where it leads, and :func:`_act` is the only function that changes an application.
Each change appends one :class:`~service.models.Transition` in the same transaction, numbered
``seq`` 1, 2, 3 within the application, carrying who acted, why, and the candidate's stored
match for the job's role at that moment (read from ``matches``, never recomputed here).
Nothing updates or deletes a transition, except erasure, which clears its note (on PostgreSQL
a trigger refuses anything else: :mod:`service.infra.tamper_guard`).

Concurrency: the application row's version is the optimistic lock (the API checks If-Match
first; a writer that lost the race fails on the version check, a 412). Hiring increments the
job's ``hired`` with one conditional UPDATE (``hired < openings``), and a CHECK constraint
stands behind it: no two concurrent hires can fill more openings than the job has.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.domain import events, funnel_counts
from service.domain.batch import BatchOutcome
from service.domain.errors import Conflict, DomainError, Invalid, NotFound, StageConflict
from service.domain.jobs import current_stages, get_reason, lock_job, lock_jobs
from service.infra.bulk import bulk_insert
from service.infra.driver_query import DriverQuery
from service.infra.ids import uuid7
from service.infra.orm import utcnow
from service.infra.tamper_guard import allow_history_rewrite
from service.models import Application, Candidate, Job, JobStage, Match, RejectionReason, Transition

NOTE_MAX = 2000


@dataclass(frozen=True)
class Actor:
    """Who acts: an API key (id and name), or a job of the command line."""

    key_id: str | None
    name: str | None


@dataclass(frozen=True)
class Action:
    """One row of pipeline.md's action table."""

    kind: str  # the transition it writes
    allowed_from: str  # the application status it needs
    to_status: str


ACTIONS: dict[str, Action] = {
    "move": Action("moved", "active", "active"),
    "reject": Action("rejected", "active", "rejected"),
    "unreject": Action("unrejected", "rejected", "active"),
    "hire": Action("hired", "active", "hired"),
    "unhire": Action("unhired", "hired", "active"),
}


# --------------------------------------------------------------------------- reading


def get_application(session: Session, application_id: uuid.UUID) -> Application:
    """An application that can be shown; an erased candidate's are gone from every endpoint."""
    application = session.get(Application, application_id)
    if application is None or application.erased:
        raise NotFound(f"no application {application_id}")
    return application


def list_applications(
    session: Session,
    *,
    limit: int,
    after: uuid.UUID | None = None,
    job_id: uuid.UUID | None = None,
    candidate_id: uuid.UUID | None = None,
    status: str | None = None,
    stage_id: uuid.UUID | None = None,
    updated_after: datetime | None = None,
) -> list[Application]:
    """Up to ``limit`` applications in creation order after the id ``after``."""
    query = (
        select(Application)
        .where(Application.erased.is_(False))
        .order_by(Application.id)
        .limit(limit)
    )
    for column, value in (
        (Application.job_id, job_id),
        (Application.candidate_id, candidate_id),
        (Application.status, status),
        (Application.stage_id, stage_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if after is not None:
        query = query.where(Application.id > after)
    if updated_after is not None:
        query = query.where(Application.updated_at > updated_after)
    return list(session.scalars(query))


@dataclass(frozen=True)
class MatchSnapshot:
    """A candidate's stored match for a role, as an application or transition shows it."""

    score_hundredths: int
    band: str
    must_haves_met: bool
    role_version: int
    model_version: str
    inputs_hash: str
    rank_key: int  # the ranking order: must-haves met first, then score


def matches_for(
    session: Session, pairs: Sequence[tuple[int, uuid.UUID | None]]
) -> dict[tuple[int, uuid.UUID], MatchSnapshot]:
    """The stored matches of (role id, candidate id) pairs, in one query."""
    wanted = {(r, c) for r, c in pairs if c is not None}
    if not wanted:
        return {}
    m = Match
    rows = session.execute(
        select(
            m.role_id,
            m.candidate_id,
            m.score_hundredths,
            m.band,
            m.must_haves_met,
            m.role_version,
            m.model_version,
            m.inputs_hash,
            m.rank_key,
        ).where(sa.tuple_(m.role_id, m.candidate_id).in_(sorted(wanted, key=str)))
    )
    return {(r[0], r[1]): MatchSnapshot(*r[2:]) for r in rows}


def _snapshot(session: Session, job: Job, candidate_id: uuid.UUID | None) -> MatchSnapshot | None:
    return matches_for(session, [(job.role_id, candidate_id)]).get((job.role_id, candidate_id))  # type: ignore[arg-type]


def transitions_of(session: Session, application: Application) -> list[Transition]:
    return list(
        session.scalars(
            select(Transition)
            .where(Transition.application_id == application.id)
            .order_by(Transition.seq)
        )
    )


def transition_feed(
    session: Session,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
    job_id: uuid.UUID | None = None,
    kind: str | None = None,
    occurred_after: datetime | None = None,
) -> list[Transition]:
    """Transitions in the order they were written (recorded_at, then id), strictly after the
    keyset ``after``; those of erased candidates' applications are left out.

    Not by ``occurred_at``: a backdated application's ``created`` happened before rows already
    handed out, and a feed in that order would let a reader's cursor pass it for good.
    """
    t = Transition
    query = (
        select(t)
        .join(Application, Application.id == t.application_id)
        .where(Application.erased.is_(False))
        .order_by(t.recorded_at, t.id)
        .limit(limit)
    )
    if job_id is not None:
        query = query.where(t.job_id == job_id)
    if kind is not None:
        query = query.where(t.kind == kind)
    if occurred_after is not None:
        query = query.where(t.occurred_at > occurred_after)
    if after is not None:
        at, last_id = after
        query = query.where(
            sa.or_(t.recorded_at > at, sa.and_(t.recorded_at == at, t.id > last_id))
        )
    return list(session.scalars(query))


@dataclass(frozen=True, slots=True)
class ApplicationRow:
    """An application's columns as a page reads them on the driver, without the ORM."""

    id: uuid.UUID
    candidate_id: uuid.UUID | None
    job_id: uuid.UUID
    status: str
    source_channel: str
    source_detail: str | None
    applied_at: datetime
    rejected_at: datetime | None
    hired_at: datetime | None
    rejection_reason: str | None
    rejection_note: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StageRow:
    """A stage's columns as a page reads them."""

    id: uuid.UUID
    name: str
    kind: str
    position: int


@dataclass(frozen=True)
class RankedApplication:
    """An item of a job's ranked applications: the application, and the candidate's stored
    match (which carries their name and headline) with its rank key, for the cursor."""

    view: ApplicationView
    candidate_name: str
    candidate_headline: str | None
    rank_key: int


_APPLICATION_COLUMNS = tuple(f.name for f in fields(ApplicationRow))
_STAGE_COLUMNS = tuple(f.name for f in fields(StageRow))
_SNAPSHOT_COLUMNS = tuple(f.name for f in fields(MatchSnapshot))

_STAGES_TABLE = cast(sa.Table, JobStage.__table__)
_JOB_STAGES = DriverQuery(
    select(*(_STAGES_TABLE.c[name] for name in _STAGE_COLUMNS)).where(
        _STAGES_TABLE.c.job_id == sa.bindparam("job_id")
    )
)
"""Every stage of a job, removed ones included (a rejected application may sit in one)."""


def job_ranking(
    connection: Connection,
    job_id: uuid.UUID,
    *,
    limit: int,
    after: tuple[int, uuid.UUID] | None = None,
    status: str | None = None,
    stage_id: uuid.UUID | None = None,
    min_score_hundredths: int | None = None,
    must_haves_met: bool | None = None,
) -> list[RankedApplication]:
    """The job's applications with their candidates' stored matches for the job's role, best
    match first (must-haves met, score), then application id; strictly after the keyset
    ``after`` = (rank key, application id). Empty for a job that does not exist.

    Walks the job's applications in rank order (``ix_applications_job_rank``: each application
    carries its match's rank key, kept by every rescoring) and joins each one's match by its
    key, so a page reads its own rows and no others. It used to walk the role's whole ranking
    and probe each candidate for an application to the job: ten matches read per application
    shown for a job holding a tenth of the candidates: 6.4 ms of PostgreSQL a page against 0.8
    (bench.pipeline, 100,000 applications). Matches carry the candidate's name and headline: no
    candidates join. An erased candidate has no match: their applications drop out.

    Two statements on the driver's cursor: the page (applications and matches, each rejection's
    type a scalar subquery), then the job's stages. PostgreSQL plans the page anew on every call
    (its generic plan, blind to the limit, is a parallel scan 10x slower, so it keeps custom
    plans), and with the stages and rejection reasons joined in, that planning was most of the
    page's cost: 0.72-0.90 ms of PostgreSQL's CPU a page, against 0.43-0.55 now, the stages'
    query included (0.04-0.06; 1,000 pages at 100,000 applications, ``/proc`` CPU times of the
    backend). Stages are read after the page, and never deleted, so every stage it names is
    there.
    """
    params: dict[str, Any] = {"job_id": job_id, "limit": limit}
    filters = {
        "status": status,
        "stage_id": stage_id,
        "min_score": min_score_hundredths,
        "must_haves_met": must_haves_met,
    }
    params.update({name: value for name, value in filters.items() if value is not None})
    if after is not None:
        params["after_rank"], params["after_id"] = after
    statement = _job_ranking_statement(
        *(value is not None for value in filters.values()), after is not None
    )
    rows = statement.rows(connection, params)
    if not rows:
        return []
    stages = {row[0]: StageRow(*row) for row in _JOB_STAGES.rows(connection, {"job_id": job_id})}
    ranked = []
    a_end = len(_APPLICATION_COLUMNS)
    m_start = a_end + 2  # after the stage id and the rejection type
    m_end = m_start + len(_SNAPSHOT_COLUMNS)
    for row in rows:
        view = ApplicationView(
            ApplicationRow(*row[:a_end]),
            stages[row[a_end]],
            MatchSnapshot(*row[m_start:m_end]),
            row[a_end + 1],
        )
        ranked.append(RankedApplication(view, *row[m_end:]))
    return ranked


@functools.cache
def _job_ranking_statement(
    by_status: bool, by_stage: bool, by_min_score: bool, by_must_haves: bool, after: bool
) -> DriverQuery:
    """The page query for one combination of filters, built once (it runs on every pull)."""
    a = cast(sa.Table, Application.__table__)
    m = cast(sa.Table, Match.__table__)
    r = cast(sa.Table, RejectionReason.__table__)
    role_of_job = select(Job.role_id).where(Job.id == sa.bindparam("job_id")).scalar_subquery()
    rejection_type = select(r.c.type).where(r.c.key == a.c.rejection_reason).scalar_subquery()
    query = (
        select(
            *(a.c[name] for name in _APPLICATION_COLUMNS),
            a.c.stage_id,
            rejection_type,
            *(m.c[name] for name in _SNAPSHOT_COLUMNS),
            m.c.candidate_name,
            m.c.candidate_headline,
            a.c.rank_key,
        )
        .select_from(a)
        .join(m, sa.and_(m.c.role_id == role_of_job, m.c.candidate_id == a.c.candidate_id))
        .where(a.c.job_id == sa.bindparam("job_id"))
        .order_by(a.c.rank_key.desc(), a.c.id)
        .limit(sa.bindparam("limit"))
    )
    if by_status:
        query = query.where(a.c.status == sa.bindparam("status"))
    if by_stage:
        query = query.where(a.c.stage_id == sa.bindparam("stage_id"))
    if by_min_score:
        query = query.where(m.c.score_hundredths >= sa.bindparam("min_score"))
    if by_must_haves:
        query = query.where(m.c.must_haves_met == sa.bindparam("must_haves_met"))
    if after:
        rank = a.c.rank_key
        query = query.where(
            sa.or_(
                rank < sa.bindparam("after_rank"),
                sa.and_(rank == sa.bindparam("after_rank"), a.c.id > sa.bindparam("after_id")),
            )
        )
    return DriverQuery(query)


# --------------------------------------------------------------------------- writing


def _stage_of(job: Job, stage_id: uuid.UUID) -> JobStage:
    for stage in current_stages(job):
        if stage.id == stage_id:
            return stage
    raise NotFound(f"job {job.id} has no stage {stage_id}")


def _record(
    session: Session,
    application: Application,
    job: Job,
    *,
    kind: str,
    from_stage: uuid.UUID | None,
    from_status: str | None,
    reason: str | None,
    note: str | None,
    actor: Actor,
    at: datetime,
    seq: int,
) -> Transition:
    """Append the application's transition number ``seq``, with the match the recruiter saw."""
    match = _snapshot(session, job, application.candidate_id)
    transition = Transition(
        application_id=application.id,
        job_id=job.id,
        seq=seq,
        kind=kind,
        from_stage_id=from_stage,
        to_stage_id=application.stage_id,
        from_status=from_status,
        to_status=application.status,
        reason=reason,
        note=note,
        actor_key_id=actor.key_id,
        actor_name=actor.name,
        score_hundredths=match.score_hundredths if match else None,
        band=match.band if match else None,
        must_haves_met=match.must_haves_met if match else None,
        role_version=match.role_version if match else None,
        model_version=match.model_version if match else None,
        inputs_hash=match.inputs_hash if match else None,
        occurred_at=at,
    )
    session.add(transition)
    session.flush()
    stages = {stage.id: stage for stage in job.stages}
    events.emit(session, *_transition_event(transition, application.candidate_id, stages))
    return transition


def _transition_event(
    t: Transition, candidate_id: uuid.UUID | None, stages: dict[uuid.UUID, JobStage]
) -> tuple[str, tuple[str, uuid.UUID], dict[str, Any]]:
    """The event of a transition: its type, subject (the application) and thin payload."""

    def stage(stage_id: uuid.UUID | None) -> dict[str, Any] | None:
        if stage_id is None:
            return None
        s = stages[stage_id]
        return {"id": str(s.id), "name": s.name, "kind": s.kind, "position": s.position}

    match = None
    if t.score_hundredths is not None:
        match = {
            "score": t.score_hundredths / 100,
            "band": t.band,
            "must_haves_met": t.must_haves_met,
            "role_version": t.role_version,
            "model_version": t.model_version,
        }
    data = {
        "job_id": str(t.job_id),
        "candidate_id": str(candidate_id) if candidate_id else None,
        "from_stage": stage(t.from_stage_id),
        "to_stage": stage(t.to_stage_id),
        "from_status": t.from_status,
        "status": t.to_status,
        "reason": t.reason,
        "transition_seq": t.seq,
        "match": match,
    }
    return events.TRANSITION_EVENTS[t.kind], ("application", t.application_id), data


def create_application(session: Session, data: dict[str, Any], actor: Actor) -> Application:
    """A candidate applies to an open job: the application and its ``created`` transition."""
    job = lock_job(session, data["job_id"])
    candidate = session.get(Candidate, data["candidate_id"])
    if candidate is None:
        raise NotFound(f"no candidate {data['candidate_id']}")
    if job.status != "open":
        raise Conflict(f"job {job.id} is {job.status}: applications need an open job")
    stages = current_stages(job)
    stage = _stage_of(job, data["stage"]) if data.get("stage") else stages[0]
    now = utcnow()
    applied_at = data.get("applied_at") or now
    if applied_at > now:
        raise Invalid("applied_at is in the future", {"applied_at": ["not in the future"]})
    _one_active(session, candidate.id, job.id)
    source = data.get("source") or {}
    match = _snapshot(session, job, candidate.id)
    application = Application(
        candidate_id=candidate.id,
        job_id=job.id,
        status="active",
        stage_id=stage.id,
        source_channel=source.get("channel", "applied"),
        source_detail=source.get("detail"),
        applied_at=applied_at,
        furthest_position=stage.position,
        rank_key=match.rank_key if match else None,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(application)
            session.flush()
    except IntegrityError:
        _one_active(session, candidate.id, job.id)  # a concurrent application won: name it
        raise
    funnel_counts.count_new_applications(
        session, [(job.id, stage.id, application.source_channel, stage.position)]
    )
    _record(
        session,
        application,
        job,
        kind="created",
        from_stage=None,
        from_status=None,
        reason=None,
        note=None,
        actor=actor,
        at=applied_at,
        seq=1,
    )
    return application


def _one_active(session: Session, candidate_id: uuid.UUID | None, job_id: uuid.UUID) -> None:
    existing = session.scalar(
        select(Application.id).where(
            Application.candidate_id == candidate_id,
            Application.job_id == job_id,
            Application.status == "active",
        )
    )
    if existing is not None:
        raise Conflict(
            f"candidate {candidate_id} already has an active application to job {job_id}",
            existing_id=str(existing),
        )


def act(
    session: Session,
    application: Application,
    action: str,
    body: dict[str, Any],
    actor: Actor,
    *,
    at: datetime | None = None,
) -> ApplicationView:
    """Carry out ``action`` (a key of :data:`ACTIONS`) on ``application``; the application's
    view after it, built from what the action read (:func:`_view_after_action`).

    The one place where an application changes after its creation. ``at``: when it happened,
    now unless history is written after the fact (the demo's, the tests').
    """
    rule = ACTIONS[action]
    if application.status != rule.allowed_from:
        raise Conflict(
            f"cannot {action} an application that is {application.status}",
            current_status=application.status,
        )
    # Shared: stage edits wait for the action (and it for them); hires exclusively, as they
    # update the job's count of hires (a shared lock upgraded by two hires would deadlock).
    job = lock_job(session, application.job_id, exclusive=action in ("hire", "unhire"))
    # A closed job still takes decisions (its last applicants are rejected or hired, as in
    # every ATS); an archived one is a closed record: its history no longer grows.
    if job.status == "archived":
        raise Conflict(
            f"job {job.id} is archived: its applications can no longer change",
            job_status=job.status,
        )
    from_stage, from_status = application.stage_id, application.status
    reason = None
    now = at or utcnow()
    if action == "move":
        if body["from_stage"] != application.stage_id:
            names = {stage.id: stage.name for stage in job.stages}
            raise StageConflict(
                "the application is no longer in from_stage; read it again",
                current_stage=str(application.stage_id),
                current_stage_name=names.get(application.stage_id),
            )
        to_stage = _stage_of(job, body["to_stage"])
        if to_stage.id == application.stage_id:
            raise Invalid(
                "to_stage is the stage the application is in", {"to_stage": ["already there"]}
            )
        application.stage_id = to_stage.id
    elif action == "reject":
        found = get_reason(session, body["reason"])
        if not found.active:
            raise Conflict(f"rejection reason {found.key!r} is retired: pick an active one")
        if found.key == "missing-must-have":
            _refuse_unfounded_must_have_rejection(session, job, application)
        reason = found.key
        application.rejection_reason = found.key
        application.rejection_note = body.get("note")
        application.rejected_at = now
    elif action == "unreject":
        _stage_still_there(session, job, application, "rejected")
        _one_active(session, application.candidate_id, job.id)
        application.rejection_reason = None
        application.rejection_note = None
        application.rejected_at = None
    elif action == "hire":
        _take_an_opening(session, job, +1)
        application.hired_at = now
    elif action == "unhire":
        _stage_still_there(session, job, application, "hired")
        _one_active(session, application.candidate_id, job.id)
        _take_an_opening(session, job, -1)
        application.hired_at = None
    application.status = rule.to_status
    application.updated_at = now
    with session.no_autoflush:  # one UPDATE of the application, with its counted positions
        previous = funnel_counts.last_step(session, application.id)
    deltas = funnel_counts.count_transition(
        application,
        left=(from_stage, from_status),
        previous=previous,
        at=now,
        position=_stage_of(job, application.stage_id).position,
        hired=rule.kind == "hired",
    )
    session.flush()  # the version check: of two writers from one ETag, the second fails here
    transition = _record(
        session,
        application,
        job,
        kind=rule.kind,
        from_stage=from_stage,
        from_status=from_status,
        reason=reason,
        note=body.get("note"),
        actor=actor,
        at=now,
        seq=previous.seq + 1,
    )
    funnel_counts.add_deltas(session, deltas)  # last: the rows every action on the job shares
    return _view_after_action(session, application, job, transition)


def _stage_still_there(session: Session, job: Job, application: Application, status: str) -> None:
    """An application comes back in the stage it left the pipeline from: that stage must still
    be one of the job's (stages holding only rejected or hired applications can be removed)."""
    stage = next((s for s in current_stages(job) if s.id == application.stage_id), None)
    if stage is None:
        raise Conflict(
            f"the stage this application was {status} in has been removed from the job",
            current_stage=str(application.stage_id),
        )


def _refuse_unfounded_must_have_rejection(
    session: Session, job: Job, application: Application
) -> None:
    """Human oversight (accountability.md): "missing a must-have" must be true of the candidate's
    stored match, or the recruiter has to give the reason it really is."""
    match = _snapshot(session, job, application.candidate_id)
    if match is not None and match.must_haves_met:
        raise Conflict(
            "the candidate meets every must-have of the role: give another reason",
            must_haves_met=True,
        )


def _take_an_opening(session: Session, job: Job, delta: int) -> None:
    """``hired`` += ``delta`` in one conditional UPDATE, so concurrent hires never exceed the
    openings; the job's ETag changes with it."""
    limit = Job.hired < Job.openings if delta > 0 else Job.hired > 0
    result = cast(
        sa.CursorResult[Any],
        session.execute(
            sa.update(Job)
            .where(Job.id == job.id, limit)
            .values(hired=Job.hired + delta, row_version=Job.row_version + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        raise Conflict(f"job {job.id} has filled all its {job.openings} openings")
    session.expire(job)


def erase_candidate_applications(session: Session, candidate_id: uuid.UUID) -> None:
    """Part of erasure: the person's applications keep their stages, statuses, times and match
    snapshots (funnels and audits stay true) and lose the candidate, notes and source detail;
    no endpoint shows them again."""
    ids = list(
        session.scalars(select(Application.id).where(Application.candidate_id == candidate_id))
    )
    if not ids:
        return
    session.execute(
        sa.update(Application)
        .where(Application.id.in_(ids))
        .values(
            candidate_id=None, source_detail=None, rejection_note=None, erased=True, rank_key=None
        )
        .execution_options(synchronize_session=False)
    )
    # The one rewrite of the history there is: PostgreSQL's triggers refuse it otherwise.
    with allow_history_rewrite(session, "erasure"):
        session.execute(
            sa.update(Transition)
            .where(Transition.application_id.in_(ids))
            .values(note=None)
            .execution_options(synchronize_session=False)
        )
    events.redact_subjects(session, "application", ids)


# --------------------------------------------------------------------------- what endpoints show


@dataclass(frozen=True)
class ApplicationView:
    """An application with what its body shows besides its own columns."""

    application: Application | ApplicationRow
    stage: JobStage | StageRow
    match: MatchSnapshot | None
    rejection_type: str | None


def stages_by_id(session: Session, ids: Sequence[uuid.UUID | None]) -> dict[uuid.UUID, JobStage]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {s.id: s for s in session.scalars(select(JobStage).where(JobStage.id.in_(wanted)))}


def views(session: Session, applications: Sequence[Application]) -> list[ApplicationView]:
    """Views of ``applications`` with a few queries whatever their number: their stages, the
    rejection reasons' types, their jobs' roles and the candidates' stored matches."""
    if not applications:
        return []
    stages = stages_by_id(session, [a.stage_id for a in applications])
    matches = _stored_matches(session, applications)
    types = dict(session.execute(select(RejectionReason.key, RejectionReason.type)).all())
    return [
        ApplicationView(
            a,
            stages[a.stage_id],
            matches.get(a.id),
            types.get(a.rejection_reason) if a.rejection_reason else None,
        )
        for a in applications
    ]


def _view_after_action(
    session: Session, application: Application, job: Job, transition: Transition
) -> ApplicationView:
    """The view of an application an action just changed, from what the action read: its
    locked job with its stages, the rejection reason (in the session), the match its
    transition recorded. No query (:func:`views` makes four).

    Built while the action still holds its job: the session keeps unchanged objects only by
    weak reference, so a caller looking the job up after the action had to load it and its
    stages again (two queries a move).
    """
    stage = next(s for s in job.stages if s.id == application.stage_id)
    match = None
    if transition.score_hundredths is not None:
        match = MatchSnapshot(
            transition.score_hundredths,
            transition.band or "",
            bool(transition.must_haves_met),
            transition.role_version or 0,
            transition.model_version or "",
            transition.inputs_hash or "",
            application.rank_key or 0,
        )
    reason = (
        session.get(RejectionReason, application.rejection_reason)
        if application.rejection_reason
        else None
    )
    return ApplicationView(application, stage, match, reason.type if reason else None)


def _stored_matches(
    session: Session, applications: Sequence[Application]
) -> dict[uuid.UUID, MatchSnapshot]:
    """Each application's candidate's stored match for its job's role, by application id."""
    roles = dict(
        session.execute(
            select(Job.id, Job.role_id).where(Job.id.in_({a.job_id for a in applications}))
        ).all()
    )
    found = matches_for(session, [(roles[a.job_id], a.candidate_id) for a in applications])
    return {
        a.id: found[key]
        for a in applications
        if a.candidate_id is not None and (key := (roles[a.job_id], a.candidate_id)) in found
    }


# --------------------------------------------------------------------------- batch import


def create_many(
    session: Session, items: Sequence[tuple[int, dict[str, Any]]], actor: Actor
) -> BatchOutcome:
    """Create many applications with set-based reads and writes; a bad item never blocks the
    others. Items are ``(index, data)`` as :func:`create_application` takes them.

    A fixed number of round trips whatever the batch size: the jobs and their stages, the
    candidates, their active applications, their stored matches, then one multi-row insert
    (COPY on PostgreSQL) of the applications and one of their ``created`` transitions.
    """
    outcome = BatchOutcome()
    jobs = {job.id: job for job in lock_jobs(session, {d["job_id"] for _, d in items})}
    known = set(
        session.scalars(
            select(Candidate.id).where(Candidate.id.in_({d["candidate_id"] for _, d in items}))
        )
    )
    for _attempt in range(3):
        active = _active_pairs(session, items)
        created, rows, transitions = _batch_rows(
            session, items, jobs, known, active, actor, outcome
        )
        if not rows:
            return outcome
        try:
            with session.begin_nested():
                bulk_insert(session, Application, rows)
                bulk_insert(session, Transition, transitions)
                funnel_counts.count_new_applications(
                    session,
                    [
                        (r["job_id"], r["stage_id"], r["source_channel"], r["furthest_position"])
                        for r in rows
                    ],
                )
        except IntegrityError:
            outcome.failed.clear()  # a concurrent writer took a pair: look again
            continue
        outcome.created.update(created)
        stages = {stage.id: stage for job in jobs.values() for stage in job.stages}
        events.emit_rows(
            session,
            [
                _transition_event(Transition(**t), r["candidate_id"], stages)
                for r, t in zip(rows, transitions, strict=True)
            ],
        )
        return outcome
    raise Conflict("the batch kept colliding with concurrent writes; retry it")


def _active_pairs(
    session: Session, items: Sequence[tuple[int, dict[str, Any]]]
) -> dict[tuple[Any, Any], uuid.UUID]:
    pairs = sorted({(d["candidate_id"], d["job_id"]) for _, d in items}, key=str)
    found: dict[tuple[Any, Any], uuid.UUID] = {}
    for start in range(0, len(pairs), 500):
        chunk = pairs[start : start + 500]
        for candidate_id, job_id, application_id in session.execute(
            select(Application.candidate_id, Application.job_id, Application.id).where(
                sa.tuple_(Application.candidate_id, Application.job_id).in_(chunk),
                Application.status == "active",
            )
        ):
            found[(candidate_id, job_id)] = application_id
    return found


def _batch_rows(
    session: Session,
    items: Sequence[tuple[int, dict[str, Any]]],
    jobs: dict[uuid.UUID, Job],
    known: set[uuid.UUID],
    active: dict[tuple[Any, Any], uuid.UUID],
    actor: Actor,
    outcome: BatchOutcome,
) -> tuple[dict[int, uuid.UUID], list[dict[str, Any]], list[dict[str, Any]]]:
    """The new ids by index, and the rows to insert, for the items that pass every rule; the
    others go to ``outcome``."""
    now = utcnow()
    valid: list[tuple[int, dict[str, Any], Job, JobStage]] = []
    first_index: dict[tuple[Any, Any], int] = {}
    for index, data in items:
        try:
            job, stage = _check_item(data, jobs, known, active, now)
            pair = (data["candidate_id"], data["job_id"])
            if pair in first_index:
                raise Conflict(
                    f"repeats the candidate and job of item {first_index[pair]}",
                    duplicate_of_index=first_index[pair],
                )
        except DomainError as error:
            outcome.failed[index] = error
            continue
        first_index[pair] = index
        valid.append((index, data, job, stage))
    pairs = [(job.role_id, data["candidate_id"]) for _, data, job, _ in valid]
    matches = matches_for(session, pairs)
    created: dict[int, uuid.UUID] = {}
    rows, transitions = [], []
    for index, data, job, stage in valid:
        source = data.get("source") or {}
        applied_at = data.get("applied_at") or now
        application_id = created[index] = uuid7()
        match = matches.get((job.role_id, data["candidate_id"]))
        rows.append(
            {
                "id": application_id,
                "candidate_id": data["candidate_id"],
                "job_id": job.id,
                "status": "active",
                "stage_id": stage.id,
                "source_channel": source.get("channel", "applied"),
                "source_detail": source.get("detail"),
                "applied_at": applied_at,
                "rejected_at": None,
                "hired_at": None,
                "rejection_reason": None,
                "rejection_note": None,
                "erased": False,
                "furthest_position": stage.position,
                "hired_position": None,
                "row_version": 1,
                "created_at": now,
                "updated_at": now,
                "rank_key": match.rank_key if match else None,
            }
        )
        transitions.append(
            {
                "id": uuid7(),
                "application_id": application_id,
                "job_id": job.id,
                "seq": 1,
                "kind": "created",
                "from_stage_id": None,
                "to_stage_id": stage.id,
                "from_status": None,
                "to_status": "active",
                "reason": None,
                "note": None,
                "actor_key_id": actor.key_id,
                "actor_name": actor.name,
                "score_hundredths": match.score_hundredths if match else None,
                "band": match.band if match else None,
                "must_haves_met": match.must_haves_met if match else None,
                "role_version": match.role_version if match else None,
                "model_version": match.model_version if match else None,
                "inputs_hash": match.inputs_hash if match else None,
                "occurred_at": applied_at,
                "recorded_at": now,
            }
        )
    return created, rows, transitions


def _check_item(
    data: dict[str, Any],
    jobs: dict[uuid.UUID, Job],
    known: set[uuid.UUID],
    active: dict[tuple[Any, Any], uuid.UUID],
    now: datetime,
) -> tuple[Job, JobStage]:
    """The rules of :func:`create_application` for one batch item: its job and stage."""
    job = jobs.get(data["job_id"])
    if job is None:
        raise NotFound(f"no job {data['job_id']}")
    if data["candidate_id"] not in known:
        raise NotFound(f"no candidate {data['candidate_id']}")
    if job.status != "open":
        raise Conflict(f"job {job.id} is {job.status}: applications need an open job")
    stage = _stage_of(job, data["stage"]) if data.get("stage") else current_stages(job)[0]
    applied_at = data.get("applied_at")
    if applied_at is not None and applied_at > now:
        raise Invalid("applied_at is in the future", {"applied_at": ["not in the future"]})
    existing = active.get((data["candidate_id"], job.id))
    if existing is not None:
        raise Conflict(
            f"candidate {data['candidate_id']} already has an active application to job {job.id}",
            existing_id=str(existing),
        )
    return job, stage
