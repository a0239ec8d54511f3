"""POST /v1/applications/batch: one result per item, set-based, a bad item blocks nothing."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import Application, Transition
from tests.api.test_ops_and_errors import assert_problem


def _job(client: FlaskClient, headers: dict[str, str], status: str = "open") -> dict[str, Any]:
    body = {"title": f"Batch {status}", "role": "tpm", "status": status}
    created = client.post("/v1/jobs", json=body, headers=headers)
    assert created.status_code == 201, created.data
    job: dict[str, Any] = created.get_json()
    return job


def _candidates(client: FlaskClient, headers: dict[str, str], n: int) -> list[str]:
    body = {"candidates": [{"name": f"Batch applicant {i}"} for i in range(n)]}
    results = client.post("/v1/candidates/batch", json=body, headers=headers).get_json()
    return [r["id"] for r in results["results"]]


def test_every_item_gets_its_own_result(
    client: FlaskClient, admin_headers, session: Session
) -> None:
    job, closed = _job(client, admin_headers), _job(client, admin_headers, "draft")
    ada, grace, alan = _candidates(client, admin_headers, 3)
    taken = client.post(
        "/v1/applications", json={"candidate_id": alan, "job_id": job["id"]}, headers=admin_headers
    ).get_json()
    items: list[Any] = [
        {"candidate_id": ada, "job_id": job["id"], "source": {"channel": "agency"}},
        {"candidate_id": grace, "job_id": job["id"], "stage": job["stages"][1]["id"]},
        {"candidate_id": ada, "job_id": job["id"]},  # repeats item 0
        {"candidate_id": alan, "job_id": job["id"]},  # already active
        {"candidate_id": grace, "job_id": closed["id"]},  # a draft job
        {"candidate_id": str(uuid.uuid4()), "job_id": job["id"]},  # nobody
        {"candidate_id": grace, "job_id": str(uuid.uuid4())},  # no such job
        {"candidate_id": "not-a-uuid", "job_id": job["id"]},
        "not an object",
    ]
    response = client.post(
        "/v1/applications/batch", json={"applications": items}, headers=admin_headers
    )
    assert response.status_code == 200, response.data
    results = response.get_json()["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert [r["status"] for r in results] == [201, 201, 409, 409, 409, 404, 404, 422, 422]
    assert results[2]["problem"]["duplicate_of_index"] == 0
    assert results[3]["problem"]["existing_id"] == taken["id"]
    assert results[7]["problem"]["errors"]["candidate_id"]
    for result in results[2:]:
        assert (
            result["problem"]["instance"]
            == f"/v1/applications/batch#/applications/{result['index']}"
        )

    first = client.get(f"/v1/applications/{results[0]['id']}", headers=admin_headers).get_json()
    assert first["source"]["channel"] == "agency" and first["stage"]["position"] == 1
    second = client.get(f"/v1/applications/{results[1]['id']}", headers=admin_headers).get_json()
    assert second["stage"]["id"] == job["stages"][1]["id"]
    assert second["match"] is not None  # scored against the job's role like any application
    history = client.get(
        f"/v1/applications/{results[1]['id']}/transitions", headers=admin_headers
    ).get_json()["data"]
    assert [(t["seq"], t["kind"], t["to_stage"]["id"]) for t in history] == [
        (1, "created", job["stages"][1]["id"])
    ]
    assert history[0]["match"]["score"] == second["match"]["score"]
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Application)) == 3
    assert session.scalar(select(func.count()).select_from(Transition)) == 3


def test_a_batch_is_bounded_and_needs_the_scope(
    client: FlaskClient, admin_headers, make_key
) -> None:
    too_many = {"applications": [{}] * 501}
    assert_problem(client.post("/v1/applications/batch", json=too_many, headers=admin_headers), 422)
    empty = {"applications": []}
    assert_problem(client.post("/v1/applications/batch", json=empty, headers=admin_headers), 422)
    dashboard = {"Authorization": f"Bearer {make_key('dashboard')}"}
    one = {"applications": [{}]}
    assert_problem(client.post("/v1/applications/batch", json=one, headers=dashboard), 403)


def test_a_retried_batch_replays_and_writes_once(
    client: FlaskClient, admin_headers, session: Session
) -> None:
    job = _job(client, admin_headers)
    (ada,) = _candidates(client, admin_headers, 1)
    body = {"applications": [{"candidate_id": ada, "job_id": job["id"]}]}
    headers = {**admin_headers, "Idempotency-Key": "batch-apply-1"}
    first = client.post("/v1/applications/batch", json=body, headers=headers)
    again = client.post("/v1/applications/batch", json=body, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Application)) == 1
