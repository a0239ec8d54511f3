"""POST /v1/candidates/batch: one result per item, in order; a bad item never blocks the rest."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import Candidate, CandidateCompetency, Match
from tests.api.test_ops_and_errors import assert_problem
from tests.conftest import bearer

URL = "/v1/candidates/batch"


def item(n: int, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": f"Candidate {n}",
        "source": "greenhouse",
        "external_id": f"gh-{n}",
        "email": f"c{n}@example.com",
        "competencies": [
            {"competency": "project management", "level": 3},
            {"competency": "technical-depth", "level": n % 6},
        ],
    }
    data.update(overrides)
    return data


def count(session: Session, model: Any) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_good_items_are_created_and_readable(
    client: FlaskClient, admin_headers, session: Session
) -> None:
    response = client.post(
        URL, json={"candidates": [item(i) for i in range(3)]}, headers=admin_headers
    )
    assert response.status_code == 200, response.data
    results = response.get_json()["results"]
    assert [(r["index"], r["status"]) for r in results] == [(0, 201), (1, 201), (2, 201)]
    for i, result in enumerate(results):
        got = client.get(f"/v1/candidates/{result['id']}", headers=admin_headers)
        assert got.status_code == 200
        body = got.get_json()
        assert body["external_id"] == f"gh-{i}"
        assert body["email"] == f"c{i}@example.com"
        assert [r["competency"] for r in body["competencies"]] == [
            "project-lifecycle",
            "technical-depth",
        ]
        matches = client.get(f"/v1/candidates/{result['id']}/matches", headers=admin_headers)
        assert len(matches.get_json()["matches"]) == 2
    assert count(session, Candidate) == 3
    assert count(session, CandidateCompetency) == 6
    assert count(session, Match) == 6


def test_bad_items_get_problems_and_never_block_good_ones(
    client: FlaskClient, admin_headers, session: Session
) -> None:
    existing = client.post(
        "/v1/candidates", json=item(99, external_id="taken"), headers=admin_headers
    ).get_json()["id"]
    items = [
        item(0),
        item(1, name=""),  # 422: field error
        item(2, competencies=[{"competency": "jugglng", "level": 3}]),  # 422: unknown name
        item(3, external_id="taken"),  # 409: exists already
        item(4),
        item(5, external_id="gh-4"),  # 409: repeats item 4
        item(6, surprise=True),  # 422: unknown field
        item(7, id="0190a000-0000-7000-8000-000000000000"),  # 422: server-owned
        item(8),
        item(9, source=None),  # 422: an external_id needs its source
    ]
    response = client.post(URL, json={"candidates": items}, headers=admin_headers)
    assert response.status_code == 200, response.data
    results = response.get_json()["results"]
    assert [r["index"] for r in results] == list(range(10))
    assert [r["status"] for r in results] == [201, 422, 422, 409, 201, 409, 422, 422, 201, 422]

    assert "name" in results[1]["problem"]["errors"]
    unknown = results[2]["problem"]["errors"]["competencies.0.competency"][0]
    assert "jugglng" in unknown
    assert results[3]["problem"]["existing_id"] == existing
    assert results[3]["problem"]["status"] == 409
    assert "4" in results[5]["problem"]["detail"]
    assert "surprise" in results[6]["problem"]["errors"]
    assert "id" in results[7]["problem"]["errors"]
    assert "source" in results[9]["problem"]["errors"]
    for result in results:
        if result["status"] == 201:
            assert "problem" not in result
        else:
            assert "id" not in result
            assert result["problem"]["type"].startswith("https://")

    created = [r["id"] for r in results if r["status"] == 201]
    listed = client.get("/v1/candidates?source=greenhouse", headers=admin_headers).get_json()
    assert [c["id"] for c in listed["data"]] == [existing, *created]
    assert [c["external_id"] for c in listed["data"]] == ["taken", "gh-0", "gh-4", "gh-8"]
    assert count(session, Candidate) == 4


def test_500_items_is_the_limit(client: FlaskClient, admin_headers, session: Session) -> None:
    too_many = {"candidates": [item(i) for i in range(501)]}
    body = assert_problem(client.post(URL, json=too_many, headers=admin_headers), 422)
    assert "candidates" in body["errors"]
    assert count(session, Candidate) == 0

    response = client.post(
        URL, json={"candidates": [item(i) for i in range(500)]}, headers=admin_headers
    )
    assert response.status_code == 200
    assert {r["status"] for r in response.get_json()["results"]} == {201}
    assert count(session, Candidate) == 500


def test_an_empty_or_malformed_batch_is_422(client: FlaskClient, admin_headers) -> None:
    for body in ({"candidates": []}, {}, {"candidates": item(0)}, {"candidates": [], "x": 1}):
        assert_problem(client.post(URL, json=body, headers=admin_headers), 422)


def test_an_item_that_is_not_an_object_fails_alone(client: FlaskClient, admin_headers) -> None:
    response = client.post(
        URL, json={"candidates": [item(0), "Candidate 1", None, 7, item(4)]}, headers=admin_headers
    )
    assert response.status_code == 200, response.data
    assert [r["status"] for r in response.get_json()["results"]] == [201, 422, 422, 422, 201]


def test_contact_fields_need_pii(
    client: FlaskClient, admin_headers, session: Session, make_key
) -> None:
    token = make_key("hr-system", without={"candidates:pii"})

    # Authorization is about the whole request: a key without candidates:pii that sends contact
    # data in any item is refused, and nothing is written.
    response = client.post(
        URL, json={"candidates": [item(0, email=None), item(1)]}, headers=bearer(token)
    )
    assert_problem(response, 403)
    assert count(session, Candidate) == 0
    response = client.post(
        URL, json={"candidates": [item(0, email=None), item(1, email=None)]}, headers=bearer(token)
    )
    assert [r["status"] for r in response.get_json()["results"]] == [201, 201]


def test_dashboard_cannot_post_a_batch(client: FlaskClient, make_key) -> None:
    response = client.post(
        URL, json={"candidates": [item(0)]}, headers=bearer(make_key("dashboard"))
    )
    assert_problem(response, 403)


def test_a_batch_replayed_with_its_idempotency_key_creates_nothing(
    client: FlaskClient, admin_headers, session: Session
) -> None:
    headers = {**admin_headers, "Idempotency-Key": "batch-1"}
    body = {"candidates": [item(i) for i in range(5)]}
    first = client.post(URL, json=body, headers=headers)
    again = client.post(URL, json=body, headers=headers)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert count(session, Candidate) == 5
    # without the key, a retry finds every item a duplicate
    plain = client.post(URL, json=body, headers=admin_headers).get_json()["results"]
    assert [r["status"] for r in plain] == [409] * 5
    assert [r["problem"]["existing_id"] for r in plain] == [
        r["id"] for r in first.get_json()["results"]
    ]
