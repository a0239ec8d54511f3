"""Role profiles: create at version 1, PUT writes version n+1, versions stay readable as written."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.api.test_ops_and_errors import assert_problem
from tests.conftest import bearer

URL = "/v1/roles"


def role_body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "key": "delivery-lead",
        "title": "Delivery Lead",
        "summary": "Gets things shipped.",
        "focus": "Execution.",
        "responsibilities": [
            {
                "competency": "project-lifecycle",
                "importance": 5,
                "level": 4,
                "must_have": True,
                "rationale": "Runs the plan.",
            },
            {"competency": "Stakeholder Management", "importance": 3, "level": 3},
        ],
    }
    data.update(overrides)
    return data


def put_body(**overrides: Any) -> dict[str, Any]:
    data = role_body(**overrides)
    data.pop("key")
    return data


def test_builtin_roles_are_listed(client: FlaskClient, make_key) -> None:
    response = client.get(URL, headers=bearer(make_key("dashboard")))
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert [r["key"] for r in data] == ["tmp", "tpm"]
    assert all(r["version"] == 1 and r["responsibilities"] for r in data)


def test_create_is_version_1_with_location_and_etag(client: FlaskClient, admin_headers) -> None:
    response = client.post(URL, json=role_body(), headers=admin_headers)
    assert response.status_code == 201, response.data
    assert response.headers["Location"] == f"{URL}/delivery-lead"
    assert response.headers["ETag"]
    data = response.get_json()
    assert data["version"] == 1
    assert data["responsibilities"] == [
        {
            "competency": "project-lifecycle",
            "importance": 5,
            "level": 4,
            "must_have": True,
            "rationale": "Runs the plan.",
        },
        # an alias is stored as its competency's key; the defaults are filled in
        {
            "competency": "stakeholder-communication",
            "importance": 3,
            "level": 3,
            "must_have": False,
            "rationale": "",
        },
    ]
    fetched = client.get(response.headers["Location"], headers=admin_headers)
    assert fetched.get_json() == data
    assert fetched.headers["ETag"] == response.headers["ETag"]
    listed = client.get(URL, headers=admin_headers).get_json()["data"]
    assert [r["key"] for r in listed] == ["delivery-lead", "tmp", "tpm"]


def test_duplicate_key_is_409(client: FlaskClient, admin_headers) -> None:
    assert_problem(client.post(URL, json=role_body(key="tpm"), headers=admin_headers), 409)


def test_writing_needs_roles_write(client: FlaskClient, make_key) -> None:
    for preset in ("hr-system", "recruiter", "dashboard"):
        response = client.post(URL, json=role_body(), headers=bearer(make_key(preset)))
        assert_problem(response, 403)


def test_unknown_path_key_is_404(client: FlaskClient, admin_headers) -> None:
    assert_problem(client.get(f"{URL}/nope", headers=admin_headers), 404)
    assert_problem(client.get(f"{URL}/nope/versions", headers=admin_headers), 404)
    assert_problem(client.get(f"{URL}/tpm/versions/2", headers=admin_headers), 404)
    assert_problem(
        client.put(f"{URL}/nope", json=put_body(), headers={**admin_headers, "If-Match": '"v1"'}),
        404,
    )


def test_put_writes_version_2_and_version_1_stays_as_it_was(
    client: FlaskClient, admin_headers
) -> None:
    v1 = client.get(f"{URL}/tpm", headers=admin_headers)
    v1_body = v1.get_json()
    new = put_body(
        title="Technical Program Manager (platform)",
        responsibilities=[
            {"competency": "technical-depth", "importance": 5, "level": 5, "must_have": True},
            {"competency": "okrs", "importance": 2, "level": 2},
        ],
    )
    assert_problem(client.put(f"{URL}/tpm", json=new, headers=admin_headers), 428)

    response = client.put(
        f"{URL}/tpm", json=new, headers={**admin_headers, "If-Match": v1.headers["ETag"]}
    )
    assert response.status_code == 200, response.data
    v2 = response.get_json()
    assert v2["version"] == 2
    assert v2["title"] == "Technical Program Manager (platform)"
    assert [r["competency"] for r in v2["responsibilities"]] == [
        "technical-depth",
        "strategic-alignment",
    ]
    assert response.headers["ETag"] != v1.headers["ETag"]

    current = client.get(f"{URL}/tpm", headers=admin_headers)
    assert current.get_json() == v2
    assert current.headers["ETag"] == response.headers["ETag"]
    assert client.get(f"{URL}/tpm/versions/1", headers=admin_headers).get_json() == v1_body
    assert client.get(f"{URL}/tpm/versions/2", headers=admin_headers).get_json() == v2

    versions = client.get(f"{URL}/tpm/versions", headers=admin_headers).get_json()
    assert [v["version"] for v in versions["data"]] == [1, 2]
    assert versions["data"][0] == v1_body
    assert versions["next_cursor"] is None

    # the list shows each role at its current version
    listed = {r["key"]: r for r in client.get(URL, headers=admin_headers).get_json()["data"]}
    assert listed["tpm"]["version"] == 2
    assert listed["tmp"]["version"] == 1


def test_put_with_a_stale_etag_is_412_and_writes_nothing(
    client: FlaskClient, admin_headers
) -> None:
    etag = client.get(f"{URL}/tpm", headers=admin_headers).headers["ETag"]
    first = client.put(f"{URL}/tpm", json=put_body(), headers={**admin_headers, "If-Match": etag})
    assert first.status_code == 200
    stale = client.put(
        f"{URL}/tpm", json=put_body(title="Lost"), headers={**admin_headers, "If-Match": etag}
    )
    assert_problem(stale, 412)
    versions = client.get(f"{URL}/tpm/versions", headers=admin_headers).get_json()["data"]
    assert [v["version"] for v in versions] == [1, 2]
    assert client.get(f"{URL}/tpm", headers=admin_headers).get_json()["title"] == "Delivery Lead"


def test_put_rescores_candidates_against_the_new_version(
    client: FlaskClient, admin_headers
) -> None:
    candidate = client.post(
        "/v1/candidates",
        json={"name": "C", "competencies": [{"competency": "business-acumen", "level": 5}]},
        headers=admin_headers,
    ).get_json()
    matches_url = f"/v1/candidates/{candidate['id']}/matches"

    def tpm_match() -> dict[str, Any]:
        body = client.get(matches_url, headers=admin_headers).get_json()
        return next(m for m in body["matches"] if m["role"] == "tpm")

    before = tpm_match()
    etag = client.get(f"{URL}/tpm", headers=admin_headers).headers["ETag"]
    only_business = put_body(
        responsibilities=[{"competency": "business-acumen", "importance": 5, "level": 3}]
    )
    response = client.put(
        f"{URL}/tpm", json=only_business, headers={**admin_headers, "If-Match": etag}
    )
    assert response.status_code == 200
    after = tpm_match()
    assert after["role_version"] == 2
    assert after["score"] > before["score"]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda b: b["responsibilities"][0].update(competency="juggling"),
            "responsibilities.0.competency",
        ),
        (lambda b: b["responsibilities"][1].update(importance=0), "responsibilities.1.importance"),
        (lambda b: b["responsibilities"][1].update(importance=6), "responsibilities.1.importance"),
        (lambda b: b["responsibilities"][0].update(level=0), "responsibilities.0.level"),
        (lambda b: b["responsibilities"][0].update(level=6), "responsibilities.0.level"),
        (
            lambda b: b["responsibilities"][0].update(rationale="r" * 2001),
            "responsibilities.0.rationale",
        ),
        (lambda b: b["responsibilities"][0].update(weight=1), "responsibilities.0.weight"),
        (
            lambda b: b["responsibilities"][1].update(competency="project management"),
            "responsibilities.1.competency",
        ),  # the same competency twice
        (lambda b: b.update(responsibilities=[]), "responsibilities"),
        (lambda b: b.update(title=""), "title"),
        (lambda b: b.update(title="t" * 201), "title"),
        (lambda b: b.update(summary="s" * 4001), "summary"),
        (lambda b: b.update(version=3), "version"),
        (lambda b: b.update(created_at="2026-01-01T00:00:00Z"), "created_at"),
    ],
)
def test_invalid_bodies_are_422_on_create_and_put(
    client: FlaskClient, admin_headers, mutate, field: str
) -> None:
    create = role_body()
    mutate(create)
    response = client.post(URL, json=create, headers=admin_headers)
    assert field in assert_problem(response, 422)["errors"]
    assert_problem(client.get(f"{URL}/delivery-lead", headers=admin_headers), 404)

    put = copy.deepcopy(create)
    put.pop("key")
    etag = client.get(f"{URL}/tpm", headers=admin_headers).headers["ETag"]
    response = client.put(f"{URL}/tpm", json=put, headers={**admin_headers, "If-Match": etag})
    assert field in assert_problem(response, 422)["errors"]
    assert client.get(f"{URL}/tpm", headers=admin_headers).get_json()["version"] == 1


def test_unknown_competency_names_the_closest(client: FlaskClient, admin_headers) -> None:
    body = role_body()
    body["responsibilities"][0]["competency"] = "technical dept"
    problem = assert_problem(client.post(URL, json=body, headers=admin_headers), 422)
    assert "technical-depth" in problem["errors"]["responsibilities.0.competency"][0]


@pytest.mark.parametrize("key", ["Delivery", "d", "1abc", "a_b", "x" * 65])
def test_bad_key_is_422(client: FlaskClient, admin_headers, key: str) -> None:
    response = client.post(URL, json=role_body(key=key), headers=admin_headers)
    assert "key" in assert_problem(response, 422)["errors"]


def test_put_cannot_change_the_key(client: FlaskClient, admin_headers) -> None:
    etag = client.get(f"{URL}/tpm", headers=admin_headers).headers["ETag"]
    response = client.put(
        f"{URL}/tpm", json=role_body(key="tpm"), headers={**admin_headers, "If-Match": etag}
    )
    assert "key" in assert_problem(response, 422)["errors"]


def test_versions_are_paginated(client: FlaskClient, admin_headers) -> None:
    for _ in range(3):
        etag = client.get(f"{URL}/tpm", headers=admin_headers).headers["ETag"]
        response = client.put(
            f"{URL}/tpm", json=put_body(), headers={**admin_headers, "If-Match": etag}
        )
        assert response.status_code == 200
    first = client.get(f"{URL}/tpm/versions?limit=3", headers=admin_headers)
    assert [v["version"] for v in first.get_json()["data"]] == [1, 2, 3]
    cursor = first.get_json()["next_cursor"]
    assert cursor and 'rel="next"' in first.headers["Link"]
    second = client.get(f"{URL}/tpm/versions?limit=3&cursor={cursor}", headers=admin_headers)
    assert [v["version"] for v in second.get_json()["data"]] == [4]
    assert second.get_json()["next_cursor"] is None
    # a cursor of tpm's versions is not one of tmp's
    assert_problem(client.get(f"{URL}/tmp/versions?cursor={cursor}", headers=admin_headers), 400)
