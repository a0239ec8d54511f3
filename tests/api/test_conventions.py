"""The conventions of every endpoint: pagination, ETag/If-Match, Idempotency-Key, unknown and
server-owned fields, string bounds and limits."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service.infra.orm import utcnow
from service.models import Candidate, Competency, IdempotencyRecord, Role
from tests.api.test_ops_and_errors import assert_problem
from tests.conftest import bearer

LISTS = ["/v1/competencies", "/v1/roles", "/v1/roles/tpm/versions", "/v1/candidates"]


def count(session: Session, model: Any) -> int:
    session.rollback()  # a fresh snapshot: see what the requests committed
    return session.scalar(select(func.count()).select_from(model)) or 0


def add_candidates(client: FlaskClient, headers: dict[str, str], n: int) -> list[str]:
    body = {"candidates": [{"name": f"P{i}", "headline": "walker"} for i in range(n)]}
    results = client.post("/v1/candidates/batch", json=body, headers=headers).get_json()
    return [r["id"] for r in results["results"]]


def forge(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


# --- pagination -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten", "1.5"])
def test_limit_outside_1_to_200_is_422(
    client: FlaskClient, admin_headers, url: str, limit: str
) -> None:
    body = assert_problem(
        client.get(url, query_string={"limit": limit}, headers=admin_headers), 422
    )
    assert "limit" in body["errors"]


def test_limit_defaults_to_50_and_accepts_1_and_200(client: FlaskClient, admin_headers) -> None:
    created = add_candidates(client, admin_headers, 201)
    default = client.get("/v1/candidates", headers=admin_headers).get_json()
    assert [c["id"] for c in default["data"]] == created[:50]
    assert default["next_cursor"]
    assert len(client.get("/v1/candidates?limit=1", headers=admin_headers).get_json()["data"]) == 1
    full = client.get("/v1/candidates?limit=200", headers=admin_headers).get_json()
    assert [c["id"] for c in full["data"]] == created[:200]


def walk(client: FlaskClient, url: str, headers: dict[str, str]) -> list[str]:
    """Follow the Link headers from ``url``; every page's next_cursor must agree with its Link."""
    seen: list[str] = []
    while True:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.data
        body = response.get_json()
        seen.extend(item.get("id") or item.get("key") or item["version"] for item in body["data"])
        if body["next_cursor"] is None:
            assert "Link" not in response.headers
            return seen
        link = response.headers["Link"]
        assert link.endswith('>; rel="next"')
        url = link[1 : link.index(">")]
        assert parse_qs(urlsplit(url).query)["cursor"] == [body["next_cursor"]]


def test_walking_candidate_pages_gives_every_item_once(client: FlaskClient, admin_headers) -> None:
    created = add_candidates(client, admin_headers, 23)
    assert walk(client, "/v1/candidates?limit=5", admin_headers) == created
    # Exactly full pages: the last page has no next cursor.
    assert walk(client, "/v1/candidates?limit=23", admin_headers) == created


def test_the_link_header_keeps_the_filters(client: FlaskClient, admin_headers) -> None:
    created = add_candidates(client, admin_headers, 7)
    client.post("/v1/candidates", json={"name": "Other", "headline": "x"}, headers=admin_headers)
    assert walk(client, "/v1/candidates?limit=2&q=walker", admin_headers) == created


def test_walking_competency_pages_gives_every_item_once(client: FlaskClient, admin_headers) -> None:
    everything = [
        c["key"] for c in client.get("/v1/competencies", headers=admin_headers).get_json()["data"]
    ]
    assert len(everything) == 10
    assert walk(client, "/v1/competencies?limit=3", admin_headers) == everything
    assert walk(client, "/v1/competencies?limit=1&category=delivery", admin_headers) == [
        "program-oversight",
        "project-lifecycle",
    ]
    assert walk(client, "/v1/roles?limit=1", admin_headers) == ["tmp", "tpm"]


