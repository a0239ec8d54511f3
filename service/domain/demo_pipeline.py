"""A living demo pipeline (``rolefit demo``): a ``tpm`` and a ``tmp`` job with applications
moved through their stages over the past months, deterministic by seed.

Some of the demo candidates (the first :data:`APPLICANTS`, by external id) apply to the job
whose role suits them best, at a day of the past five months; then, stage after stage, a
better-matching candidate is likelier to advance. Some are rejected (weaker than others; a
missing must-have when the match says so; some withdraw), a few are hired while openings last,
and the latest stay active. Every step goes through the pipeline's own use cases
(:mod:`service.domain.applications`), then is dated back to when it "happened", so funnels,
time in stage and time to hire have something to show at once. Loading again adds nothing.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain.applications import Actor, act, create_application
from service.domain.demo import SOURCE
from service.domain.errors import Conflict
from service.domain.jobs import create_job, current_stages
from service.infra.orm import utcnow
from service.models import Application, Candidate, Job, Match, Role

APPLICANTS = 400
JOBS = (
    ("tpm", "Technical Program Manager, Payments Platform (demo)", "Engineering", "Berlin"),
    ("tmp", "Technology Program Manager, Go-to-Market (demo)", "Operations", "London"),
)
ACTOR = Actor(key_id=None, name="cli:demo")


def load_demo_pipeline(
    session: Session, *, seed: int, now: datetime | None = None
) -> tuple[int, int]:
    """Open the demo jobs and move demo applicants through them; (jobs, applications) added."""
    titles = [title for _key, title, _dept, _loc in JOBS]
    if session.scalar(select(Job.id).where(Job.title.in_(titles)).limit(1)) is not None:
        return 0, 0
    now = now or utcnow()
    rnd = random.Random(seed)
    jobs = {}
    for key, title, department, location in JOBS:
        job = create_job(
            session,
            {
                "title": title,
                "role": key,
                "department": department,
                "location": location,
                "openings": 3,
                "status": "open",
            },
        )
        job.opened_at = now - timedelta(days=160)
        jobs[key] = job
    applicants = session.execute(
        select(Candidate.id, Candidate.external_id)
        .where(Candidate.source == SOURCE)
        .order_by(Candidate.external_id)
        .limit(APPLICANTS)
    ).all()
    scores = _scores(session, [c for c, _ in applicants])
    created = 0
    for candidate_id, _external_id in applicants:
        if rnd.random() > 0.45:
            continue  # most demo candidates apply nowhere
        by_role = scores.get(candidate_id, {})
        key = max(("tpm", "tmp"), key=lambda k: by_role.get(k, (0, False))[0])
        score, met = by_role.get(key, (0, False))
        _simulate(session, rnd, jobs[key], candidate_id, score / 10000, met, now)
        created += 1
    session.flush()
    return len(jobs), created


def _scores(session: Session, ids: list[object]) -> dict[object, dict[str, tuple[int, bool]]]:
    rows = session.execute(
        select(Match.candidate_id, Role.key, Match.score_hundredths, Match.must_haves_met)
        .join(Role, Role.id == Match.role_id)
        .where(Match.candidate_id.in_(ids))
    )
    found: dict[object, dict[str, tuple[int, bool]]] = {}
    for candidate_id, key, score, met in rows:
        found.setdefault(candidate_id, {})[key] = (score, met)
    return found


def _simulate(
    session: Session,
    rnd: random.Random,
    job: Job,
    candidate_id: object,
    fit: float,
    must_haves_met: bool,
    now: datetime,
) -> None:
    """One applicant's path through ``job``, dated between five months ago and now."""
    at = now - timedelta(days=rnd.uniform(3, 150))
    source = rnd.choice(["applied", "applied", "sourced", "referral", "agency", "internal"])
    application = create_application(
        session,
        {
            "candidate_id": candidate_id,
            "job_id": job.id,
            "source": {"channel": source},
            "applied_at": at,
        },
        ACTOR,
    )
    application.created_at = application.updated_at = at
    stages = current_stages(job)
    for position, stage in enumerate(stages):
        at += timedelta(days=rnd.uniform(1, 12))
        if at >= now:
            return  # still in this stage today
        advance = 0.25 + 0.6 * fit
        roll = rnd.random()
        if position == len(stages) - 1 or roll > advance:
            if position == len(stages) - 1 and roll < 0.6:
                try:
                    act(session, application, "hire", {"note": "offer accepted"}, ACTOR, at=at)
                except Conflict:  # openings filled: the position is taken
                    _reject(session, application, "position-filled", at)
            elif rnd.random() < 0.15:
                _reject(session, application, "candidate-withdrew", at)
            else:
                reason = "weaker-than-others" if must_haves_met else "missing-must-have"
                _reject(session, application, reason, at)
            return
        following = stages[position + 1].id
        move = {"from_stage": stage.id, "to_stage": following}
        act(session, application, "move", move, ACTOR, at=at)


def _reject(session: Session, application: Application, reason: str, at: datetime) -> None:
    act(session, application, "reject", {"reason": reason}, ACTOR, at=at)
