"""The built-in taxonomy and the tpm / tmp profiles, as service/data/builtin.yaml defines them."""

from __future__ import annotations

from sqlalchemy import select

from service.domain import catalog
from service.domain.builtin import builtin_data, load_builtin
from service.models import Competency

# The built-in profiles (README, "How a score is computed"): importance, level, must-have.
EXPECTED = {
    "technical-depth": ((5, 4, True), (3, 2, False)),
    "engineering-collaboration": ((5, 4, False), (3, 3, False)),
    "technical-requirements": ((5, 4, False), (2, 2, False)),
    "project-lifecycle": ((5, 4, False), (3, 3, False)),
    "stakeholder-communication": ((4, 3, False), (4, 4, False)),
    "program-oversight": ((2, 2, False), (5, 4, False)),
    "cross-functional-engagement": ((2, 2, False), (5, 4, False)),
    "strategic-alignment": ((2, 2, False), (5, 4, True)),
    "business-acumen": ((1, 2, False), (4, 3, False)),
    "change-management": ((1, 1, False), (4, 3, False)),
}


def test_builtin_profiles_match_the_design(session) -> None:
    for index, key in enumerate(("tpm", "tmp")):
        view = catalog.current(session).roles[key].responsibilities
        got = {r.competency: (r.importance, r.level, r.must_have) for r in view}
        assert got == {c: rows[index] for c, rows in EXPECTED.items()}


def test_every_builtin_responsibility_has_a_rationale() -> None:
    for role in builtin_data()["roles"]:
        for item in role["responsibilities"]:
            assert len(item["rationale"].split()) >= 8, (role["key"], item["competency"])


def test_reloading_never_overwrites_a_deployments_edits(session) -> None:
    competency = session.scalar(select(Competency).where(Competency.key == "business-acumen"))
    competency.name = "Commercial sense"
    session.commit()
    report = load_builtin(session)
    session.commit()
    assert report.competencies_added == [] and report.roles_added == []
    session.expire_all()
    assert (
        session.scalar(select(Competency.name).where(Competency.key == "business-acumen"))
        == "Commercial sense"
    )
