"""Candidates: create, read, list and filter, update with If-Match, conflicts, erasure, contact
fields only for keys with candidates:pii."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import Candidate, CandidateCompetency, IdempotencyRecord, Match
from tests.api.test_ops_and_errors import assert_problem
from tests.conftest import bearer

URL = "/v1/candidates"


def candidate_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+44 20 7946 0000",
        "headline": "Program lead, analytical engines",
        "years_experience": 7.5,
        "competencies": [
            {"competency": "project-lifecycle", "level": 4, "years": 5, "last_used": "2026-06"},
            {"competency": "technical-depth", "level": 3, "evidence": "interview"},
        ],
    }
    body.update(overrides)
    return body


def create(client: FlaskClient, headers: dict[str, str], **overrides: Any) -> Any:
    response = client.post(URL, json=candidate_body(**overrides), headers=headers)
    assert response.status_code == 201, response.data
    return response


@pytest.fixture
def admin(admin_headers: dict[str, str]) -> dict[str, str]:
    return admin_headers


def count(session: Session, model: Any) -> int:
    session.rollback()  # a fresh snapshot: see what the requests committed
    return session.scalar(select(func.count()).select_from(model)) or 0


# --- create and read ------------------------------------------------------------------------


def test_create_returns_201_location_etag_and_the_stored_candidate(
    client: FlaskClient, admin
) -> None:
    response = create(client, admin, external_id="gh-1", source="greenhouse")
    body = response.get_json()
    assert response.headers["Location"] == f"{URL}/{body['id']}"
    assert response.headers["ETag"]
    assert body["name"] == "Ada Lovelace"
    assert body["email"] == "ada@example.com"
    assert body["source"] == "greenhouse" and body["external_id"] == "gh-1"
    assert body["competencies"][0] == {
        "competency": "project-lifecycle",
        "level": 4,
        "years": 5.0,
        "last_used": "2026-06",
        "evidence": "self",
        "note": None,
    }
    assert body["competencies"][1]["evidence"] == "interview"
    assert body["created_at"].endswith("Z") and body["updated_at"].endswith("Z")

    fetched = client.get(response.headers["Location"], headers=admin)
    assert fetched.status_code == 200
    assert fetched.get_json() == body
    assert fetched.headers["ETag"] == response.headers["ETag"]


def test_ids_are_uuids_and_unknown_ids_are_404(client: FlaskClient, admin) -> None:
    body = create(client, admin).get_json()
    assert len(body["id"]) == 36 and body["id"].count("-") == 4
    assert_problem(client.get(f"{URL}/01890000-0000-7000-8000-000000000000", headers=admin), 404)
    assert_problem(client.get(f"{URL}/42", headers=admin), 404)


def test_competency_names_resolve_through_aliases_case_and_spacing_insensitively(
    client: FlaskClient, admin
) -> None:
    body = create(
        client,
        admin,
        competencies=[
            {"competency": "  Project   MANAGEMENT ", "level": 4},
            {"competency": "Stakeholder-Communication", "level": 2},
            {"competency": "OKRs", "level": 3},
        ],
    ).get_json()
    assert [r["competency"] for r in body["competencies"]] == [
        "project-lifecycle",
        "stakeholder-communication",
        "strategic-alignment",
    ]


@pytest.mark.parametrize(
    ("typo", "closest"),
    [
        ("stakeholder comunication", "stakeholder-communication"),
        ("Projct Managment", "project-lifecycle"),  # close to an alias: named by its key
    ],
)
def test_unknown_competency_is_422_naming_the_closest_known(
    client: FlaskClient, admin, typo: str, closest: str
) -> None:
    response = client.post(
        URL,
        json=candidate_body(
            competencies=[
                {"competency": "project-lifecycle" if "takeholder" in typo else "okrs", "level": 3},
                {"competency": typo, "level": 3},
            ]
        ),
        headers=admin,
    )
    body = assert_problem(response, 422)
    message = " ".join(body["errors"]["competencies.1.competency"])
    assert typo in message
    assert closest in message
    assert count_candidates(client, admin) == 0


def test_a_name_close_to_nothing_is_still_a_422(client: FlaskClient, admin) -> None:
    response = client.post(
        URL, json=candidate_body(competencies=[{"competency": "zzzz", "level": 1}]), headers=admin
    )
    assert "zzzz" in assert_problem(response, 422)["errors"]["competencies.0.competency"][0]


def test_same_competency_twice_through_an_alias_is_422(client: FlaskClient, admin) -> None:
    response = client.post(
        URL,
        json=candidate_body(
            competencies=[
                {"competency": "project-lifecycle", "level": 3},
                {"competency": "Project Management", "level": 4},
            ]
        ),
        headers=admin,
    )
    body = assert_problem(response, 422)
    assert "competencies.1.competency" in body["errors"]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"competency": "technical-depth", "level": 6}, "level"),
        ({"competency": "technical-depth", "level": -1}, "level"),
        ({"competency": "technical-depth", "level": "4"}, "level"),
        ({"competency": "technical-depth", "level": 3, "evidence": "gut"}, "evidence"),
        ({"competency": "technical-depth", "level": 3, "last_used": "June"}, "last_used"),
        ({"competency": "technical-depth", "level": 3, "note": "x" * 1001}, "note"),
        ({"competency": "technical-depth", "level": 3, "score": 99}, "score"),
        ({"level": 3}, "competency"),
    ],
)
def test_invalid_record_is_422_with_the_field_path(
    client: FlaskClient, admin, record: dict[str, Any], field: str
) -> None:
    response = client.post(URL, json=candidate_body(competencies=[record]), headers=admin)
    body = assert_problem(response, 422)
    assert f"competencies.0.{field}" in body["errors"]


def test_more_than_200_records_is_422(client: FlaskClient, admin) -> None:
    records = [{"competency": "technical-depth", "level": 3}] * 201
    body = assert_problem(
        client.post(URL, json=candidate_body(competencies=records), headers=admin), 422
    )
    assert "competencies" in body["errors"]


def test_external_id_without_source_is_422(client: FlaskClient, admin) -> None:
    body = assert_problem(
        client.post(URL, json=candidate_body(external_id="x"), headers=admin), 422
    )
    assert "source" in body["errors"]


# --- list and filters -----------------------------------------------------------------------


def count_candidates(client: FlaskClient, headers: dict[str, str]) -> int:
    return len(client.get(f"{URL}?limit=200", headers=headers).get_json()["data"])


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.data
    return [c["id"] for c in response.get_json()["data"]]


def test_list_is_in_creation_order_with_records(client: FlaskClient, admin) -> None:
    created = [create(client, admin, name=f"C{i}").get_json() for i in range(3)]
    response = client.get(URL, headers=admin)
    body = response.get_json()
    assert [c["id"] for c in body["data"]] == [c["id"] for c in created]
    assert body["next_cursor"] is None and "Link" not in response.headers
    assert body["data"][0]["competencies"] == created[0]["competencies"]


def test_filter_by_source_and_external_id(client: FlaskClient, admin) -> None:
    a = create(client, admin, source="greenhouse", external_id="1").get_json()["id"]
    b = create(client, admin, source="lever", external_id="1").get_json()["id"]
    c = create(client, admin, source="greenhouse", external_id="2").get_json()["id"]
    create(client, admin)
    assert ids(client.get(f"{URL}?source=greenhouse", headers=admin)) == [a, c]
    assert ids(client.get(f"{URL}?external_id=1", headers=admin)) == [a, b]
    assert ids(client.get(f"{URL}?source=lever&external_id=1", headers=admin)) == [b]
    assert ids(client.get(f"{URL}?source=workday", headers=admin)) == []


def test_filter_q_is_a_case_insensitive_substring_of_name_or_headline(
    client: FlaskClient, admin
) -> None:
    grace = create(client, admin, name="Grace Hopper", headline="Compiler pioneer").get_json()
    alan = create(client, admin, name="Alan Turing", headline="Codebreaker").get_json()
    create(client, admin, name="Edsger Dijkstra", headline="Structured programming")
    assert ids(client.get(f"{URL}?q=HOPPER", headers=admin)) == [grace["id"]]
    assert ids(client.get(f"{URL}?q=breaker", headers=admin)) == [alan["id"]]
    # LIKE wildcards in q are literal characters, not patterns.
    assert ids(client.get(f"{URL}?q=%25", headers=admin)) == []
    assert ids(client.get(f"{URL}?q=_", headers=admin)) == []


def test_filter_updated_after(client: FlaskClient, admin) -> None:
    old = create(client, admin, name="Old").get_json()
    time.sleep(1.05)
    new = create(client, admin, name="New").get_json()
    # updated_at is shown to the second; "after the moment old was written" excludes it.
    since = old["updated_at"]
    listed = ids(client.get(URL, query_string={"updated_after": since}, headers=admin))
    assert new["id"] in listed
    later = client.get(URL, query_string={"updated_after": new["updated_at"]}, headers=admin)
    assert old["id"] not in ids(later)
    offset = client.get(
        URL, query_string={"updated_after": "2000-01-01T01:00:00+01:00"}, headers=admin
    )
    assert ids(offset) == [old["id"], new["id"]]
    # A time without a zone is ambiguous.
    assert_problem(
        client.get(URL, query_string={"updated_after": "2026-01-01T00:00:00"}, headers=admin), 422
    )
    assert_problem(client.get(f"{URL}?updated_after=yesterday", headers=admin), 422)


def test_patch_moves_a_candidate_into_updated_after(client: FlaskClient, admin) -> None:
    first = create(client, admin, name="First")
    create(client, admin, name="Second")
    time.sleep(1.05)
    cutoff = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    patched = client.patch(
        first.headers["Location"],
        json={"headline": "changed"},
        headers={**admin, "If-Match": first.headers["ETag"]},
    )
    assert patched.status_code == 200
    assert ids(client.get(URL, query_string={"updated_after": cutoff}, headers=admin)) == [
        first.get_json()["id"]
    ]


# --- update -----------------------------------------------------------------------------------


def test_patch_needs_if_match_rejects_stale_and_accepts_current(
    client: FlaskClient, admin, session: Session
) -> None:
    created = create(client, admin)
    url, etag = created.headers["Location"], created.headers["ETag"]

    assert_problem(client.patch(url, json={"headline": "x"}, headers=admin), 428)

    ok = client.patch(url, json={"headline": "Analyst"}, headers={**admin, "If-Match": etag})
    assert ok.status_code == 200, ok.data
    assert ok.get_json()["headline"] == "Analyst"
    new_etag = ok.headers["ETag"]
    assert new_etag != etag

    stale = client.patch(url, json={"headline": "Lost"}, headers={**admin, "If-Match": etag})
    assert_problem(stale, 412)
    got = client.get(url, headers=admin)
    assert got.get_json()["headline"] == "Analyst"
    assert got.headers["ETag"] == new_etag


def test_patch_changes_only_the_fields_sent(client: FlaskClient, admin) -> None:
    created = create(client, admin)
    before = created.get_json()
    response = client.patch(
        created.headers["Location"],
        json={"headline": "New headline"},
        headers={**admin, "If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 200, response.data
    after = response.get_json()
    assert after["headline"] == "New headline"
    assert after["name"] == before["name"]
    assert after["email"] == before["email"]
    assert after["competencies"] == before["competencies"]


def test_patch_with_competencies_replaces_them(client: FlaskClient, admin) -> None:
    created = create(client, admin)
    response = client.patch(
        created.headers["Location"],
        json={"competencies": [{"competency": "business case", "level": 2}]},
        headers={**admin, "If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 200, response.data
    assert [r["competency"] for r in response.get_json()["competencies"]] == ["business-acumen"]


def test_patch_rejects_nulling_name_and_server_owned_fields(client: FlaskClient, admin) -> None:
    created = create(client, admin)
    headers = {**admin, "If-Match": created.headers["ETag"]}
    for body in ({"name": None}, {"id": created.get_json()["id"]}, {"updated_at": "x"}):
        assert_problem(client.patch(created.headers["Location"], json=body, headers=headers), 422)
    assert (
        client.get(created.headers["Location"], headers=admin).headers["ETag"]
        == (created.headers["ETag"])
    )


def test_put_competencies_replaces_the_list(client: FlaskClient, admin) -> None:
    created = create(client, admin)
    url = created.headers["Location"] + "/competencies"
    new = [
        {"competency": "Budgeting", "level": 5, "evidence": "work-sample"},
        {"competency": "change-management", "level": 1},
    ]
    assert_problem(client.put(url, json={"competencies": new}, headers=admin), 428)
    response = client.put(
        url, json={"competencies": new}, headers={**admin, "If-Match": created.headers["ETag"]}
    )
    assert response.status_code == 200, response.data
    records = response.get_json()["competencies"]
    assert [(r["competency"], r["level"], r["evidence"]) for r in records] == [
        ("business-acumen", 5, "work-sample"),
        ("change-management", 1, "self"),
    ]
    assert client.get(created.headers["Location"], headers=admin).get_json()["competencies"] == (
        records
    )
    stale = client.put(
        url, json={"competencies": []}, headers={**admin, "If-Match": created.headers["ETag"]}
    )
    assert_problem(stale, 412)
    emptied = client.put(
        url, json={"competencies": []}, headers={**admin, "If-Match": response.headers["ETag"]}
    )
    assert emptied.status_code == 200
    assert emptied.get_json()["competencies"] == []


def test_put_competencies_with_an_unknown_name_writes_nothing(client: FlaskClient, admin) -> None:
    created = create(client, admin)
    response = client.put(
        created.headers["Location"] + "/competencies",
        json={"competencies": [{"competency": "juggling", "level": 3}]},
        headers={**admin, "If-Match": created.headers["ETag"]},
    )
    assert_problem(response, 422)
    got = client.get(created.headers["Location"], headers=admin)
    assert got.get_json()["competencies"] == created.get_json()["competencies"]
    assert got.headers["ETag"] == created.headers["ETag"]


# --- conflicts ------------------------------------------------------------------------------


def test_duplicate_source_and_external_id_is_409_naming_the_existing_id(
    client: FlaskClient, admin, session: Session
) -> None:
    first = create(client, admin, source="greenhouse", external_id="42").get_json()
    response = client.post(
        URL, json=candidate_body(source="greenhouse", external_id="42"), headers=admin
    )
    body = assert_problem(response, 409)
    assert body["existing_id"] == first["id"]
    assert count(session, Candidate) == 1
    # The same external id from another source is another person.
    create(client, admin, source="lever", external_id="42")


def test_patch_into_an_existing_source_and_external_id_is_409(client: FlaskClient, admin) -> None:
    first = create(client, admin, source="greenhouse", external_id="1").get_json()
    second = create(client, admin, source="greenhouse", external_id="2")
    response = client.patch(
        second.headers["Location"],
        json={"external_id": "1"},
        headers={**admin, "If-Match": second.headers["ETag"]},
    )
    assert assert_problem(response, 409)["existing_id"] == first["id"]
    assert client.get(second.headers["Location"], headers=admin).get_json()["external_id"] == "2"


def test_patch_cannot_leave_an_external_id_without_a_source(client: FlaskClient, admin) -> None:
    created = create(client, admin, source="greenhouse", external_id="1")
    response = client.patch(
        created.headers["Location"],
        json={"source": None},
        headers={**admin, "If-Match": created.headers["ETag"]},
    )
    assert "source" in assert_problem(response, 422)["errors"]


# --- erasure --------------------------------------------------------------------------------


def test_delete_erases_the_candidate_and_everything_derived(
    client: FlaskClient, admin, session: Session
) -> None:
    keep = create(client, admin, name="Keep").get_json()["id"]
    created = client.post(
        URL, json=candidate_body(name="Erase me"), headers={**admin, "Idempotency-Key": "erase-1"}
    )
    url = created.headers["Location"]
    cid = created.get_json()["id"]
    assert client.get(f"{url}/matches", headers=admin).status_code == 200
    assert count(session, Match) > 0

    assert client.delete(url, headers=admin).status_code == 204

    assert_problem(client.get(url, headers=admin), 404)
    assert_problem(client.patch(url, json={"name": "x"}, headers={**admin, "If-Match": '"1"'}), 404)
    assert_problem(client.put(f"{url}/competencies", json={"competencies": []}, headers=admin), 404)
    assert_problem(client.get(f"{url}/matches", headers=admin), 404)
    assert_problem(client.delete(url, headers=admin), 404)
    assert ids(client.get(URL, headers=admin)) == [keep]

    session.rollback()
    assert session.get(Candidate, uuid.UUID(cid)) is None
    for model in (CandidateCompetency, Match):
        column = model.candidate_id
        assert session.scalar(select(func.count()).where(column == uuid.UUID(cid))) == 0
    # The stored response of the create (it holds the contact data) is gone too.
    assert count(session, IdempotencyRecord) == 0
    assert count(session, Candidate) == 1


def test_delete_needs_the_erase_scope(client: FlaskClient, admin, make_key) -> None:
    url = create(client, admin).headers["Location"]
    assert_problem(client.delete(url, headers=bearer(make_key("recruiter"))), 403)
    assert client.get(url, headers=admin).status_code == 200
    assert client.delete(url, headers=bearer(make_key("hr-system"))).status_code == 204


# --- contact fields -------------------------------------------------------------------------


def test_dashboard_key_never_sees_contact_fields(client: FlaskClient, admin, make_key) -> None:
    created = create(client, admin).get_json()
    dashboard = bearer(make_key("dashboard"))
    one = client.get(f"{URL}/{created['id']}", headers=dashboard)
    assert one.status_code == 200
    listed = client.get(URL, headers=dashboard)
    assert listed.status_code == 200
    for body in (one.get_json(), *listed.get_json()["data"]):
        assert "email" not in body and "phone" not in body
        assert body["name"] == "Ada Lovelace"
    for response in (one, listed):
        assert b"ada@example.com" not in response.data and b"7946" not in response.data


def test_keys_with_pii_see_contact_fields(client: FlaskClient, admin, make_key) -> None:
    created = create(client, bearer(make_key("recruiter"))).get_json()
    assert created["email"] == "ada@example.com"
    hr = client.get(f"{URL}/{created['id']}", headers=bearer(make_key("hr-system"))).get_json()
    assert hr["phone"] == "+44 20 7946 0000"


def test_dashboard_key_cannot_write(client: FlaskClient, admin, make_key) -> None:
    created = create(client, admin)
    dashboard = bearer(make_key("dashboard"))
    assert_problem(client.post(URL, json=candidate_body(), headers=dashboard), 403)
    response = client.patch(
        created.headers["Location"],
        json={"email": "new@example.com"},
        headers={**dashboard, "If-Match": created.headers["ETag"]},
    )
    assert_problem(response, 403)
    assert client.get(created.headers["Location"], headers=admin).get_json()["email"] == (
        "ada@example.com"
    )


def test_a_key_without_pii_cannot_write_or_see_contact_fields(
    client: FlaskClient, admin, session: Session, make_key
) -> None:
    """No preset has candidates:write without candidates:pii; a narrowed key proves the rule."""
    token = make_key("recruiter", without={"candidates:pii"})
    writer = bearer(token)

    for contact in ({"email": "x@example.com"}, {"phone": "+1 555 0100"}):
        body = {**candidate_body(email=None, phone=None), **contact}
        response = client.post(URL, json=body, headers=writer)
        assert_problem(response, 403)
    assert count(session, Candidate) == 0

    response = client.post(URL, json=candidate_body(email=None, phone=None), headers=writer)
    assert response.status_code == 201
    assert "email" not in response.get_json() and "phone" not in response.get_json()

    existing = create(client, admin)
    patched = client.patch(
        existing.headers["Location"],
        json={"phone": None},
        headers={**writer, "If-Match": existing.headers["ETag"]},
    )
    assert_problem(patched, 403)
    assert client.get(existing.headers["Location"], headers=admin).get_json()["phone"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "x" * 201),
        ("headline", "x" * 301),
        ("email", "not-an-email"),
        ("email", "a" * 310 + "@example.com"),
        ("phone", "call me"),
        ("source", "s" * 65),
        ("years_experience", -1),
        ("years_experience", 81),
    ],
)
def test_invalid_profile_fields_are_422(client: FlaskClient, admin, field: str, value: Any) -> None:
    extra = {"external_id": "e-1"} if field == "source" else {}
    body = assert_problem(
        client.post(URL, json=candidate_body(**{field: value}, **extra), headers=admin), 422
    )
    assert field in body["errors"]
