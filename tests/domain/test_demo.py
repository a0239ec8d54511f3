"""``rolefit demo``'s people: four in five answer the self-identification, the same for the
same seed, so that a bias audit of the demo compares categories instead of finding everyone
unknown."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.domain import bias_audits
from service.domain.demo import load_demo
from service.domain.demo_answers import load_demo_answers
from service.infra.database import Database
from service.models import Candidate, SelfIdentification
from tests.conftest import reset_database


def _answers(session: Session) -> list[tuple[str | None, str | None, str | None]]:
    rows = session.execute(
        select(Candidate.external_id, SelfIdentification.sex, SelfIdentification.race_ethnicity)
        .join(SelfIdentification, SelfIdentification.candidate_id == Candidate.id)
        .order_by(Candidate.external_id)
    )
    return [tuple(row) for row in rows]


def test_demo_people_answer_the_self_identification_deterministically(
    session: Session, database: Database
) -> None:
    load_demo(session, count=200, seed=7)
    assert _answers(session) == []  # the answers are a step of their own
    written = load_demo_answers(session, seed=7)
    first = _answers(session)
    assert written == len(first)
    assert 140 <= len(first) <= 180  # about four in five of 200
    assert {sex for _, sex, _ in first} == {"male", "female", "declined"}
    assert len({race for _, _, race in first}) >= 6
    assert load_demo_answers(session, seed=7) == 0  # nobody twice
    assert session.scalar(select(func.count()).select_from(SelfIdentification)) == len(first)

    report = bias_audits.run_audit(
        session, bias_audits.AuditRequest("tpm", None, "must-haves-met")
    ).report
    for dimension in report["dimensions"]:
        compared = [c for c in dimension["categories"] if c["n"] > 0]
        assert len(compared) >= 2, dimension
        assert dimension["unknown"] < report["population"] / 2, dimension
        assert sum(c["n"] for c in compared) + dimension["unknown"] == report["population"]

    session.commit()
    reset_database(database)
    with database.session() as again:
        load_demo(again, count=200, seed=7)
        load_demo_answers(again, seed=7)
        assert _answers(again) == first


def _people(session: Session) -> list[tuple[str | None, str, str | None, str | None]]:
    rows = session.execute(
        select(Candidate.external_id, Candidate.name, Candidate.headline, Candidate.records_digest)
        .where(Candidate.source == "demo")
        .order_by(Candidate.external_id)
    )
    return [tuple(row) for row in rows]


def test_parallel_shares_load_each_demo_candidate_once(
    session: Session, database: Database
) -> None:
    """``rolefit demo --loaders 3``: the shares together are the single load, no one twice."""
    created = [load_demo(session, count=1100, seed=7, share=(k, 3))[0] for k in (2, 0, 1)]
    assert created == [100, 500, 500]  # chunks of 500: the third share takes the last 100
    shared = _people(session)
    session.commit()
    reset_database(database)
    assert load_demo(session, count=1100, seed=7) == (1100, 0)
    assert _people(session) == shared
    assert load_demo(session, count=1100, seed=7, share=(1, 3)) == (0, 500)  # all there
