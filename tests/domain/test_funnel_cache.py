"""A worker's cached funnel is never stale: a change committed elsewhere (another worker's
session) gives the job a new count stamp, and the next read sees it; a change rolled back
leaves a stamp no later change can take."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.domain import funnel_counts
from service.domain.applications import Actor, act, create_application
from service.domain.candidates import create_candidate
from service.domain.funnel import counted_funnel, scanned_funnel
from service.domain.jobs import create_job, current_stages
from service.infra.database import Database
from service.infra.stamped_cache import StampedCache
from service.models import Application, Job

ACTOR = Actor(key_id=None, name="test")


def test_a_change_in_another_session_is_seen_at_once(session: Session, database: Database) -> None:
    job = create_job(session, {"title": "Cached", "role": "tpm", "openings": 2, "status": "open"})
    person = create_candidate(session, {"name": "First"})
    application = create_application(session, {"candidate_id": person.id, "job_id": job.id}, ACTOR)
    session.commit()
    job_id, application_id = job.id, application.id
    first = counted_funnel(session, job)
    assert first["active"] == 1 and first["stages"][0]["current"] == 1
    session.commit()

    with database.session() as other:  # another worker moves the application
        moved = other.get_one(Application, application_id)
        stages = current_stages(other.get_one(Job, job_id))
        act(other, moved, "move", {"from_stage": stages[0].id, "to_stage": stages[1].id}, ACTOR)
        other.commit()

    session.expire_all()
    job = session.get_one(Job, job_id)
    second = counted_funnel(session, job)
    assert second != first
    assert second["stages"][0]["current"] == 0 and second["stages"][1]["current"] == 1
    assert second == scanned_funnel(session, job)
    assert counted_funnel(session, job) == second  # and again, from the cache


def test_a_rolled_back_change_leaves_its_stamp_unused(session: Session) -> None:
    job = create_job(session, {"title": "Rolled", "role": "tpm", "openings": 2, "status": "open"})
    person = create_candidate(session, {"name": "Only"})
    create_application(session, {"candidate_id": person.id, "job_id": job.id}, ACTOR)
    session.commit()
    committed = funnel_counts.count_stamp(session, job.id)
    second = create_candidate(session, {"name": "Second"})
    create_application(session, {"candidate_id": second.id, "job_id": job.id}, ACTOR)
    inside = funnel_counts.count_stamp(session, job.id)
    assert counted_funnel(session, job)["applications"] == 2  # read (and kept) inside
    session.rollback()
    assert funnel_counts.count_stamp(session, job.id) == committed != inside
    assert counted_funnel(session, session.get_one(Job, job.id))["applications"] == 1


def test_the_stamped_cache_gives_a_value_only_for_its_stamp() -> None:
    cache: StampedCache[str] = StampedCache(size=2)
    cache.put("a", 1, "a at 1")
    assert cache.get("a", 1) == "a at 1"
    assert cache.get("a", 2) is None  # a new stamp: read again
    assert cache.get("a", None) is None
    cache.put("b", None, "never kept")
    assert cache.get("b", None) is None
    cache.put("b", 1, "b")
    cache.get("a", 1)  # a is now the most recently used
    cache.put("c", 1, "c")  # over the size: b goes
    assert cache.get("b", 1) is None
    assert cache.get("a", 1) == "a at 1" and cache.get("c", 1) == "c"
