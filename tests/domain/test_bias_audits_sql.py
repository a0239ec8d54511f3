"""The SQL half of a bias audit (``service.domain.bias_audits.aggregate``) on the real backend.

Random populations are written straight into ``matches`` and ``self_identifications`` (with
many ties, odd and even sizes, declined and missing answers); the median and the per-answer
counts that SQL returns must be those the test computes person by person, which
``tests/unit/test_bias_audit_math.py`` proves make the independent reference's report.
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings

from service.domain import bias_audits
from service.infra.database import Database
from service.infra.orm import utcnow
from service.models import Candidate, Match, Role, SelfIdentification
from tests.unit.test_bias_audit_math import PEOPLE, Person, aggregates_of


def _store(database: Database, people: list[Person]) -> Role:
    now = utcnow()
    with database.session() as session:
        role = Role(key=f"sql-{uuid.uuid4().hex[:12]}", current_version=1, scored_month=10**6)
        session.add(role)
        session.flush()
        for score, selected, sex, race in people:
            candidate = Candidate(name="x", records_digest="")
            session.add(candidate)
            session.flush()
            session.add(
                Match(
                    role_id=role.id,
                    candidate_id=candidate.id,
                    role_version=1,
                    model_version="v1",
                    score_hundredths=score,
                    must_haves_met=selected,
                    band="strong" if selected else "weak",
                    rank_key=score,
                    as_of_month=0,
                    inputs_hash="",
                    computed_at=now,
                    candidate_name="x",
                )
            )
            if sex is not None or race is not None:
                session.add(
                    SelfIdentification(candidate_id=candidate.id, sex=sex, race_ethnicity=race)
                )
        session.commit()
        session.expunge(role)
    return role


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(people=PEOPLE)
def test_sql_aggregates_match_a_person_by_person_count(
    database: Database, people: list[Person]
) -> None:
    role = _store(database, people)
    request = bias_audits.AuditRequest(role_key=role.key, job_id=None, selection="must-haves-met")
    with database.session() as session:
        got = bias_audits.aggregate(session, bias_audits._role_population(role, request))
    want = aggregates_of(people)
    assert got.population == want.population
    assert got.twice_median_hundredths == want.twice_median_hundredths
    key = lambda c: (c.sex or "", c.race_ethnicity or "")  # noqa: E731
    assert sorted(got.cells, key=key) == sorted(want.cells, key=key)
    if people:
        assert (got.role_version, got.model_version) == (1, "v1")