def test_pages_skip_nothing_when_rows_are_inserted_and_deleted_between_them(
    client: FlaskClient, admin_headers
) -> None:
    created = add_candidates(client, admin_headers, 10)
    first = client.get("/v1/candidates?limit=4", headers=admin_headers).get_json()
    # Delete an item already seen and one not yet seen; add new ones.
    for gone in (created[1], created[6]):
        assert client.delete(f"/v1/candidates/{gone}", headers=admin_headers).status_code == 204
    added = add_candidates(client, admin_headers, 3)
    cursor = first["next_cursor"]
    rest = walk(client, f"/v1/candidates?limit=4&cursor={cursor}", admin_headers)
    seen = [c["id"] for c in first["data"]] + rest
    assert len(seen) == len(set(seen))
    survivors = [c for c in created if c not in (created[1], created[6])]
    assert set(survivors) <= set(seen)
    assert created[6] not in seen
    assert rest[-3:] == added


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!!",
        "",
        "a" * 600,
        base64.urlsafe_b64encode(b"\xff\xfe not json").decode(),
        forge([1, 2, 3]),
        forge("just a string"),
        forge({"v": 1, "l": "candidates"}),
        forge({"v": 2, "l": "candidates", "k": ["0190a000-0000-7000-8000-000000000000"]}),
        forge({"v": 1, "l": "candidates", "k": ["not-a-uuid"]}),
        forge({"v": 1, "l": "candidates", "k": [12]}),
        forge({"v": 1, "l": "candidates", "k": ["0190a000-0000-7000-8000-000000000000", 1]}),
        forge({"v": 1, "l": "competencies", "k": ["technical-depth"]}),
        forge({"v": 1, "l": "candidates", "k": ["0190a000-0000-7000-8000-00000000\u0000"]}),
    ],
)
def test_forged_candidate_cursor_is_a_400(client: FlaskClient, admin_headers, cursor: str) -> None:
    add_candidates(client, admin_headers, 3)
    response = client.get("/v1/candidates", query_string={"cursor": cursor}, headers=admin_headers)
    assert_problem(response, 400)


@pytest.mark.parametrize(
    ("url", "cursor"),
    [
        ("/v1/competencies", forge({"v": 1, "l": "competencies", "k": ["a\u0000b"]})),
        ("/v1/competencies", forge({"v": 1, "l": "competencies", "k": ["x" * 1000]})),
        ("/v1/competencies", forge({"v": 1, "l": "competencies", "k": [None]})),
        ("/v1/roles", forge({"v": 1, "l": "roles", "k": [{"a": 1}]})),
        ("/v1/roles", forge({"v": 1, "l": "competencies", "k": ["business-acumen"]})),
        ("/v1/roles/tpm/versions", forge({"v": 1, "l": "roles/tpm/versions", "k": [10**30]})),
        ("/v1/roles/tpm/versions", forge({"v": 1, "l": "roles/tpm/versions", "k": [-(2**63)]})),
        ("/v1/roles/tpm/versions", forge({"v": 1, "l": "roles/tpm/versions", "k": [1.5]})),
        ("/v1/roles/tpm/versions", forge({"v": 1, "l": "roles/tpm/versions", "k": [True]})),
        ("/v1/roles/tpm/versions", forge({"v": 1, "l": "roles/tmp/versions", "k": [1]})),
    ],
)
def test_forged_cursors_of_other_lists_are_400(
    client: FlaskClient, admin_headers, url: str, cursor: str
) -> None:
    assert_problem(client.get(url, query_string={"cursor": cursor}, headers=admin_headers), 400)


def test_a_real_cursor_from_another_list_is_a_400(client: FlaskClient, admin_headers) -> None:
    add_candidates(client, admin_headers, 3)
    candidates = client.get("/v1/candidates?limit=1", headers=admin_headers).get_json()
    competencies = client.get("/v1/competencies?limit=1", headers=admin_headers).get_json()
    for url, cursor in (
        ("/v1/competencies", candidates["next_cursor"]),
        ("/v1/candidates", competencies["next_cursor"]),
        ("/v1/roles", competencies["next_cursor"]),
    ):
        assert_problem(client.get(url, query_string={"cursor": cursor}, headers=admin_headers), 400)


# --- filters never reach the database as something it cannot handle ---------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"q": "a\u0000b"},
        {"source": "a\u0000"},
        {"external_id": "\u0000"},
        {"category": "\u0000"},
        {"q": "x" * 201},
        {"source": "s" * 65},
        {"external_id": "e" * 256},
        {"updated_after": "9999-99-99T00:00:00Z"},
    ],
)
def test_bad_filter_values_are_422_not_500(
    client: FlaskClient, admin_headers, query: dict[str, str]
) -> None:
    url = "/v1/competencies" if "category" in query else "/v1/candidates"
    assert_problem(client.get(url, query_string=query, headers=admin_headers), 422)


# --- ETag / If-Match ------------------------------------------------------------------------


