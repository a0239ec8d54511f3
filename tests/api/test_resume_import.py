"""POST /v1/candidates/import and ``rolefit import resume`` (issue 17), as a recruiter uses them.

The résumés are in ``tests/resumes/``: a technical program manager (``tpm``), a technology
program manager (``tmp``, with a misspelt skill and an unknown level word), and a pastry chef
whose résumé maps to nothing.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.cli import main
from service.domain.text import normalize_name
from service.models import AuditEvent, Candidate, CandidateCompetency
from tests.api.test_ops_and_errors import assert_problem
from tests.conftest import REPO_ROOT

URL = "/v1/candidates/import"
RESUMES = REPO_ROOT / "tests" / "resumes"


def resume(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RESUMES / f"{name}.resume.json").read_text())
    return loaded


def this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def at(document: Any, path: str) -> Any:
    """The value at a path as the mapping writes it: ``work[1].highlights[3]``."""
    value = document
    for name, indexes in re.findall(r"([^.\[\]]+)((?:\[\d+\])*)", path):
        value = value[name]
        for index in re.findall(r"\[(\d+)\]", indexes):
            value = value[int(index)]
    return value


def records(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["competency"]: r for r in body["mapping"]}


def count(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


# --- created, explained ---------------------------------------------------------------------


def test_a_tpm_resume_becomes_a_scored_candidate_with_every_record_explained(
    client, admin_headers
) -> None:
    response = client.post(URL, json=resume("tpm"), headers=admin_headers)
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert body["outcome"] == "created"
    assert body["replaces"] is None
    candidate = body["candidate"]
    assert response.headers["Location"].endswith(f"/v1/candidates/{candidate['id']}")
    assert response.headers["ETag"]
    assert candidate["name"] == "Grace Okafor"
    assert candidate["headline"] == "Technical Program Manager, platform infrastructure"
    assert candidate["source"] == "json-resume" and candidate["external_id"] is None
    assert candidate["email"] == "grace.okafor@example.com"
    assert candidate["phone"] == "+44 20 7946 0958"

    mapped = records(body)
    assert list(mapped) == [
        "technical-depth",
        "project-lifecycle",
        "technical-requirements",
        "engineering-collaboration",
        "stakeholder-communication",
    ]
    depth = mapped["technical-depth"]
    assert depth["level"] == 5 and depth["evidence"] == "self"
    assert depth["level_from"] == {
        "level": 5,
        "rule": "word",
        "path": "skills[0].level",
        "text": "Expert",
    }
    assert [s["path"] for s in depth["skills"]] == ["skills[0].name", "skills[0].keywords[0]"]
    # Only the old engineering job mentions systems design: it dates the record.
    assert [w["path"] for w in depth["work"]] == ["work[1].summary"]
    assert depth["last_used"] == "2021-02"
    assert depth["years"] == 5.5  # 2015-09 .. 2021-02: 66 months
    lifecycle = mapped["project-lifecycle"]
    assert [w["path"] for w in lifecycle["work"]] == [
        "work[0].highlights[0]",
        "work[1].highlights[0]",
    ]
    assert lifecycle["last_used"] == this_month()  # the current job has no end date
    assert mapped["stakeholder-communication"]["level"] == 3  # "Intermediate"
    assert mapped["engineering-collaboration"]["level"] == 5  # "Master"

    unmapped = {u["path"]: u for u in body["unmapped"]}
    assert unmapped["skills[0].keywords[1]"]["text"] == "Kubernetes"
    assert unmapped["skills[1].keywords[1]"]["text"] == "Scrum"
    assert body["ignored"] == []

    # The stored candidate is the answer's, records and all, and it is scored already.
    stored = client.get(f"/v1/candidates/{candidate['id']}", headers=admin_headers).get_json()
    assert stored["competencies"] == candidate["competencies"]
    assert [r["competency"] for r in stored["competencies"]] == list(mapped)
    note = stored["competencies"][0]["note"]
    assert "skills[0].name 'Systems design'" in note and "work[1]" in note
    matches = client.get(f"/v1/candidates/{candidate['id']}/matches", headers=admin_headers)
    scores = {m["role"]: m["score"] for m in matches.get_json()["matches"]}
    assert scores["tpm"] > scores["tmp"] > 0


def test_a_tmp_resume_leans_to_the_tmp_and_explains_its_unmapped_names(
    client, admin_headers
) -> None:
    body = client.post(URL, json=resume("tmp"), headers=admin_headers).get_json()
    mapped = records(body)
    assert set(mapped) >= {
        "strategic-alignment",
        "program-oversight",
        "cross-functional-engagement",
        "business-acumen",
        "change-management",
        "stakeholder-communication",
    }
    assert mapped["program-oversight"]["level_from"]["rule"] == "number"  # "5"
    assert mapped["program-oversight"]["level"] == 5
    assert mapped["change-management"]["level_from"] == {
        "level": 3,
        "rule": "unrecognized",
        "path": "skills[4].level",
        "text": "Guru",
    }
    # "Communication" has no level: the default.
    assert mapped["stakeholder-communication"]["level_from"]["rule"] == "absent"
    alignment = mapped["strategic-alignment"]
    assert {s["path"] for s in alignment["skills"]} == {
        "skills[0].name",
        "skills[0].keywords[0]",
        "skills[0].keywords[1]",
    }
    assert "work[0].highlights[0]" in {w["path"] for w in alignment["work"]}  # "OKRs"
    # 2016 .. 2019 are whole years: January to December.
    assert mapped["program-oversight"]["years"] >= 4.0
    misspelt = next(u for u in body["unmapped"] if u["path"] == "skills[5].name")
    assert misspelt["text"] == "Stakeholder managment"
    assert misspelt["suggestions"][0] == {
        "competency": "stakeholder-communication",
        "term": "stakeholder management",
    }
    fit = client.get(
        f"/v1/candidates/{body['candidate']['id']}/fit?roles=tpm,tmp", headers=admin_headers
    )
    assert fit.get_json()["leaning"] == "tmp"


def test_a_resume_that_maps_to_nothing_is_a_candidate_without_records(
    client, admin_headers
) -> None:
    response = client.post(URL, json=resume("nothing"), headers=admin_headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["mapping"] == [] and body["candidate"]["competencies"] == []
    assert [u["path"] for u in body["unmapped"]] == [
        "skills[0].name",
        "skills[0].keywords[0]",
        "skills[0].keywords[1]",
        "skills[1].name",
    ]
    for item in body["unmapped"]:
        assert len(item["suggestions"]) <= 3
    # Interests are not skills: "sourdough" is not looked up.
    assert "sourdough" not in {u["text"] for u in body["unmapped"]}


def test_suggestions_are_deterministic_and_bounded(client, admin_headers) -> None:
    document = {
        "basics": {"name": "Sam"},
        "skills": [{"name": "program managment"}, {"name": "strategic planing"}, {"name": "zz"}],
    }
    first = client.post(URL + "?dry_run=true", json=document, headers=admin_headers).get_json()
    again = client.post(URL + "?dry_run=true", json=document, headers=admin_headers).get_json()
    assert first["unmapped"] == again["unmapped"]
    by_text = {u["text"]: u["suggestions"] for u in first["unmapped"]}
    assert by_text["program managment"][0]["competency"] == "program-oversight"
    assert by_text["strategic planing"][0] == {
        "competency": "strategic-alignment",
        "term": "strategic planning",
    }
    assert by_text["zz"] == []


# --- replaced, dry run ------------------------------------------------------------------------


def test_the_same_source_and_external_id_replaces_the_records_and_rescoring_follows(
    client, admin_headers, session: Session
) -> None:
    query = "?source=greenhouse&external_id=gh-4711"
    first = client.post(URL + query, json=resume("tpm"), headers=admin_headers).get_json()
    candidate_id = first["candidate"]["id"]
    before = client.get(f"/v1/candidates/{candidate_id}/matches", headers=admin_headers)
    tpm_before = {m["role"]: m["score"] for m in before.get_json()["matches"]}["tpm"]

    # The same person, now with only stakeholder management on the résumé.
    changed = resume("tpm")
    changed["basics"]["label"] = "Program lead"
    changed["skills"] = [{"name": "Stakeholder management", "level": "expert"}]
    response = client.post(URL + query, json=changed, headers=admin_headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["outcome"] == "replaced"
    assert body["replaces"] == candidate_id == body["candidate"]["id"]
    assert body["candidate"]["headline"] == "Program lead"
    assert [r["competency"] for r in body["candidate"]["competencies"]] == [
        "stakeholder-communication"
    ]
    assert count(session, Candidate) == 1
    assert count(session, CandidateCompetency) == 1
    after = client.get(f"/v1/candidates/{candidate_id}/matches", headers=admin_headers)
    tpm_after = {m["role"]: m["score"] for m in after.get_json()["matches"]}["tpm"]
    assert tpm_after < tpm_before
    # Another source with the same external id is another candidate.
    other = client.post(
        URL + "?source=lever&external_id=gh-4711", json=changed, headers=admin_headers
    )
    assert other.get_json()["outcome"] == "created"
    assert count(session, Candidate) == 2
    actions = session.execute(
        select(AuditEvent.action, AuditEvent.resource_id)
        .where(AuditEvent.resource_type == "candidate", AuditEvent.resource_id == candidate_id)
        .order_by(AuditEvent.id)
    ).all()
    assert [a for a, _ in actions if a in ("create", "update")] == ["create", "update"]


def test_a_dry_run_answers_the_mapping_and_stores_nothing(
    client, admin_headers, session: Session
) -> None:
    response = client.post(
        URL + "?dry_run=true&source=ats&external_id=a-1", json=resume("tmp"), headers=admin_headers
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["outcome"] == "dry-run"
    assert body["candidate"] is None and body["replaces"] is None
    assert "Location" not in response.headers and "ETag" not in response.headers
    assert body["profile"]["name"] == "Mateo Lindqvist"
    assert body["mapping"]
    assert count(session, Candidate) == 0 and count(session, CandidateCompetency) == 0

    stored = client.post(
        URL + "?source=ats&external_id=a-1", json=resume("tmp"), headers=admin_headers
    )
    candidate = stored.get_json()["candidate"]
    # A dry run of a re-import says whom it would replace, and leaves them as they are.
    again = client.post(
        URL + "?dry_run=true&source=ats&external_id=a-1",
        json=resume("nothing"),
        headers=admin_headers,
    ).get_json()
    assert again["replaces"] == candidate["id"] and again["mapping"] == []
    now = client.get(f"/v1/candidates/{candidate['id']}", headers=admin_headers).get_json()
    assert now == candidate


# --- contact fields -----------------------------------------------------------------------------


def test_contact_fields_are_stored_and_shown_only_with_the_pii_scope(
    client, make_key, session: Session
) -> None:
    headers = {"Authorization": f"Bearer {make_key('recruiter', without={'candidates:pii'})}"}
    response = client.post(URL + "?source=ats&external_id=p-1", json=resume("tpm"), headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert "email" not in body["candidate"] and "phone" not in body["candidate"]
    assert "email" not in body["profile"] and "phone" not in body["profile"]
    assert [i["path"] for i in body["ignored"]] == ["basics.email", "basics.phone"]
    stored = session.scalars(select(Candidate)).one()
    assert stored.email is None and stored.phone is None

    pii = {"Authorization": f"Bearer {make_key('recruiter')}"}
    client.post(URL + "?source=ats&external_id=p-1", json=resume("tpm"), headers=pii)
    session.expire_all()
    assert session.scalars(select(Candidate)).one().email == "grace.okafor@example.com"

    # A replacement without the scope keeps the contact fields it cannot see.
    client.post(URL + "?source=ats&external_id=p-1", json=resume("tpm"), headers=headers)
    session.expire_all()
    assert session.scalars(select(Candidate)).one().phone == "+44 20 7946 0958"


def test_importing_needs_candidates_write(client, make_key) -> None:
    dashboard = {"Authorization": f"Bearer {make_key('dashboard')}"}
    assert_problem(client.post(URL, json=resume("tpm"), headers=dashboard), 403)
    assert_problem(client.post(URL, json=resume("tpm")), 401)


# --- bad input ------------------------------------------------------------------------------------


def test_a_document_that_is_not_json_resume_is_a_422_naming_every_path(
    client, admin_headers, session: Session
) -> None:
    document = resume("tpm")
    document["basics"]["name"] = 42
    document["work"][1]["startDate"] = "2015-13"
    document["skills"][2]["keywords"][0] = ["nested"]
    document["skills"][0]["level"] = 5
    body = assert_problem(client.post(URL, json=document, headers=admin_headers), 422)
    assert set(body["errors"]) == {
        "basics.name",
        "work[1].startDate",
        "skills[2].keywords[0]",
        "skills[0].level",
    }
    assert "YYYY-MM" in body["errors"]["work[1].startDate"][0]
    assert count(session, Candidate) == 0

    for bad in ([], "resume", {"skills": []}, {"basics": {}}):
        problem = assert_problem(client.post(URL, json=bad, headers=admin_headers), 422)
        assert problem["errors"]


def test_bounds_and_text_rules_are_422s_not_500s(client, admin_headers) -> None:
    def post(document: dict[str, Any]) -> dict[str, Any]:
        return assert_problem(client.post(URL, json=document, headers=admin_headers), 422)

    base = {"basics": {"name": "Ada"}}
    assert "skills" in post({**base, "skills": [{"name": "x"}] * 201})["errors"]
    assert "skills[0].keywords" in post({**base, "skills": [{"keywords": ["x"] * 51}]})["errors"]
    assert "skills[0].name" in post({**base, "skills": [{"name": "x" * 201}]})["errors"]
    assert "work" in post({**base, "work": [{}] * 101})["errors"]
    assert "basics.name" in post({"basics": {"name": "A\u0000da"}})["errors"]
    assert "basics.email" in post({"basics": {"name": "Ada", "email": "not-an-email"}})["errors"]
    assert "basics.phone" in post({"basics": {"name": "Ada", "phone": "call me"}})["errors"]
    raw = b'{"basics": {"name": "Ada"}, "skills": [{"name": "\\ud800"}]}'
    response = client.post(URL, data=raw, content_type="application/json", headers=admin_headers)
    assert list(assert_problem(response, 422)["errors"]) == ["skills[0].name"]
    assert_problem(
        client.post(URL, data=b"{not json", content_type="application/json", headers=admin_headers),
        400,
    )
    assert_problem(client.post(URL + "?dry_run=perhaps", json=base, headers=admin_headers), 422)
    assert_problem(client.post(URL + "?external_id=", json=base, headers=admin_headers), 422)


def test_unknown_sections_and_fields_are_ignored(client, admin_headers) -> None:
    document = resume("tpm")
    document["x-vendor"] = {"anything": [1, 2, 3]}
    document["basics"]["pronouns"] = "she/her"
    document["skills"][0]["years"] = 9  # not a JSON Resume field: ignored
    response = client.post(URL + "?dry_run=true", json=document, headers=admin_headers)
    assert response.status_code == 200
    assert response.get_json()["mapping"][0]["competency"] == "technical-depth"


def test_dates_a_year_alone_and_an_end_before_the_start(client, admin_headers) -> None:
    document = {
        "basics": {"name": "Ada"},
        "skills": [{"name": "Program management"}, {"name": "Process improvement"}],
        "work": [
            {"startDate": "2010", "endDate": "2011", "position": "Program management lead"},
            {"startDate": "2015-06-30", "endDate": "2014-01", "summary": "process  improvement"},
        ],
    }
    body = client.post(URL + "?dry_run=true", json=document, headers=admin_headers).get_json()
    mapped = records(body)
    assert mapped["program-oversight"]["years"] == 2.0  # January 2010 to December 2011
    assert mapped["program-oversight"]["last_used"] == "2011-12"
    assert mapped["change-management"]["last_used"] == "2014-01"
    assert mapped["change-management"]["years"] is None
    assert body["profile"]["years_experience"] == 2.0


# --- mapping paths, property-tested -----------------------------------------------------------

TERMS = [
    "Program Management",
    "OKRs",
    "stakeholder  management",
    "Scrum",
    "technical-depth",
    "P&L",
    "baking",
    "ROADMAPPING",
]
WORDS = st.sampled_from([*TERMS, "led", "the", "team", "of", "12", ";", "—", "okr"])
SENTENCE = st.lists(WORDS, max_size=8).map(" ".join)
SKILL = st.fixed_dictionaries(
    {"name": st.sampled_from(TERMS)},
    optional={
        "level": st.sampled_from(["Expert", "beginner", "4", "Guru", ""]),
        "keywords": st.lists(st.sampled_from(TERMS), max_size=4),
    },
)
JOB = st.fixed_dictionaries(
    {},
    optional={
        "position": SENTENCE,
        "summary": SENTENCE,
        "highlights": st.lists(SENTENCE, max_size=4),
        "startDate": st.sampled_from(["2012", "2018-04", "2020-02-29"]),
        "endDate": st.sampled_from(["2019", "2021-10-01"]),
    },
)
DOCUMENT = st.fixed_dictionaries(
    {
        "basics": st.just({"name": "Prop Erty"}),
        "skills": st.lists(SKILL, max_size=6),
        "work": st.lists(JOB, max_size=4),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(document=DOCUMENT)
def test_every_mapping_path_exists_and_holds_the_words_shown(
    client, admin_headers, document
) -> None:
    sent = copy.deepcopy(document)
    response = client.post(URL + "?dry_run=true", json=sent, headers=admin_headers)
    assert response.status_code == 200, response.data
    body = response.get_json()
    for record in body["mapping"]:
        for found in [*record["skills"], *record["work"]]:
            text = at(document, found["path"])
            assert found["text"] in text
            assert normalize_name(found["text"]) == found["term"]
        if record["work"]:
            assert record["last_used"] is not None
        assert record["level"] == record["level_from"]["level"]
        level_path = record["level_from"]["path"]
        if level_path is not None:
            assert at(document, level_path) == record["level_from"]["text"]
    for item in body["unmapped"]:
        assert at(document, item["path"]) == item["text"]
    keys = [r["competency"] for r in body["mapping"]]
    assert len(keys) == len(set(keys))


# --- the command line -------------------------------------------------------------------------


def test_the_cli_imports_files_and_prints_a_summary_per_file(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path, session: Session
) -> None:
    monkeypatch.setenv("ROLEFIT_DATABASE_URL", database_url)
    bad = tmp_path / "broken.json"
    bad.write_text(json.dumps({"basics": {"name": 7}}))
    files = [str(RESUMES / "tpm.resume.json"), str(RESUMES / "nothing.resume.json"), str(bad)]
    result = CliRunner().invoke(main, ["import", "resume", *files])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{files[0]}: created ")
    assert "'Grace Okafor': 5 record(s) [technical-depth 5," in lines[0]
    assert "unmapped: 'Kubernetes'" in lines[0]
    assert lines[1].startswith(f"{files[1]}: created ") and "0 record(s) [none]" in lines[1]
    assert lines[2] == f"{bad}: failed: " + lines[2].split(": failed: ", 1)[1]
    assert lines[3].startswith("  basics.name: ")
    stored = session.scalars(select(Candidate).order_by(Candidate.id)).all()
    assert [(c.source, c.external_id) for c in stored] == [
        ("json-resume", "tpm"),
        ("json-resume", "nothing"),
    ]
    assert stored[0].email == "grace.okafor@example.com"

    again = CliRunner().invoke(main, ["import", "resume", "--dry-run", files[0]])
    assert again.exit_code == 0
    assert "dry-run" in again.output and "(would be replaced)" in again.output
    replaced = CliRunner().invoke(main, ["import", "resume", files[0]])
    assert f"replaced {stored[0].id}" in replaced.output
    session.expire_all()
    assert len(session.scalars(select(Candidate)).all()) == 2
    actors = session.scalars(
        select(AuditEvent.action).where(AuditEvent.actor == "cli:import").order_by(AuditEvent.id)
    ).all()
    assert actors == ["create", "create", "update"]
