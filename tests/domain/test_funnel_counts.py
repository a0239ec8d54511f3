"""The funnel read from its counts equals the funnel scanned from the transitions.

Random histories (seeded, so a failure names its seed) go through the domain's own use cases:
creations one by one and in batches, every action the state machine allows, stays of equal and
of random lengths (ties, zero-length stays, stays over many days), stage edits that reorder,
add and remove stages. After each history, on both databases:

- ``counted_funnel`` (what ``GET /v1/jobs/{id}/funnel`` serves) equals ``scanned_funnel`` (the
  computation from the transitions, the definitions' reference), field by field;
- recounting the job from scratch (``funnel_counts.recount``, for data written in bulk) leaves
  the counts exactly as the incremental updates left them.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain import funnel_counts
from service.domain.applications import ACTIONS, Actor, act, create_application, create_many
from service.domain.candidates import create_candidate
from service.domain.errors import DomainError
from service.domain.funnel import counted_funnel, scanned_funnel
from service.domain.jobs import create_job, current_stages, replace_stages
from service.infra.orm import utcnow
from service.models import Application, Job, JobProgressCount, JobStageCount, JobStayCount

ACTOR = Actor(key_id=None, name="test")
CHANNELS = ("applied", "sourced", "referral", "agency")


class History:
    """A random history of one job, with a clock that only moves forwards."""

    def __init__(self, session: Session, seed: int) -> None:
        self.session = session
        self.rnd = random.Random(seed)
        self.clock = utcnow().replace(microsecond=0) - timedelta(days=1500)
        self.job = create_job(
            session,
            {"title": f"Job {seed}", "role": "tpm", "openings": 4, "status": "open"},
        )
        self.applications: list[Application] = []

    def tick(self) -> Any:
        """Advance the clock: often by whole days (equal stays), sometimes not at all (a stay
        of zero seconds), otherwise by a random number of seconds and microseconds."""
        roll = self.rnd.random()
        if roll < 0.4:
            step = timedelta(days=self.rnd.randint(1, 5))
        elif roll < 0.5:
            step = timedelta(0)
        else:
            step = timedelta(
                seconds=self.rnd.randint(1, 9 * 86400), microseconds=self.rnd.randint(0, 999_999)
            )
        self.clock += step
        return self.clock

    def apply(self) -> None:
        candidate = create_candidate(self.session, {"name": f"C{len(self.applications)}"})
        data: dict[str, Any] = {
            "candidate_id": candidate.id,
            "job_id": self.job.id,
            "source": {"channel": self.rnd.choice(CHANNELS)},
            "applied_at": self.tick(),
        }
        if self.rnd.random() < 0.2:
            data["stage"] = self.rnd.choice(current_stages(self.job)).id
        self.applications.append(create_application(self.session, data, ACTOR))

    def apply_in_batch(self, count: int) -> None:
        items = []
        for index in range(count):
            candidate = create_candidate(
                self.session, {"name": f"B{len(self.applications)}-{index}"}
            )
            items.append(
                (
                    index,
                    {
                        "candidate_id": candidate.id,
                        "job_id": self.job.id,
                        "source": {"channel": self.rnd.choice(CHANNELS)},
                        "applied_at": self.tick(),
                    },
                )
            )
        outcome = create_many(self.session, items, ACTOR)
        assert not outcome.failed
        self.applications.extend(
            self.session.get_one(Application, i) for i in outcome.created.values()
        )

    def act_at_random(self) -> None:
        application = self.rnd.choice(self.applications)
        self.session.refresh(application)
        allowed = [
            name for name, rule in ACTIONS.items() if rule.allowed_from == application.status
        ]
        action = self.rnd.choice(allowed)
        body: dict[str, Any] = {}
        if action == "move":
            others = [s for s in current_stages(self.job) if s.id != application.stage_id]
            if not others:
                return
            body = {"from_stage": application.stage_id, "to_stage": self.rnd.choice(others).id}
        elif action == "reject":
            body = {"reason": self.rnd.choice(["weaker-than-others", "candidate-withdrew"])}
        try:
            with self.session.begin_nested():
                act(self.session, application, action, body, ACTOR, at=self.tick())
        except DomainError:
            pass  # refused (openings filled, a removed stage, another active application): no trace

    def edit_stages(self) -> None:
        """Reorder the stages, sometimes add one, and remove one that holds nobody active."""
        stages = current_stages(self.job)
        active = set(
            self.session.scalars(
                select(Application.stage_id).where(
                    Application.job_id == self.job.id, Application.status == "active"
                )
            )
        )
        kept = [s for s in stages if s.id in active or self.rnd.random() < 0.8] or stages[:1]
        self.rnd.shuffle(kept)
        sent: list[dict[str, Any]] = [{"id": s.id, "name": s.name, "kind": s.kind} for s in kept]
        if self.rnd.random() < 0.5:
            sent.insert(
                self.rnd.randrange(len(sent) + 1),
                {"name": f"Extra {self.tick()}"[:60], "kind": "interview"},
            )
        replace_stages(self.session, self.job, sent)

    def run(self, steps: int) -> None:
        for _ in range(4):
            self.apply()
        for _ in range(steps):
            roll = self.rnd.random()
            if roll < 0.15:
                self.apply()
            elif roll < 0.2:
                self.apply_in_batch(self.rnd.randint(1, 4))
            elif roll < 0.25:
                self.edit_stages()
            else:
                self.act_at_random()
        self.session.flush()


def _counts(session: Session, job: Job) -> dict[str, list[tuple[Any, ...]]]:
    """The job's counters, zero ones left out (an emptied counter may stay as a row)."""
    found = {}
    for model, keys in (
        (JobStageCount, ("stage_id", "status", "channel")),
        (JobProgressCount, ("furthest_position", "hired_there")),
        (JobStayCount, ("stage_id", "width", "bucket")),
    ):
        columns = [getattr(model, k) for k in keys]
        found[model.__tablename__] = sorted(
            tuple(row)
            for row in session.execute(
                select(*columns, model.n).where(model.job_id == job.id, model.n != 0)
            )
        )
    return found