def test_if_match_forms(client: FlaskClient, admin_headers) -> None:
    created = client.post("/v1/candidates", json={"name": "E"}, headers=admin_headers)
    url, etag = created.headers["Location"], created.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert_problem(
        client.patch(url, json={"name": "x"}, headers={**admin_headers, "If-Match": '"nope"'}), 412
    )
    # A list of tags matches when one of them is current; a weak form of the tag matches too.
    listed = client.patch(
        url, json={"name": "A"}, headers={**admin_headers, "If-Match": f'"other", {etag}'}
    )
    assert listed.status_code == 200
    weak = client.patch(
        url,
        json={"name": "B"},
        headers={**admin_headers, "If-Match": "W/" + listed.headers["ETag"]},
    )
    assert weak.status_code == 200
    assert client.get(url, headers=admin_headers).get_json()["name"] == "B"


def test_every_get_of_a_single_resource_has_an_etag(client: FlaskClient, admin_headers) -> None:
    created = client.post("/v1/candidates", json={"name": "E"}, headers=admin_headers)
    for url in (
        "/v1/competencies/technical-depth",
        "/v1/roles/tpm",
        "/v1/roles/tpm/versions/1",
        created.headers["Location"],
    ):
        assert client.get(url, headers=admin_headers).headers["ETag"]


# --- Idempotency-Key ------------------------------------------------------------------------

POSTS = [
    ("/v1/candidates", {"name": "Idem"}, Candidate),
    ("/v1/competencies", {"key": "idem", "name": "Idem", "category": "c"}, Competency),
    (
        "/v1/roles",
        {
            "key": "idem",
            "title": "Idem",
            "responsibilities": [{"competency": "okrs", "importance": 3, "level": 3}],
        },
        Role,
    ),
]


@pytest.mark.parametrize(("url", "body", "model"), POSTS)
def test_a_retry_replays_the_first_response_and_writes_nothing(
    client: FlaskClient, admin_headers, session: Session, url: str, body: dict, model: Any
) -> None:
    headers = {**admin_headers, "Idempotency-Key": "retry-1"}
    before = count(session, model)
    first = client.post(url, json=body, headers=headers)
    assert first.status_code == 201, first.data
    assert "Idempotent-Replayed" not in first.headers
    # Same body with its keys in another order is the same request.
    again = client.post(url, json=dict(reversed(list(body.items()))), headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.mimetype == "application/json"
    assert count(session, model) == before + 1


def test_the_same_key_with_another_body_is_422(
    client: FlaskClient, admin_headers, session: Session
) -> None:
    headers = {**admin_headers, "Idempotency-Key": "k-1"}
    assert client.post("/v1/candidates", json={"name": "A"}, headers=headers).status_code == 201
    response = client.post("/v1/candidates", json={"name": "B"}, headers=headers)
    assert_problem(response, 422)
    other_path = client.post(
        "/v1/competencies", json={"key": "zz", "name": "Z", "category": "c"}, headers=headers
    )
    assert_problem(other_path, 422)
    assert count(session, Candidate) == 1
    assert count(session, Competency) == 10


def test_keys_are_scoped_to_the_api_key(client: FlaskClient, make_key, session: Session) -> None:
    body = {"name": "Scoped"}
    one = client.post(
        "/v1/candidates",
        json=body,
        headers={**bearer(make_key("hr-system")), "Idempotency-Key": "k"},
    )
    two = client.post(
        "/v1/candidates",
        json=body,
        headers={**bearer(make_key("recruiter")), "Idempotency-Key": "k"},
    )
    assert one.status_code == two.status_code == 201
    assert "Idempotent-Replayed" not in two.headers
    assert one.get_json()["id"] != two.get_json()["id"]
    assert count(session, Candidate) == 2


def test_a_failed_request_does_not_use_up_its_key(
    client: FlaskClient, admin_headers, session: Session
) -> None:
    headers = {**admin_headers, "Idempotency-Key": "k-fail"}
    bad = {"name": "X", "competencies": [{"competency": "nope", "level": 1}]}
    assert_problem(client.post("/v1/candidates", json=bad, headers=headers), 422)
    assert_problem(client.post("/v1/candidates", json=bad, headers=headers), 422)
    assert client.post("/v1/candidates", json={"name": "X"}, headers=headers).status_code == 201
    duplicate = {"name": "Y", "source": "s", "external_id": "1"}
    client.post("/v1/candidates", json=duplicate, headers=admin_headers)
    conflict_headers = {**admin_headers, "Idempotency-Key": "k-conflict"}
    assert_problem(client.post("/v1/candidates", json=duplicate, headers=conflict_headers), 409)
    assert count(session, Candidate) == 2


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "a\x01b", "tab\there", "é"])
def test_an_invalid_idempotency_key_is_400(
    client: FlaskClient, admin_headers, session: Session, key: str
) -> None:
    response = client.post(
        "/v1/candidates", json={"name": "X"}, headers={**admin_headers, "Idempotency-Key": key}
    )
    assert "Idempotency-Key" in assert_problem(response, 400)["detail"]
    assert count(session, Candidate) == 0


