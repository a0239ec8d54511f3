"""Competencies: the taxonomy, with aliases unique across it (case and spacing ignored)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.api.test_ops_and_errors import assert_problem
from tests.conftest import bearer

URL = "/v1/competencies"
BUILTIN_KEYS = [
    "business-acumen",
    "change-management",
    "cross-functional-engagement",
    "engineering-collaboration",
    "program-oversight",
    "project-lifecycle",
    "stakeholder-communication",
    "strategic-alignment",
    "technical-depth",
    "technical-requirements",
]


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "key": "data-literacy",
        "name": "Data literacy",
        "category": "analytics",
        "description": "Reads and questions data.",
        "aliases": ["Data Analysis", "metrics"],
    }
    data.update(overrides)
    return data


def keys(response: Any) -> list[str]:
    assert response.status_code == 200, response.data
    return [c["key"] for c in response.get_json()["data"]]


def test_builtin_taxonomy_is_listed_by_key(client: FlaskClient, admin_headers) -> None:
    response = client.get(URL, headers=admin_headers)
    assert keys(response) == BUILTIN_KEYS
    first = response.get_json()["data"][0]
    assert set(first) == {
        "key",
        "name",
        "category",
        "description",
        "aliases",
        "created_at",
        "updated_at",
    }
    assert response.get_json()["next_cursor"] is None


def test_create_read_and_list(client: FlaskClient, admin_headers) -> None:
    created = client.post(URL, json=body(), headers=admin_headers)
    assert created.status_code == 201, created.data
    assert created.headers["Location"] == f"{URL}/data-literacy"
    assert created.headers["ETag"]
    data = created.get_json()
    assert data["aliases"] == ["Data Analysis", "metrics"]
    assert data["created_at"].endswith("Z")

    fetched = client.get(created.headers["Location"], headers=admin_headers)
    assert fetched.status_code == 200
    assert fetched.get_json() == data
    assert fetched.headers["ETag"] == created.headers["ETag"]
    assert "data-literacy" in keys(client.get(URL, headers=admin_headers))


def test_a_dashboard_key_reads_but_cannot_write(client: FlaskClient, make_key) -> None:
    dashboard = bearer(make_key("dashboard"))
    assert client.get(URL, headers=dashboard).status_code == 200
    assert_problem(client.post(URL, json=body(), headers=dashboard), 403)
    assert_problem(client.get(f"{URL}/nope", headers=dashboard), 404)


def test_filter_by_category(client: FlaskClient, admin_headers) -> None:
    assert keys(client.get(f"{URL}?category=delivery", headers=admin_headers)) == [
        "program-oversight",
        "project-lifecycle",
    ]
    assert keys(client.get(f"{URL}?category=nothing", headers=admin_headers)) == []


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("STAKEHOLDER", ["stakeholder-communication"]),  # key or name, any case
        ("  Roadmapping ", ["strategic-alignment"]),  # an alias, spacing ignored
        ("p&l", ["business-acumen"]),
        ("engineer", ["engineering-collaboration", "technical-depth", "technical-requirements"]),
        ("%", []),  # LIKE wildcards are literal
        ("_", []),
    ],
)
def test_filter_q_matches_key_name_or_alias(
    client: FlaskClient, admin_headers, q: str, expected: list[str]
) -> None:
    assert keys(client.get(URL, query_string={"q": q}, headers=admin_headers)) == expected


def test_filters_combine(client: FlaskClient, admin_headers) -> None:
    assert keys(
        client.get(
            URL, query_string={"q": "management", "category": "delivery"}, headers=admin_headers
        )
    ) == ["program-oversight", "project-lifecycle"]


def test_duplicate_key_is_409(client: FlaskClient, admin_headers) -> None:
    response = client.post(URL, json=body(key="technical-depth", aliases=[]), headers=admin_headers)
    assert assert_problem(response, 409)["owner"] == "technical-depth"


@pytest.mark.parametrize(
    "alias",
    [
        "Stakeholder Management",
        "  stakeholder   MANAGEMENT ",
        "stakeholder-communication",  # another competency's key
        "Stakeholder-Communication",
    ],
)
def test_alias_clash_is_409_naming_the_owner(
    client: FlaskClient, admin_headers, alias: str
) -> None:
    response = client.post(URL, json=body(aliases=["fine", alias]), headers=admin_headers)
    problem = assert_problem(response, 409)
    assert problem["owner"] == "stakeholder-communication"
    assert "stakeholder-communication" in problem["detail"]
    assert_problem(client.get(f"{URL}/data-literacy", headers=admin_headers), 404)


def test_key_that_is_another_competencys_alias_is_409_naming_the_owner(
    client: FlaskClient, admin_headers
) -> None:
    response = client.post(URL, json=body(key="okrs", aliases=[]), headers=admin_headers)
    assert assert_problem(response, 409)["owner"] == "strategic-alignment"


def test_repeated_aliases_are_stored_once(client: FlaskClient, admin_headers) -> None:
    response = client.post(
        URL, json=body(aliases=["Metrics", "metrics ", "data-literacy"]), headers=admin_headers
    )
    assert response.status_code == 201
    assert response.get_json()["aliases"] == ["Metrics"]


def test_new_alias_resolves_for_candidates(client: FlaskClient, admin_headers) -> None:
    client.post(URL, json=body(), headers=admin_headers)
    response = client.post(
        "/v1/candidates",
        json={"name": "N", "competencies": [{"competency": "DATA  analysis", "level": 3}]},
        headers=admin_headers,
    )
    assert response.status_code == 201
    assert response.get_json()["competencies"][0]["competency"] == "data-literacy"


def test_patch_needs_if_match_rejects_stale_and_accepts_current(
    client: FlaskClient, admin_headers
) -> None:
    url = f"{URL}/technical-depth"
    etag = client.get(url, headers=admin_headers).headers["ETag"]
    assert_problem(client.patch(url, json={"name": "x"}, headers=admin_headers), 428)

    ok = client.patch(
        url,
        json={"name": "Technical depth and breadth", "aliases": ["architecture", "Systems Design"]},
        headers={**admin_headers, "If-Match": etag},
    )
    assert ok.status_code == 200, ok.data
    assert ok.headers["ETag"] != etag
    assert ok.get_json()["name"] == "Technical depth and breadth"
    assert ok.get_json()["aliases"] == ["architecture", "Systems Design"]
    assert ok.get_json()["category"] == "technical"

    stale = client.patch(url, json={"name": "lost"}, headers={**admin_headers, "If-Match": etag})
    assert_problem(stale, 412)
    got = client.get(url, headers=admin_headers)
    assert got.get_json() == ok.get_json()
    assert got.headers["ETag"] == ok.headers["ETag"]


def test_patch_aliases_replaces_them_and_frees_the_old_ones(
    client: FlaskClient, admin_headers
) -> None:
    url = f"{URL}/strategic-alignment"
    etag = client.get(url, headers=admin_headers).headers["ETag"]
    response = client.patch(
        url, json={"aliases": ["vision"]}, headers={**admin_headers, "If-Match": etag}
    )
    assert response.status_code == 200
    # "okrs" no longer belongs to anyone, so another competency can take it.
    assert client.post(URL, json=body(aliases=["OKRs"]), headers=admin_headers).status_code == 201


def test_patch_alias_clash_is_409_and_changes_nothing(client: FlaskClient, admin_headers) -> None:
    url = f"{URL}/technical-depth"
    before = client.get(url, headers=admin_headers)
    response = client.patch(
        url,
        json={"name": "Renamed", "aliases": ["budgeting"]},
        headers={**admin_headers, "If-Match": before.headers["ETag"]},
    )
    assert assert_problem(response, 409)["owner"] == "business-acumen"
    after = client.get(url, headers=admin_headers)
    assert after.get_json() == before.get_json()
    assert after.headers["ETag"] == before.headers["ETag"]


def test_patch_unknown_competency_is_404(client: FlaskClient, admin_headers) -> None:
    response = client.patch(
        f"{URL}/nope", json={"name": "x"}, headers={**admin_headers, "If-Match": '"1"'}
    )
    assert_problem(response, 404)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"key": "Data Literacy"}, "key"),
        ({"key": "d"}, "key"),
        ({"key": "d" * 65}, "key"),
        ({"name": ""}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"category": "c" * 65}, "category"),
        ({"description": "d" * 2001}, "description"),
        ({"aliases": ["a" * 201]}, "aliases.0"),
        ({"aliases": [""]}, "aliases.0"),
        ({"aliases": [f"alias {i}" for i in range(51)]}, "aliases"),
        ({"created_at": "2026-01-01T00:00:00Z"}, "created_at"),
        ({"id": 7}, "id"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_create_is_422(
    client: FlaskClient, admin_headers, overrides: dict[str, Any], field: str
) -> None:
    response = client.post(URL, json=body(**overrides), headers=admin_headers)
    assert field in assert_problem(response, 422)["errors"]


@pytest.mark.parametrize(
    "changes", [{"key": "renamed"}, {"updated_at": "2026-01-01T00:00:00Z"}, {"name": None}]
)
def test_patch_rejects_key_server_owned_and_null_fields(
    client: FlaskClient, admin_headers, changes: dict[str, Any]
) -> None:
    url = f"{URL}/technical-depth"
    etag = client.get(url, headers=admin_headers).headers["ETag"]
    response = client.patch(url, json=changes, headers={**admin_headers, "If-Match": etag})
    assert_problem(response, 422)
    assert client.get(url, headers=admin_headers).headers["ETag"] == etag


def test_a_new_or_changed_alias_is_known_to_inline_matching_at_once(
    client: FlaskClient, admin_headers
) -> None:
    """Workers cache the taxonomy; a taxonomy write must invalidate it everywhere."""

    def inline(name: str) -> Any:
        body = {"competencies": [{"competency": name, "level": 3}], "roles": ["tpm"]}
        return client.post("/v1/match", json=body, headers=admin_headers)

    # Any role write (here a new role) gives the catalog a version that workers cache under.
    role = {
        "key": "analyst",
        "title": "Analyst",
        "responsibilities": [{"competency": "business-acumen", "importance": 3, "level": 3}],
    }
    assert client.post("/v1/roles", json=role, headers=admin_headers).status_code == 201
    assert inline("technical-depth").status_code == 200  # warms the cache
    assert_problem(inline("data analysis"), 422)
    client.post(URL, json=body(), headers=admin_headers)
    assert inline("Data Analysis").status_code == 200

    url = f"{URL}/data-literacy"
    etag = client.get(url, headers=admin_headers).headers["ETag"]
    patched = client.patch(
        url, json={"aliases": ["numeracy"]}, headers={**admin_headers, "If-Match": etag}
    )
    assert patched.status_code == 200
    assert inline("numeracy").status_code == 200
    assert_problem(inline("data analysis"), 422)
