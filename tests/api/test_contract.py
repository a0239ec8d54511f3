"""The document says exactly what the service enforces (issue 10, "An exact contract").

Each rule found by running schemathesis as an outside client would is checked twice: the service
behaves as the document says, and the document states the rule the service applies.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from service.api import unit_of_work
from service.api.schemas import NAME_PATTERN, PLAIN_TEXT_PATTERN, plain_name, plain_text
from tests.api.test_ops_and_errors import assert_problem

SPEC: dict[str, Any] = {}


@pytest.fixture
def spec(app: Flask) -> dict[str, Any]:
    if not SPEC:
        SPEC.update(app.extensions["rolefit.api"].spec.to_dict())
    return SPEC


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = spec["components"]["schemas"][name]
    return found


def _operation(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    found: dict[str, Any] = spec["paths"][path][method]
    return found


def _parameter(operation: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in operation["parameters"] if p["name"] == name)


def _candidate(client: FlaskClient, headers: dict[str, str]) -> tuple[str, str]:
    created = client.post("/v1/candidates", json={"name": "Ada"}, headers=headers)
    assert created.status_code == 201
    return created.get_json()["id"], created.headers["ETag"]


# --- text fields --------------------------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=6)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_the_text_pattern_is_the_plain_text_rule(value: str) -> None:
    allowed = True
    try:
        plain_text(value)
    except Exception:
        allowed = False
    assert bool(re.fullmatch(PLAIN_TEXT_PATTERN, value)) == allowed


@settings(max_examples=300, deadline=None)
@given(st.one_of(TEXT, st.sampled_from(["\u00a0", " \u3000x", "\t", "\u2028"])))
def test_the_name_pattern_is_the_alias_rule(value: str) -> None:
    allowed = True
    try:
        plain_name(value)
    except Exception:
        allowed = False
    assert bool(re.fullmatch(NAME_PATTERN, value)) == allowed


def test_every_text_field_of_a_body_states_the_rule(spec: dict[str, Any]) -> None:
    candidate = _schema(spec, "CandidateCreate")["properties"]
    assert candidate["name"]["pattern"] == PLAIN_TEXT_PATTERN
    assert candidate["headline"]["pattern"] == PLAIN_TEXT_PATTERN
    record = _schema(spec, "CompetencyRecord")["properties"]
    assert record["note"]["pattern"] == PLAIN_TEXT_PATTERN
    aliases = _schema(spec, "CompetencyCreate")["properties"]["aliases"]["items"]
    assert aliases["pattern"] == NAME_PATTERN


def test_a_blank_alias_is_refused_as_documented(client: FlaskClient, admin_headers) -> None:
    body = {"key": "blank-alias", "name": "B", "category": "c", "aliases": ["\u00a0 "]}
    body_errors = assert_problem(
        client.post("/v1/competencies", json=body, headers=admin_headers), 422
    )
    assert "aliases.0" in body_errors["errors"]


# --- Idempotency-Key and If-Match ---------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=8))
def test_the_idempotency_key_rule_is_printable_ascii_without_outer_spaces(value: str) -> None:
    expected = 1 <= len(value) <= 255 and value.strip(" ") == value and value.isprintable()
    assert unit_of_work._valid_key(value) == (expected and value.isascii())


@pytest.mark.parametrize("header", ["nope", '"1', "W/1", '"1" "2"', '"a"b"'])
def test_a_malformed_if_match_is_a_400(client: FlaskClient, admin_headers, header: str) -> None:
    candidate_id, _etag = _candidate(client, admin_headers)
    response = client.patch(
        f"/v1/candidates/{candidate_id}",
        json={"name": "Grace"},
        headers={**admin_headers, "If-Match": header},
    )
    assert_problem(response, 400)


@pytest.mark.parametrize("header", ["*", '"9"', 'W/"9"', '"8", "9"', '"8",W/"9"'])
def test_a_well_formed_if_match_is_compared(
    client: FlaskClient, admin_headers, header: str
) -> None:
    candidate_id, _etag = _candidate(client, admin_headers)
    response = client.patch(
        f"/v1/candidates/{candidate_id}",
        json={"name": "Grace"},
        headers={**admin_headers, "If-Match": header},
    )
    assert response.status_code == (200 if header == "*" else 412)


def test_if_match_states_its_format(spec: dict[str, Any]) -> None:
    operation = _operation(spec, "/v1/candidates/{candidate_id}", "patch")
    schema = _parameter(operation, "If-Match")["schema"]
    assert schema["pattern"] == unit_of_work.IF_MATCH_PATTERN
    idempotency = _parameter(_operation(spec, "/v1/candidates", "post"), "Idempotency-Key")
    assert idempotency["schema"]["pattern"] == unit_of_work.IDEMPOTENCY_KEY_PATTERN
    assert {"400", "412", "428"} <= set(operation["responses"])


# --- bodies -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["patch", "put"])
def test_a_missing_body_is_a_400_before_if_match(
    client: FlaskClient, admin_headers, method: str
) -> None:
    candidate_id, etag = _candidate(client, admin_headers)
    url = f"/v1/candidates/{candidate_id}" + ("/competencies" if method == "put" else "")
    for headers in ({}, {"If-Match": '"999"'}, {"If-Match": etag}):
        response = client.open(url, method=method.upper(), headers={**admin_headers, **headers})
        assert_problem(response, 400)
    after = client.get(f"/v1/candidates/{candidate_id}", headers=admin_headers)
    assert after.headers["ETag"] == etag  # nothing was written


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/candidates", {"name": "x", "years_experience": "5"}),
        ("/v1/candidates", {"name": "x", "competencies": [{"competency": "scope", "level": 3.0}]}),
        ("/v1/candidates", {"name": "x", "competencies": [{"competency": "scope", "level": True}]}),
        (
            "/v1/candidates",
            {"name": "x", "competencies": [{"competency": "scope", "level": 3, "years": "2"}]},
        ),
        (
            "/v1/roles",
            {
                "key": "strict",
                "title": "t",
                "responsibilities": [{"competency": "scope", "importance": "3", "level": 3}],
            },
        ),
        (
            "/v1/roles",
            {
                "key": "strict",
                "title": "t",
                "responsibilities": [
                    {"competency": "scope", "importance": 3, "level": 3, "must_have": 0}
                ],
            },
        ),
    ],
)
def test_json_types_are_not_coerced(client: FlaskClient, admin_headers, path: str, body) -> None:
    assert_problem(client.post(path, json=body, headers=admin_headers), 422)


def test_legal_hold_takes_a_boolean_only(client: FlaskClient, admin_headers) -> None:
    candidate_id, etag = _candidate(client, admin_headers)
    for value in ("false", 0, "yes"):
        response = client.patch(
            f"/v1/candidates/{candidate_id}",
            json={"legal_hold": value},
            headers={**admin_headers, "If-Match": etag},
        )
        assert_problem(response, 422)


def test_the_day_of_a_last_used_date_is_ignored(client: FlaskClient, admin_headers) -> None:
    body = {
        "name": "x",
        "competencies": [{"competency": "technical-depth", "level": 3, "last_used": "2024-02-30"}],
    }
    created = client.post("/v1/candidates", json=body, headers=admin_headers)
    assert created.status_code == 201, created.data
    assert created.get_json()["competencies"][0]["last_used"] == "2024-02"
    body["competencies"][0]["last_used"] = "2024-02-32"
    assert_problem(client.post("/v1/candidates", json=body, headers=admin_headers), 422)


@pytest.mark.parametrize(
    ("email", "status"),
    [
        ("ada@example.com\n", 422),
        ("ada@example.com", 201),
        ("a.b+c@mail.example.co.uk", 201),
        ("ü@example.com", 422),
        ("a@b", 422),
        ("a b@example.com", 422),
    ],
)
def test_email_follows_its_documented_pattern(
    client: FlaskClient, admin_headers, spec: dict[str, Any], email: str, status: int
) -> None:
    response = client.post(
        "/v1/candidates", json={"name": "x", "email": email}, headers=admin_headers
    )
    assert response.status_code == status, response.data
    pattern = _schema(spec, "CandidateCreate")["properties"]["email"]["pattern"]
    assert bool(re.fullmatch(pattern, email)) == (status == 201)


def test_fit_roles_are_two_different_keys_as_documented(spec: dict[str, Any]) -> None:
    roles = _parameter(_operation(spec, "/v1/candidates/{candidate_id}/fit", "get"), "roles")
    assert (roles["style"], roles["explode"]) == ("form", False)
    assert roles["schema"]["minItems"] == roles["schema"]["maxItems"] == 2
    assert roles["schema"]["uniqueItems"] is True


@pytest.mark.parametrize("key", ["tpm\n", "Tpm", "t"])
def test_a_key_is_a_slug_to_its_end(client: FlaskClient, admin_headers, key: str) -> None:
    body = {"key": key, "name": "x", "category": "c"}
    assert_problem(client.post("/v1/competencies", json=body, headers=admin_headers), 422)


def test_keys_in_paths_state_the_slug_rule(spec: dict[str, Any]) -> None:
    for path in ("/v1/roles/{key}", "/v1/competencies/{key}", "/v1/roles/{key}/matches"):
        key = next(p for p in spec["paths"][path]["parameters"] if p["name"] == "key")
        assert key["schema"]["pattern"] == "^[a-z][a-z0-9-]{1,63}$"


def test_a_cursor_is_never_empty_and_says_so(client: FlaskClient, admin_headers, spec) -> None:
    cursor = _parameter(_operation(spec, "/v1/candidates", "get"), "cursor")
    assert cursor["schema"]["minLength"] == 1
    assert_problem(client.get("/v1/candidates?cursor=", headers=admin_headers), 400)


# --- the unit of work of every view -------------------------------------------------------------


def test_every_view_that_is_not_a_get_declares_its_unit_of_work(app: Flask) -> None:
    """A view without ``@write`` or ``@read_only`` would silently get a write transaction that
    nobody commits; POST /v1/match is the one non-GET view that only reads."""
    from service.api.blueprint import view_handler

    declared = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/"):
            continue
        for method in sorted((rule.methods or set()) - {"GET", "HEAD", "OPTIONS"}):
            handler = view_handler(app, rule.endpoint, method)
            declared[f"{method} {rule.rule}"] = getattr(handler, unit_of_work.MODE_ATTRIBUTE, None)
    assert declared and None not in declared.values(), declared
    assert {op for op, mode in declared.items() if mode == "read"} == {"POST /v1/match"}


def test_a_delete_with_a_body_that_is_not_json_changes_nothing(
    client: FlaskClient, admin_headers
) -> None:
    candidate_id, _etag = _candidate(client, admin_headers)
    response = client.delete(
        f"/v1/candidates/{candidate_id}",
        data=b"{",
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert_problem(response, 400)
    assert client.get(f"/v1/candidates/{candidate_id}", headers=admin_headers).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/v1/transitions?occurred_after=0001-01-01T00:00:00%2B01:00",
        "/v1/applications?updated_after=0001-01-01T00:00:00%2B01:00",
        "/v1/candidates?updated_after=0001-01-01T00:00:00%2B01:00",
        "/v1/audit-events?since=0001-01-01T00:00:00%2B01:00",
    ],
)
def test_a_time_with_no_utc_equivalent_is_a_422_not_a_500(
    client: FlaskClient, admin_headers, url: str
) -> None:
    assert_problem(client.get(url, headers=admin_headers), 422)
