"""Every application's rank key equals its candidate's stored match for the job's role.

A job's ranked view walks the job's applications in the order of the rank key each one carries
(``ix_applications_job_rank``), so the copy must follow every write of the matches. Random
candidates (seeded) apply to a ``tpm`` and a ``tmp`` job, one by one and in batches, then go
through the domain's own use cases: records changed by PATCH and PUT, a profile-only PATCH,
role changes (every candidate rescored), the monthly rescore of every role, erasure. After
each, on both databases, the copies equal the matches and the job's ranked view is in the
order of the role's own ranking.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain import matching, roles
from service.domain.applications import Actor, create_application, create_many, job_ranking
from service.domain.candidates import (
    create_candidate,
    erase_candidate,
    replace_records,
    update_candidate,
)
from service.domain.jobs import create_job
from service.models import Application, Job, Match, Role

from .test_score_counts import _draft, _records

ACTOR = Actor(key_id=None, name="test")


def assert_copied(session: Session, when: str) -> None:
    session.flush()
    rows = session.execute(
        select(Application.id, Application.rank_key, Match.rank_key, Application.erased)
        .join(Job, Job.id == Application.job_id)
        .outerjoin(
            Match,
            (Match.role_id == Job.role_id) & (Match.candidate_id == Application.candidate_id),
        )
    ).all()
    assert rows, when
    for application_id, copied, stored, erased in rows:
        if erased:
            assert copied is None and stored is None, (when, application_id)
        else:
            assert copied == stored, (when, application_id, copied, stored)
    for job in session.scalars(select(Job)):
        page = job_ranking(session.connection(), job.id, limit=1000)
        expected = session.execute(
            select(Match.rank_key, Application.id)
            .join(Application, Application.candidate_id == Match.candidate_id)
            .where(Application.job_id == job.id, Match.role_id == job.role_id)
            .order_by(Match.rank_key.desc(), Application.id)
        ).all()
        assert [(r.view.match.rank_key, r.view.application.id) for r in page] == [
            tuple(row) for row in expected
        ], when


@pytest.mark.parametrize("seed", range(3))
def test_rank_keys_follow_every_write_of_the_matches(session: Session, seed: int) -> None:
    rnd = random.Random(seed)
    jobs = [
        create_job(session, {"title": f"{key} job", "role": key, "openings": 3, "status": "open"})
        for key in ("tpm", "tmp")
    ]
    people = [
        create_candidate(session, {"name": f"C{i}", "competencies": _records(rnd)})
        for i in range(rnd.randint(12, 20))
    ]
    for person in people[:6]:
        create_application(session, {"candidate_id": person.id, "job_id": jobs[0].id}, ACTOR)
    outcome = create_many(
        session,
        [
            (i, {"candidate_id": person.id, "job_id": jobs[i % 2].id})
            for i, person in enumerate(people[6:])
        ]
        + [
            (100 + i, {"candidate_id": p.id, "job_id": jobs[1].id})
            for i, p in enumerate(people[:4])
        ],
        ACTOR,
    )
    assert not outcome.failed
    assert_copied(session, "creations")

    for person in rnd.sample(people, 5):
        update_candidate(session, person, {"competencies": _records(rnd)})
    assert_copied(session, "PATCH with records")
    update_candidate(session, people[0], {"headline": "only the headline"})
    assert_copied(session, "PATCH of the profile")
    for person in rnd.sample(people, 5):
        replace_records(session, person, _records(rnd))
    assert_copied(session, "PUT competencies")

    for key in ("tpm", "tmp"):
        role = session.scalars(select(Role).where(Role.key == key)).one()
        roles.add_version(session, role, role.current_version, _draft(rnd, f"{key} v2"), None)
        assert_copied(session, f"a {key} role change")
    matching.rescore_all(session)
    assert_copied(session, "rescore of every role")

    session.expire_all()  # erasure reads the people afresh, as a request of its own would
    for person_id in [p.id for p in rnd.sample(people, 3)]:
        erase_candidate(session, person_id)
    assert_copied(session, "erasure")
    late = create_candidate(session, {"name": "Late", "competencies": _records(rnd)})
    create_application(session, {"candidate_id": late.id, "job_id": jobs[1].id}, ACTOR)
    assert_copied(session, "an application after it all")


def test_a_rescore_moves_rank_keys_but_not_the_applications_versions(session: Session) -> None:
    """A role change gives applications new rank keys without a new version (their ETags stay:
    a rescoring changes no application) and without a new ``updated_at``."""
    rnd = random.Random(11)
    job = create_job(session, {"title": "T", "role": "tpm", "openings": 1, "status": "open"})
    for i in range(10):
        person = create_candidate(session, {"name": f"U{i}", "competencies": _records(rnd)})
        create_application(session, {"candidate_id": person.id, "job_id": job.id}, ACTOR)
    session.commit()
    columns = (Application.id, Application.row_version, Application.updated_at)
    before = {row[0]: row for row in session.execute(select(*columns))}
    keys_before = dict(session.execute(select(Application.id, Application.rank_key)).all())
    tpm = session.scalars(select(Role).where(Role.key == "tpm")).one()
    roles.add_version(session, tpm, tpm.current_version, _draft(rnd, "TPM v2"), None)
    session.commit()
    assert {row[0]: row for row in session.execute(select(*columns))} == before
    keys_after = dict(session.execute(select(Application.id, Application.rank_key)).all())
    assert keys_after != keys_before  # the draft moved scores: the copies followed
    assert_copied(session, "after the role change")
