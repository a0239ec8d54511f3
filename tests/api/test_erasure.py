"""Erasure: DELETE removes a candidate's personal data from every table for good, leaves a
tombstone and the audit events (ids only), and the id is 404 everywhere from then on. Legal
hold: set by keys that may erase, and a held candidate is not erased."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from service.infra.database import Database
from service.infra.orm import Base
from service.models import CandidateTombstone
from tests.api.test_audit import key_id
from tests.api.test_ops_and_errors import assert_problem
from tests.conftest import bearer

PERSONAL = {
    "name": "Zelda Quixote-Erasure",
    "email": "zelda.erasure@example.org",
    "phone": "+44 7700 900123",
    "external_id": "ext-erase-7731",
    "headline": "Erasure headline 4411",
}
NOTE = "erasure note 9087"
# What a recruiter writes about the person in the pipeline.
PIPELINE = {
    "detail": "referred by Zelda's cousin 6161",
    "move": "erasure move note 7272",
    "reject": "erasure rejection note 8383",
}
LATER = {"headline": "Erasure headline patched 5522", "note": "erasure note replaced 3344"}
KEEPER = {
    "name": "Kept Person-Survivor",
    "email": "kept.survivor@example.org",
    "phone": "+44 7700 900999",
    "external_id": "ext-keep-1",
    "headline": "Kept headline 8080",
}


def dump_every_table(database: Database) -> str:
    """Every row of every table the models define, as text."""
    lines = []
    with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(table.select()):
                lines.append(f"{table.name}: {tuple(row)}")
    return "\n".join(lines)


def candidate_routes(app: Flask) -> list[tuple[str, str]]:
    """(rule, method) of every route that takes a candidate id, from the URL map."""
    return sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if "<uuid:candidate_id>" in rule.rule
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    )


BODIES: dict[str, Any] = {
    "PATCH": {"name": "x"},
    "PUT": {"competencies": []},
}
# Routes whose body is not the method's usual one, so that the request gets past its schema.
BODIES_BY_RULE: dict[str, Any] = {
    "/v1/candidates/<uuid:candidate_id>/self-identification": {"sex": "female"},
}


def request_everywhere(
    app: Flask, client: FlaskClient, headers: dict[str, str], candidate_id: str
) -> dict[tuple[str, str], int]:
    statuses = {}
    for rule, method in candidate_routes(app):
        url = re.sub(r"<uuid:candidate_id>", candidate_id, rule)
        response = client.open(
            url,
            method=method,
            json=BODIES_BY_RULE.get(rule, BODIES.get(method)),
            headers={**headers, "If-Match": "*"},
        )
        statuses[(rule, method)] = response.status_code
    return statuses


def test_erasure_leaves_no_personal_data_in_any_table(
    app: Flask, client: FlaskClient, make_key, database: Database
) -> None:
    token = make_key("hr-system")
    hr = bearer(token)
    records = [
        {"competency": "technical-depth", "level": 4, "note": NOTE},
        {"competency": "project-lifecycle", "level": 3, "evidence": "interview"},
    ]
    created = client.post(
        "/v1/candidates",
        json={**PERSONAL, "source": "greenhouse", "competencies": records},
        headers={**hr, "Idempotency-Key": "erase-create"},
    )
    assert created.status_code == 201
    cid = created.get_json()["id"]
    batch = client.post(
        "/v1/candidates/batch",
        json={
            "candidates": [
                {**KEEPER, "source": "greenhouse", "competencies": records[1:]},
                {"name": "Dup", "source": "greenhouse", "external_id": PERSONAL["external_id"]},
            ]
        },
        headers={**hr, "Idempotency-Key": "erase-batch"},
    ).get_json()["results"]
    assert [r["status"] for r in batch] == [201, 409]  # the 409 names the candidate's id
    keeper = batch[0]["id"]
    etag = client.get(f"/v1/candidates/{cid}", headers=hr).headers["ETag"]
    patched = client.patch(
        f"/v1/candidates/{cid}",
        json={"headline": LATER["headline"]},
        headers={**hr, "If-Match": etag},
    )
    assert patched.status_code == 200
    replaced = client.put(
        f"/v1/candidates/{cid}/competencies",
        json={
            "competencies": [{"competency": "technical-depth", "level": 5, "note": LATER["note"]}]
        },
        headers={**hr, "If-Match": patched.headers["ETag"]},
    )
    assert replaced.status_code == 200
    for url in (f"/v1/candidates/{cid}/matches", "/v1/roles/tpm/matches", "/v1/candidates"):
        assert client.get(url, headers=hr).status_code == 200
    job = client.post(
        "/v1/jobs", json={"title": "Erasure job", "role": "tpm", "status": "open"}, headers=hr
    ).get_json()
    application = client.post(
        "/v1/applications",
        json={
            "candidate_id": cid,
            "job_id": job["id"],
            "source": {"channel": "referral", "detail": PIPELINE["detail"]},
        },
        headers=hr,
    )
    assert application.status_code == 201, application.data
    app_id, stages = application.get_json()["id"], [s["id"] for s in job["stages"]]
    moved = client.post(
        f"/v1/applications/{app_id}/move",
        json={"from_stage": stages[0], "to_stage": stages[1], "note": PIPELINE["move"]},
        headers={**hr, "If-Match": application.headers["ETag"]},
    )
    rejected = client.post(
        f"/v1/applications/{app_id}/reject",
        json={"reason": "weaker-than-others", "note": PIPELINE["reject"]},
        headers={**hr, "If-Match": moved.headers["ETag"]},
    )
    assert rejected.status_code == 200, rejected.data
    identified = client.put(
        f"/v1/candidates/{cid}/self-identification",
        json={"sex": "female", "race_ethnicity": "two-or-more-races"},
        headers=hr,
    )
    assert identified.status_code == 204
    funnel_before = client.get(f"/v1/jobs/{job['id']}/funnel", headers=hr).get_json()
    before = dump_every_table(database)
    assert "self_identifications: " in before
    assert PERSONAL["email"] in before and LATER["note"] in before  # the dump sees the data
    assert all(value in before for value in PIPELINE.values())

    assert client.delete(f"/v1/candidates/{cid}", headers=hr).status_code == 204
    app.extensions["rolefit.audit"].flush()

    after = dump_every_table(database)
    for value in [*PERSONAL.values(), NOTE, *LATER.values(), *PIPELINE.values()]:
        assert value not in after, f"{value!r} survived erasure"
    assert "self_identifications: " not in after  # their answers went with them
    # The application stays, anonymous, so the job's funnel is what it was.
    assert client.get(f"/v1/jobs/{job['id']}/funnel", headers=hr).get_json() == funnel_before
    assert client.get(f"/v1/applications/{app_id}", headers=hr).status_code == 404
    for value in KEEPER.values():
        assert value in after  # nobody else's data went
    assert keeper in after
    # What stays: the tombstone and the audit events, with ids only.
    assert re.findall(rf"candidate_tombstones: \(.*{cid}", after, flags=re.IGNORECASE)
    assert len(re.findall(rf"audit_events: \(.*'{cid}'", after)) >= 6


def test_the_tombstone_names_the_erasing_key(
    client: FlaskClient, make_key, admin_headers, session: Session
) -> None:
    cid = client.post("/v1/candidates", json={"name": "T"}, headers=admin_headers).get_json()["id"]
    token = make_key("hr-system")
    assert client.delete(f"/v1/candidates/{cid}", headers=bearer(token)).status_code == 204
    session.rollback()
    tombstone = session.get(CandidateTombstone, uuid.UUID(cid))
    assert tombstone is not None
    assert tombstone.erased_by_key_id == key_id(token)
    assert tombstone.actor == "api"
    assert tombstone.erased_at is not None


def test_an_erased_id_is_404_everywhere_for_good(
    app: Flask, client: FlaskClient, admin_headers
) -> None:
    cid = client.post("/v1/candidates", json={"name": "E"}, headers=admin_headers).get_json()["id"]
    assert client.delete(f"/v1/candidates/{cid}", headers=admin_headers).status_code == 204
    statuses = request_everywhere(app, client, admin_headers, cid)
    assert len(statuses) >= 7  # get, patch, delete, competencies, matches, fit, self-id
    assert set(statuses.values()) == {404}, statuses
    listed = client.get("/v1/candidates", headers=admin_headers).get_json()["data"]
    assert cid not in [c["id"] for c in listed]
    ranked = client.get("/v1/roles/tpm/matches", headers=admin_headers).get_json()["data"]
    assert cid not in [r["candidate"]["id"] for r in ranked]
    summary = client.get("/v1/roles/tpm/matches/summary", headers=admin_headers).get_json()
    assert summary["count"] == 0


def test_erasure_keeps_stored_responses_that_do_not_name_the_candidate(
    client: FlaskClient, admin_headers, database: Database
) -> None:
    first = client.post(
        "/v1/candidates", json={"name": "A"}, headers={**admin_headers, "Idempotency-Key": "a"}
    ).get_json()["id"]
    client.post(
        "/v1/candidates", json={"name": "B"}, headers={**admin_headers, "Idempotency-Key": "b"}
    )
    assert client.delete(f"/v1/candidates/{first}", headers=admin_headers).status_code == 204
    with database.engine.connect() as connection:
        keys = connection.scalars(text("SELECT key FROM idempotency_records")).all()
    assert keys == ["b"]


# --- legal hold ------------------------------------------------------------------------------


def test_legal_hold_needs_the_erase_scope(client: FlaskClient, make_key, admin_headers) -> None:
    created = client.post("/v1/candidates", json={"name": "H"}, headers=admin_headers)
    url, etag = created.headers["Location"], created.headers["ETag"]
    assert created.get_json()["legal_hold"] is False
    for preset in ("recruiter", "dashboard"):
        response = client.patch(
            url, json={"legal_hold": True}, headers={**bearer(make_key(preset)), "If-Match": etag}
        )
        assert_problem(response, 403)
    held = client.patch(
        url, json={"legal_hold": True}, headers={**bearer(make_key("hr-system")), "If-Match": etag}
    )
    assert held.status_code == 200
    assert held.get_json()["legal_hold"] is True
    assert client.get(url, headers=admin_headers).get_json()["legal_hold"] is True


@pytest.mark.parametrize("body", [{"name": "N", "legal_hold": True}])
def test_legal_hold_cannot_be_set_on_create(client: FlaskClient, admin_headers, body) -> None:
    assert (
        "legal_hold"
        in assert_problem(client.post("/v1/candidates", json=body, headers=admin_headers), 422)[
            "errors"
        ]
    )
    batch = client.post(
        "/v1/candidates/batch", json={"candidates": [body]}, headers=admin_headers
    ).get_json()
    assert batch["results"][0]["status"] == 422


def test_a_held_candidate_is_not_erased_until_the_hold_is_lifted(
    client: FlaskClient, admin_headers
) -> None:
    created = client.post("/v1/candidates", json={"name": "Held"}, headers=admin_headers)
    url = created.headers["Location"]
    held = client.patch(
        url,
        json={"legal_hold": True},
        headers={**admin_headers, "If-Match": created.headers["ETag"]},
    )
    body = assert_problem(client.delete(url, headers=admin_headers), 409)
    assert "legal hold" in body["detail"]
    assert client.get(url, headers=admin_headers).status_code == 200
    lifted = client.patch(
        url, json={"legal_hold": False}, headers={**admin_headers, "If-Match": held.headers["ETag"]}
    )
    assert lifted.status_code == 200
    assert client.delete(url, headers=admin_headers).status_code == 204


def test_a_refused_erasure_leaves_no_tombstone(
    client: FlaskClient, admin_headers, session: Session
) -> None:
    created = client.post("/v1/candidates", json={"name": "Held"}, headers=admin_headers)
    client.patch(
        created.headers["Location"],
        json={"legal_hold": True},
        headers={**admin_headers, "If-Match": created.headers["ETag"]},
    )
    assert client.delete(created.headers["Location"], headers=admin_headers).status_code == 409
    session.rollback()
    assert session.scalars(select(CandidateTombstone)).all() == []
