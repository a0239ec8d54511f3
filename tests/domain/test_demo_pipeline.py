"""``rolefit demo``'s pipeline: two jobs with a living funnel, the same for the same seed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain import funnel
from service.domain.demo import load_demo
from service.domain.demo_pipeline import load_demo_pipeline
from service.infra.database import Database
from service.models import Application, Job, Transition
from tests.conftest import reset_database

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _state(session: Session) -> list[Any]:
    """Everything the demo decided, independent of generated ids."""
    rows = session.execute(
        select(Job.title, Application.status, Application.source_channel, Transition.seq)
        .add_columns(Transition.kind, Transition.reason, Transition.occurred_at)
        .join(Application, Application.job_id == Job.id)
        .join(Transition, Transition.application_id == Application.id)
        .order_by(Job.title, Application.applied_at, Transition.seq)
    )
    return [tuple(row) for row in rows]


def test_the_demo_pipeline_is_alive_deterministic_and_loaded_once(
    session: Session, database: Database
) -> None:
    load_demo(session, count=200, seed=7)
    assert load_demo_pipeline(session, seed=7, now=NOW)[0] == 2
    first = _state(session)
    assert load_demo_pipeline(session, seed=7, now=NOW) == (0, 0)  # loading again adds nothing
    jobs = list(session.scalars(select(Job).order_by(Job.title)))
    assert [j.status for j in jobs] == ["open", "open"]
    for job in jobs:
        found = funnel.job_funnel(session, job)
        assert found["applications"] >= 10
        assert found["rejected"] > 0 and found["hired"] > 0
        assert 0 < found["hired"] <= job.openings
        assert found["stages"][-1]["reached"] > 0  # some reached the offer stage
    reasons = {row[5] for row in first if row[4] == "rejected"}
    assert {"weaker-than-others", "missing-must-have"} & reasons
    assert all(row[6] <= NOW for row in first)

    session.commit()
    reset_database(database)
    with database.session() as again:
        load_demo(again, count=200, seed=7)
        load_demo_pipeline(again, seed=7, now=NOW)
        assert _state(again) == first