@pytest.mark.parametrize("key", ["k" * 255, "order 42/attempt:1", "~!@#$%^&*()"])
def test_printable_keys_up_to_255_characters_are_fine(
    client: FlaskClient, admin_headers, key: str
) -> None:
    headers = {**admin_headers, "Idempotency-Key": key}
    assert client.post("/v1/candidates", json={"name": "X"}, headers=headers).status_code == 201
    assert (
        client.post("/v1/candidates", json={"name": "X"}, headers=headers).headers[
            "Idempotent-Replayed"
        ]
        == "true"
    )


def test_a_retry_while_the_first_is_in_flight_is_409(
    client: FlaskClient, admin_headers, session: Session
) -> None:
    headers = {**admin_headers, "Idempotency-Key": "slow"}
    first = client.post("/v1/candidates", json={"name": "X"}, headers=headers)
    assert first.status_code == 201
    # Make the stored record look like a request that has not finished yet.
    session.execute(
        update(IdempotencyRecord).values(
            response_status=None, response_body=None, created_at=utcnow()
        )
    )
    session.commit()
    assert_problem(client.post("/v1/candidates", json={"name": "X"}, headers=headers), 409)
    # A claim abandoned long ago (its worker died) is taken over by the retry.
    session.execute(update(IdempotencyRecord).values(created_at=utcnow() - timedelta(minutes=5)))
    session.commit()
    retry = client.post("/v1/candidates", json={"name": "X"}, headers=headers)
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry.headers