@pytest.fixture
def histories(session: Session) -> Any:
    def make(seed: int, steps: int) -> History:
        history = History(session, seed)
        history.run(steps)
        return history

    return make


@pytest.mark.parametrize("seed", range(8))
def test_counted_funnel_equals_the_scanned_one(session: Session, histories: Any, seed: int) -> None:
    history = histories(seed, 120)
    session.expire_all()
    job = session.get_one(Job, history.job.id)

    counted = counted_funnel(session, job)
    assert counted == scanned_funnel(session, job), f"seed {seed}"
    assert counted["applications"] == len(history.applications)

    incremental = _counts(session, job)
    funnel_counts.recount(session, job.id)
    session.expire_all()
    assert _counts(session, job) == incremental, f"seed {seed}"


def test_many_equal_stays_and_one_long_one(session: Session) -> None:
    """Percentile ranks that fall in a crowded day, and in a day of their own."""
    history = History(session, 99)
    start = history.clock
    stages = current_stages(history.job)
    for index in range(30):
        candidate = create_candidate(session, {"name": f"E{index}"})
        application = create_application(
            session,
            {"candidate_id": candidate.id, "job_id": history.job.id, "applied_at": start},
            ACTOR,
        )
        act(
            session,
            application,
            "move",
            {"from_stage": stages[0].id, "to_stage": stages[1].id},
            ACTOR,
            at=start + timedelta(days=3 if index else 40),
        )
    job = history.job

    counted = counted_funnel(session, job)

    assert counted == scanned_funnel(session, job)
    assert counted["stages"][0]["days_in_stage"] == {"median": 3.0, "p90": 3.0}