def test_keys_are_kept_a_day_then_forgotten(
    client: FlaskClient, admin_headers, session: Session
) -> None:
    headers = {**admin_headers, "Idempotency-Key": "daily"}
    first = client.post("/v1/candidates", json={"name": "X"}, headers=headers)
    session.rollback()
    record = session.scalars(select(IdempotencyRecord)).one()
    assert record.expires_at - utcnow() > timedelta(hours=23, minutes=59)
    session.execute(update(IdempotencyRecord).values(expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    later = client.post("/v1/candidates", json={"name": "X"}, headers=headers)
    assert later.status_code == 201
    assert later.get_json()["id"] != first.get_json()["id"]


def test_maintenance_purges_only_expired_records(
    client: FlaskClient, admin_headers, session: Session, database_url: str, monkeypatch
) -> None:
    from click.testing import CliRunner

    from service.cli import main

    for key in ("old", "new"):
        client.post(
            "/v1/candidates", json={"name": key}, headers={**admin_headers, "Idempotency-Key": key}
        )
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.key == "old")
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    monkeypatch.setenv("ROLEFIT_DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["maintenance"])
    assert result.exit_code == 0, result.output
    assert "expired idempotency records deleted: 1" in result.stdout
    session.rollback()
    assert [r.key for r in session.scalars(select(IdempotencyRecord))] == ["new"]


def test_idempotency_key_is_ignored_outside_post(client: FlaskClient, admin_headers) -> None:
    created = client.post("/v1/candidates", json={"name": "X"}, headers=admin_headers)
    headers = {**admin_headers, "Idempotency-Key": "", "If-Match": created.headers["ETag"]}
    assert (
        client.patch(created.headers["Location"], json={"name": "Y"}, headers=headers).status_code
        == 200
    )


# --- unknown and server-owned fields, string bounds -----------------------------------------


def write_targets(
    client: FlaskClient, headers: dict[str, str]
) -> list[tuple[str, str, dict, dict]]:
    """(method, url, a valid body, extra headers) for every write that takes a body."""
    candidate = client.post("/v1/candidates", json={"name": "T"}, headers=headers)
    competency = client.get("/v1/competencies/okrs", headers=headers)
    competency = client.get("/v1/competencies/strategic-alignment", headers=headers)
    role = client.get("/v1/roles/tpm", headers=headers)
    role_body = {
        "title": "T",
        "responsibilities": [{"competency": "okrs", "importance": 3, "level": 3}],
    }
    return [
        ("POST", "/v1/candidates", {"name": "N"}, {}),
        ("POST", "/v1/candidates/batch", {"candidates": [{"name": "N"}]}, {}),
        (
            "PATCH",
            candidate.headers["Location"],
            {"name": "N"},
            {"If-Match": candidate.headers["ETag"]},
        ),
        (
            "PUT",
            candidate.headers["Location"] + "/competencies",
            {"competencies": []},
            {"If-Match": candidate.headers["ETag"]},
        ),
        ("POST", "/v1/competencies", {"key": "new-one", "name": "N", "category": "c"}, {}),
        (
            "PATCH",
            "/v1/competencies/strategic-alignment",
            {"name": "N"},
            {"If-Match": competency.headers["ETag"]},
        ),
        ("POST", "/v1/roles", {"key": "new-role", **role_body}, {}),
        ("PUT", "/v1/roles/tpm", role_body, {"If-Match": role.headers["ETag"]}),
    ]


@pytest.mark.parametrize(
    "extra",
    [
        {"id": "0190a000-0000-7000-8000-000000000000"},
        {"created_at": "2026-01-01T00:00:00Z"},
        {"updated_at": "2026-01-01T00:00:00Z"},
        {"version": 9},
        {"score": 99.5},
        {"row_version": 1},
        {"Name": "case matters"},
    ],
)
def test_unknown_and_server_owned_fields_are_422_everywhere(
    client: FlaskClient, admin_headers, session: Session, extra: dict[str, Any]
) -> None:
    for method, url, body, headers in write_targets(client, admin_headers):
        response = client.open(
            url, method=method, json={**body, **extra}, headers={**admin_headers, **headers}
        )
        problem = assert_problem(response, 422)
        assert set(extra) <= set(problem["errors"]), (method, url, problem)
    assert count(session, Candidate) == 1
    assert client.get("/v1/roles/tpm", headers=admin_headers).get_json()["version"] == 1


def test_nested_unknown_fields_are_422(client: FlaskClient, admin_headers) -> None:
    body = {"name": "N", "competencies": [{"competency": "okrs", "level": 2, "weight": 1}]}
    problem = assert_problem(client.post("/v1/candidates", json=body, headers=admin_headers), 422)
    assert "competencies.0.weight" in problem["errors"]


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/v1/candidates", {"name": "n" * 201}, "name"),
        ("/v1/candidates", {"name": "N", "external_id": "e" * 256, "source": "s"}, "external_id"),
        ("/v1/candidates", {"name": "N", "headline": "h" * 301}, "headline"),
        ("/v1/candidates", {"name": "N", "phone": "1" * 51}, "phone"),
        ("/v1/candidates", {"name": "a\u0000b"}, "name"),
        ("/v1/candidates", {"name": "N", "headline": "\u0000"}, "headline"),
        (
            "/v1/candidates",
            {"name": "N", "competencies": [{"competency": "okrs", "level": 1, "note": "\u0000"}]},
            "competencies.0.note",
        ),
        (
            "/v1/candidates",
            {"name": "N", "competencies": [{"competency": "o\u0000krs", "level": 1}]},
            "competencies.0.competency",
        ),
        ("/v1/competencies", {"key": "k-k", "name": "\u0000", "category": "c"}, "name"),
        (
            "/v1/competencies",
            {"key": "k-k", "name": "N", "category": "c", "aliases": ["a\u0000"]},
            "aliases.0",
        ),
        (
            "/v1/roles",
            {
                "key": "r-r",
                "title": "T\u0000",
                "responsibilities": [{"competency": "okrs", "importance": 1, "level": 1}],
            },
            "title",
        ),
    ],
)
def test_strings_are_bounded_and_nul_free(
    client: FlaskClient, admin_headers, url: str, body: dict, field: str
) -> None:
    problem = assert_problem(client.post(url, json=body, headers=admin_headers), 422)
    assert field in problem["errors"]


def test_a_candidate_holds_at_most_200_records(client: FlaskClient, admin_headers) -> None:
    records = [{"competency": "okrs", "level": 1}] * 201
    problem = assert_problem(
        client.post(
            "/v1/candidates", json={"name": "N", "competencies": records}, headers=admin_headers
        ),
        422,
    )
    assert problem["errors"]["competencies"]


def test_lone_surrogates_are_422_not_500(client: FlaskClient, admin_headers) -> None:
    body = '{"name": "broken \\ud800 text"}'
    response = client.post(
        "/v1/candidates",
        data=body,
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert "name" in assert_problem(response, 422)["errors"]


@pytest.mark.parametrize(
    "url",
    [
        "/v1/competencies/a%00b",
        "/v1/competencies/" + "x" * 300,
        "/v1/roles/tpm%00",
        "/v1/roles/tpm/versions/99999999999999999999",
        "/v1/roles/tpm/versions/0",
        "/v1/candidates/not-a-uuid",
    ],
)
def test_impossible_path_values_are_404_not_500(
    client: FlaskClient, admin_headers, url: str
) -> None:
    assert_problem(client.get(url, headers=admin_headers), 404)
