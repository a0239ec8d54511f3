"""Input fuzzing beyond the spec: garbage at every write endpoint is a 4xx problem, never a 5xx,
and writes nothing.

The write endpoints come from the URL map (every POST, PUT and PATCH under /v1), so a new one is
fuzzed as soon as it exists (and this module asks for a sample body for it). Each gets a valid
sample body, then Hypothesis breaks it: malformed JSON, 10,000 levels of nesting, numbers no
double can hold (10**400, -1e309), NaN and Infinity, invalid UTF-8, control characters, lone
surrogates, wrong shapes, and bodies just under and just over the 1 MiB limit. Every response
must be a 4xx ``application/problem+json``, and the data tables must be exactly as before.

A batch is the one exception by design: an item that is valid JSON but not a valid candidate
gets its own 422 result inside a 200, and never blocks the others (still, nothing is written).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.routing import Rule

from service import create_app
from service.domain.applications import Actor, act, create_application
from service.domain.builtin import builtin_data
from service.domain.candidates import create_candidate
from service.infra.database import Database
from service.infra.orm import Base, utcnow
from service.models import Candidate, Job, JobStage, Role
from tests.conftest import make_config

PROBLEM = "application/problem+json"
WRITE_METHODS = ("POST", "PUT", "PATCH")
# Tables that legitimately change on a refused request: key use, the audit trail of refusals,
# rate-limit counters. Everything else is the data that must be left exactly as it was.
NOT_DATA = {"api_keys", "audit_events", "rate_limit_counters"}
MAX_EXAMPLES = 30

COMPETENCIES = [item["key"] for item in builtin_data()["competencies"]]
RECORD = {
    "competency": COMPETENCIES[0],
    "level": 3,
    "years": 2.5,
    "last_used": "2026-06",
    "evidence": "interview",
    "note": "led the migration",
}
CANDIDATE = {
    "name": "Ada Fuzz",
    "source": "fuzz",
    "external_id": "fuzz-1",
    "email": "ada@example.com",
    "phone": "+44 20 7946 0000",
    "headline": "Program lead",
    "years_experience": 7.5,
    "competencies": [RECORD],
}
ROLE_BODY = {
    "title": "Fuzz role",
    "summary": "A role for fuzzing",
    "focus": "robustness",
    "responsibilities": [
        {
            "competency": COMPETENCIES[1],
            "importance": 4,
            "level": 3,
            "must_have": True,
            "rationale": "needed",
        }
    ],
}
# The pipeline's fixed ids (the send fixture creates them): job A takes new applications and
# stage edits; job B holds the applications that the actions act on.
JOB_A = uuid.UUID("00000000-0000-7000-8000-00000000000a")
JOB_B = uuid.UUID("00000000-0000-7000-8000-00000000000b")
STAGE_B1 = uuid.UUID("00000000-0000-7000-8000-0000000000b1")
STAGE_B2 = uuid.UUID("00000000-0000-7000-8000-0000000000b2")
APPLICANT = uuid.UUID("00000000-0000-7000-8000-0000000000c1")
NOTE = {"note": "decided in the debrief"}
# Which application each action acts on (by the status the action needs).
ACTION_TARGETS = {"move": "active", "reject": "active", "hire": "active"}
ACTION_TARGETS |= {"unreject": "rejected", "unhire": "hired"}
# A valid body for every write endpoint, keyed by (method, rule): the baseline that each
# example breaks in one place.
SAMPLE_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/competencies"): {
        "key": "fuzz-skill",
        "name": "Fuzz skill",
        "category": "testing",
        "description": "Breaking things on purpose",
        "aliases": ["chaos testing"],
    },
    ("PATCH", "/v1/competencies/<string:key>"): {
        "name": "Renamed",
        "description": "Changed",
        "aliases": ["another alias"],
    },
    ("POST", "/v1/roles"): {"key": "fuzz-role", **ROLE_BODY},
    ("PUT", "/v1/roles/<string:key>"): ROLE_BODY,
    ("POST", "/v1/candidates"): CANDIDATE,
    ("PATCH", "/v1/candidates/<uuid:candidate_id>"): {
        "name": "Ada Renamed",
        "headline": "Changed",
        "years_experience": 8,
        "competencies": [RECORD],
    },
    ("PUT", "/v1/candidates/<uuid:candidate_id>/competencies"): {"competencies": [RECORD]},
    ("POST", "/v1/candidates/batch"): {"candidates": [CANDIDATE]},
    # Every leaf is a field the import reads and checks.
    ("POST", "/v1/candidates/import"): {
        "basics": {
            "name": "Ada Fuzz",
            "label": "Program lead",
            "email": "ada@example.com",
            "phone": "+44 20 7946 0000",
        },
        "skills": [{"name": "Program management", "level": "Expert", "keywords": ["OKRs"]}],
        "work": [
            {
                "position": "Program manager",
                "summary": "Ran the portfolio",
                "startDate": "2019-04",
                "endDate": "2024-01",
                "highlights": ["Set OKRs"],
            }
        ],
    },
    ("POST", "/v1/match"): {"competencies": [RECORD], "roles": ["tpm"]},
    ("POST", "/v1/bias-audits"): {
        "role": "tpm",
        "selection": "band-strong",
        "window": {"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"},
        "exclude_small_categories": True,
        "justification": "categories under 2 % cannot carry a rate",
    },
    ("PUT", "/v1/candidates/<uuid:candidate_id>/self-identification"): {
        "sex": "female",
        "race_ethnicity": "asian",
    },
    ("POST", "/v1/jobs"): {"title": "Fuzz job", "role": "tpm", "department": "QA"},
    ("PATCH", "/v1/jobs/<uuid:job_id>"): {"title": "Renamed job", "location": "Remote"},
    ("PUT", "/v1/jobs/<uuid:job_id>/stages"): {
        "stages": [{"name": "Applied", "kind": "applied"}, {"name": "Panel", "kind": "interview"}]
    },
    ("POST", "/v1/rejection-reasons"): {"key": "fuzz-reason", "name": "Fuzz", "type": "other"},
    ("PATCH", "/v1/rejection-reasons/<string:key>"): {"name": "Other reasons"},
    ("POST", "/v1/applications"): {
        "candidate_id": str(APPLICANT),
        "job_id": str(JOB_A),
        "source": {"channel": "referral", "detail": "a colleague"},
    },
    ("POST", "/v1/applications/batch"): {
        "applications": [{"candidate_id": str(APPLICANT), "job_id": str(JOB_A)}]
    },
    ("POST", "/v1/applications/<uuid:application_id>/move"): {
        "from_stage": str(STAGE_B1),
        "to_stage": str(STAGE_B2),
        "note": "strong screen",
    },
    ("POST", "/v1/applications/<uuid:application_id>/reject"): {"reason": "other", **NOTE},
    ("POST", "/v1/applications/<uuid:application_id>/unreject"): NOTE,
    ("POST", "/v1/applications/<uuid:application_id>/hire"): NOTE,
    ("POST", "/v1/applications/<uuid:application_id>/unhire"): NOTE,
    ("POST", "/v1/webhook-endpoints"): {
        "url": "https://hooks.example.com/rolefit",
        "description": "ATS sync",
        "event_types": ["application.*", "candidate.erased"],
        "enabled": True,
    },
    ("PATCH", "/v1/webhook-endpoints/<uuid:endpoint_id>"): {
        "url": "https://hooks.example.com/other",
        "description": "Renamed",
        "event_types": ["job.*"],
        "enabled": False,
    },
    ("POST", "/v1/webhook-endpoints/<uuid:endpoint_id>/recover"): {"since": "2026-01-01T00:00:00Z"},
}
# Writes that take no body (what is sent is not read).
BODYLESS = {
    ("POST", "/v1/webhook-endpoints/<uuid:endpoint_id>/rotate-secret"),
    ("POST", "/v1/webhook-endpoints/<uuid:endpoint_id>/test"),
}
BATCHES = {("POST", "/v1/candidates/batch"), ("POST", "/v1/applications/batch")}
# Bodies in a format meant to be extended (JSON Resume): an extra top-level member is an
# unknown section, ignored whatever its name, so the "key" breakage does not apply to them.
EXTENSIBLE = {("POST", "/v1/candidates/import")}


def _write_routes(app: Flask) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/v1/"):
            routes += [(m, rule.rule) for m in WRITE_METHODS if m in (rule.methods or ())]
    return sorted(route for route in routes if route not in BODYLESS)


# The routes as the code defines them (building an app connects to nothing).
ROUTES = _write_routes(create_app(make_config("sqlite://")))


# --- the state that must not change -------------------------------------------------------


def snapshot(database: Database) -> dict[str, list[str]]:
    """Every row of every data table, in a stable order."""
    rows: dict[str, list[str]] = {}
    with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name not in NOT_DATA:
                found = connection.execute(table.select()).all()
                rows[table.name] = sorted(repr(tuple(row)) for row in found)
    return rows


# --- requests -----------------------------------------------------------------------------


@pytest.fixture
def send(
    app: Flask, client: FlaskClient, admin_headers: dict[str, str], database: Database
) -> Callable[..., Any]:
    """``send(method, rule, body_bytes)`` against the live resource that ``rule`` names."""
    created = client.post("/v1/candidates", json={"name": "Target"}, headers=admin_headers)
    assert created.status_code == 201
    endpoint = client.post(
        "/v1/webhook-endpoints",
        json={"url": "https://hooks.example.com/target", "event_types": ["job.*"]},
        headers=admin_headers,
    )
    assert endpoint.status_code == 201
    values = {
        "candidate_id": created.get_json()["id"],
        "endpoint_id": endpoint.get_json()["id"],
        "job_id": str(JOB_A),
        "/v1/roles/": "tpm",
        "/v1/competencies/": COMPETENCIES[2],
        "/v1/rejection-reasons/": "other",
    }
    applications = _pipeline(database)

    def url_for(rule: Rule) -> str:
        args = {}
        for name in rule.arguments:
            if name == "key":
                args[name] = next(v for p, v in values.items() if rule.rule.startswith(p))
            elif name == "application_id":
                action = rule.rule.rsplit("/", 1)[-1]
                args[name] = applications[ACTION_TARGETS.get(action, "active")]
            else:
                args[name] = values[name]
        return rule.build(args, append_unknown=False)[1]  # type: ignore[index]

    rules = {rule.rule: rule for rule in app.url_map.iter_rules()}

    def request(method: str, rule: str, body: bytes, idempotency_key: str | None = None) -> Any:
        headers = {**admin_headers, "Content-Type": "application/json"}
        if method in ("PUT", "PATCH") or rule.startswith("/v1/applications/<"):
            headers["If-Match"] = "*"  # any current version: only the body can be at fault
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return client.open(url_for(rules[rule]), method=method, data=body, headers=headers)

    return request


def _pipeline(database: Database) -> dict[str, str]:
    """Jobs A (open, empty) and B (open, with an active, a rejected and a hired application),
    with the fixed ids the sample bodies name; the applications' ids by status."""
    actor = Actor(key_id=None, name="fuzz")
    with database.session() as session:
        role_id = session.scalar(select(Role.id).where(Role.key == "tpm"))
        now = utcnow()
        for job_id, stage_ids in ((JOB_A, (None, None)), (JOB_B, (STAGE_B1, STAGE_B2))):
            stages = [
                JobStage(id=stage_id or uuid.uuid4(), name=name, kind=kind, position=position)
                for position, (stage_id, (name, kind)) in enumerate(
                    zip(stage_ids, [("Applied", "applied"), ("Screen", "screen")], strict=True),
                    start=1,
                )
            ]
            session.add(
                Job(
                    id=job_id,
                    title=f"job {job_id}",
                    role_id=role_id,
                    status="open",
                    openings=3,
                    opened_at=now,
                    stages=stages,
                )
            )
        session.add(Candidate(id=APPLICANT, name="Applicant"))
        by_status = {}
        for status in ("active", "rejected", "hired"):
            candidate = create_candidate(session, {"name": f"In pipeline, {status}"})
            application = create_application(
                session, {"candidate_id": candidate.id, "job_id": JOB_B}, actor
            )
            if status == "rejected":
                act(session, application, "reject", {"reason": "other"}, actor)
            elif status == "hired":
                act(session, application, "hire", {}, actor)
            by_status[status] = str(application.id)
        session.commit()
    return by_status


def assert_unchanged(
    database: Database, before: dict[str, list[str]], method: str, rule: str, response: Any
) -> None:
    """Nothing was written; except that a batch answered 200 (every item refused) is a response
    like any other, which an Idempotency-Key stores for replay."""
    after = snapshot(database)
    if (method, rule) in BATCHES and response.status_code == 200:
        after.pop("idempotency_records"), before.pop("idempotency_records")
    assert after == before


def assert_refused(method: str, rule: str, response: Any) -> None:
    """A 4xx problem; for a batch also a 200 whose every item is refused."""
    if (method, rule) in BATCHES and response.status_code == 200:
        results = response.get_json()["results"]
        assert results and all(r["status"] in (404, 409, 422) for r in results), results
        return
    assert 400 <= response.status_code < 500, (response.status_code, response.data[:500])
    assert response.mimetype == PROBLEM
    problem = json.loads(response.data)
    assert problem["status"] == response.status_code
    assert {"type", "title", "detail", "instance", "request_id"} <= set(problem)


# --- how to break a body ------------------------------------------------------------------

MARK = "\u2603fuzz\u2603"
MARK_TOKEN = json.dumps(MARK).encode()


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to every scalar in a JSON value."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from leaves(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from leaves(child, (*path, index))
    else:
        yield path


def with_token(body: Any, path: tuple[Any, ...], token: bytes) -> bytes:
    """``body`` as JSON bytes with the value at ``path`` replaced by the raw bytes ``token``."""
    copy = json.loads(json.dumps(body))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = MARK
    raw = json.dumps(copy).encode()
    assert raw.count(MARK_TOKEN) == 1
    return raw.replace(MARK_TOKEN, token)


printable = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"\\'),
    max_size=6,
)


@st.composite
def control_string(draw: st.DrawFn) -> bytes:
    code = draw(st.sampled_from([c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)]))
    # Escaped it is valid JSON (the schema refuses it); raw it is not JSON at all.
    char = f"\\u{code:04x}".encode() if draw(st.booleans()) else bytes([code])
    return b'"' + draw(printable).encode() + char + draw(printable).encode() + b'"'


@st.composite
def lone_surrogate(draw: st.DrawFn) -> bytes:
    code = draw(st.integers(0xD800, 0xDFFF))
    return f'"{draw(printable)}\\u{code:04x}{draw(printable)}"'.encode()


INVALID_UTF8 = [
    b"\xff",
    b"\xfe\xff",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xe2\x82",
    b"\x80",
    b"\xf8\x88",
]


@st.composite
def invalid_utf8_string(draw: st.DrawFn) -> bytes:
    return b'"' + draw(printable).encode() + draw(st.sampled_from(INVALID_UTF8)) + b'"'


HUGE_NUMBERS = [
    b"1" + b"0" * 400,  # 10**400
    b"-1e309",
    b"1e400",
    b"-" + b"9" * 5000,  # over Python's 4300-digit int limit
    b"1" + b"0" * 5000,
    b"123456789012345678901234567890e300",
]
NAN_AND_INFINITY = [b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"-inf"]
BROKEN_FRAGMENTS = [
    b"{",
    b"]",
    b"'single'",
    b"tru",
    b"undefined",
    b"0x10",
    b"01",
    b"+1",
    b".5",
    b"1.",
    b"--1",
    b'"unterminated',
    b"1 2",
    b"{,}",
    b"[1,]",
    b'{"a" 1}',
]


def nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


nesting = st.builds(nested, st.sampled_from([40, 1000, 10_000]), st.sampled_from(["array", "obj"]))

bad_values = st.one_of(
    control_string(),
    lone_surrogate(),
    invalid_utf8_string(),
    st.sampled_from(HUGE_NUMBERS),
    st.sampled_from(NAN_AND_INFINITY),
    st.sampled_from(BROKEN_FRAGMENTS),
    nesting,
)


@st.composite
def broken_documents(draw: st.DrawFn, body: Any, extensible: bool = False) -> bytes:
    raw = json.dumps(body).encode()
    kinds = ["truncated", "trailing", "bom", "bytes", "shape", "deep", "key", "utf16", "keys"]
    kind = draw(st.sampled_from([k for k in kinds if not (extensible and k == "key")]))
    if kind == "truncated":
        return raw[: draw(st.integers(1, len(raw) - 1))]
    if kind == "trailing":
        return raw + draw(st.sampled_from([b"x", b"}", b",", b"{}", b"\x00", b" null"]))
    if kind == "bom":
        return b"\xef\xbb\xbf" + raw
    if kind == "bytes":
        return draw(st.binary(min_size=1, max_size=64))
    if kind == "shape":
        return draw(st.sampled_from([b"null", b"[]", b"1", b'"x"', b"true", b"[{}]", b"[null]"]))
    if kind == "deep":
        return draw(nesting)
    if kind == "utf16":
        return raw.decode().encode("utf-16")
    if kind == "keys":  # the same sample body, every key wrapped in another object
        return b'{"data": ' + raw + b"}"
    # An extra top-level member whose name is itself garbage.
    name = draw(st.one_of(control_string(), lone_surrogate(), st.just(b'""')))
    return raw[:-1] + b", " + name + b": 1}"


# --- the tests ----------------------------------------------------------------------------

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # The fixtures' state is read, never changed, by a passing example.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_every_write_route_is_fuzzed(app: Flask) -> None:
    assert _write_routes(app) == ROUTES
    missing = [route for route in ROUTES if route not in SAMPLE_BODIES]
    assert not missing, f"add a valid sample body to SAMPLE_BODIES for {missing}"


@pytest.mark.parametrize(("method", "rule"), ROUTES)
def test_the_sample_bodies_are_valid(
    send: Callable[..., Any], method: str, rule: str, database: Database
) -> None:
    """The baseline: unbroken, each sample body is accepted (so a refusal below is the fuzz's)."""
    response = send(method, rule, json.dumps(SAMPLE_BODIES[(method, rule)]).encode())
    assert response.status_code in (200, 201, 202, 204), response.data[:500]
    if (method, rule) in BATCHES:
        assert [r["status"] for r in response.get_json()["results"]] == [201]


@pytest.mark.parametrize(("method", "rule"), ROUTES)
@FUZZ_SETTINGS
@given(data=st.data())
def test_a_broken_value_is_refused(
    send: Callable[..., Any], database: Database, method: str, rule: str, data: st.DataObject
) -> None:
    body = SAMPLE_BODIES[(method, rule)]
    path = data.draw(st.sampled_from(list(leaves(body))), label="path")
    token = data.draw(bad_values, label="token")
    key = data.draw(st.none() | st.just("fuzz-key"), label="key") if method == "POST" else None
    before = snapshot(database)
    response = send(method, rule, with_token(body, path, token), key)
    assert_refused(method, rule, response)
    assert_unchanged(database, before, method, rule, response)


@pytest.mark.parametrize(("method", "rule"), ROUTES)
@FUZZ_SETTINGS
@given(data=st.data())
def test_a_broken_document_is_refused(
    send: Callable[..., Any], database: Database, method: str, rule: str, data: st.DataObject
) -> None:
    extensible = (method, rule) in EXTENSIBLE
    raw = data.draw(broken_documents(SAMPLE_BODIES[(method, rule)], extensible), label="body")
    key = data.draw(st.none() | st.just("fuzz-key"), label="key") if method == "POST" else None
    before = snapshot(database)
    response = send(method, rule, raw, key)
    assert_refused(method, rule, response)
    assert_unchanged(database, before, method, rule, response)


def _longest_string_leaf(body: Any) -> tuple[Any, ...]:
    def length(path: tuple[Any, ...]) -> int:
        value = body
        for step in path:
            value = value[step]
        return len(value) if isinstance(value, str) else -1

    return max(leaves(body), key=length)


@pytest.mark.parametrize("margin", [-64, 1])
@pytest.mark.parametrize(("method", "rule"), ROUTES)
def test_a_long_string_near_the_body_limit_is_refused(
    app: Flask, send: Callable[..., Any], database: Database, method: str, rule: str, margin: int
) -> None:
    """A string field holding (almost) a whole MiB: a 422 just under the limit, a 413 over it."""
    limit = app.extensions["rolefit.config"].max_body_bytes
    body = SAMPLE_BODIES[(method, rule)]
    skeleton = with_token(body, _longest_string_leaf(body), b'""')
    filler = b"a" * (limit + margin - len(skeleton))
    raw = with_token(body, _longest_string_leaf(body), b'"' + filler + b'"')
    assert len(raw) == limit + margin
    before = snapshot(database)
    response = send(method, rule, raw, None)
    assert_refused(method, rule, response)
    if margin > 0:
        assert response.status_code == 413
    assert snapshot(database) == before


# --- the bugs this found, one by one ------------------------------------------------------

DEEP = b"[" * 10_000 + b"]" * 10_000


@pytest.mark.parametrize("idempotency_key", [None, "fuzz-regression"])
@pytest.mark.parametrize(
    ("body", "status"),
    [
        # RecursionError in the JSON parser (and again in the Idempotency-Key fingerprint).
        (DEEP, 400),
        (b'{"name": "N", "headline": ' + DEEP + b"}", 400),
        # int("1" + 5000 zeros) exceeds Python's digit limit: ValueError, not a JSON error.
        (b'{"name": "N", "years_experience": 1' + b"0" * 5000 + b"}", 400),
        # float(10**400) overflows in the fast loader.
        (b'{"name": "N", "years_experience": 1' + b"0" * 400 + b"}", 400),
        (
            b'{"name": "N", "competencies": [{"competency": "technical-depth", "level": 3, '
            b'"years": 1' + b"0" * 400 + b"}]}",
            400,
        ),
        # Not JSON at all, though Python's parser takes them.
        (b'{"name": "N", "years_experience": NaN}', 400),
        (b'{"name": "N", "years_experience": -Infinity}', 400),
        (b'{"name": "N", "years_experience": -1e309}', 400),
        # Was stored as is.
        (b'{"name": "bell \\u0007 in a name"}', 422),
        (b'{"name": "escape \\u001b[31m"}', 422),
    ],
)
def test_the_bodies_that_broke_it(
    client: FlaskClient,
    admin_headers: dict[str, str],
    database: Database,
    body: bytes,
    status: int,
    idempotency_key: str | None,
) -> None:
    headers = {**admin_headers, "Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    before = snapshot(database)
    response = client.post("/v1/candidates", data=body, headers=headers)
    assert response.status_code == status, response.data[:300]
    assert response.mimetype == PROBLEM
    assert snapshot(database) == before


@pytest.mark.parametrize("alias", [" ", "\t", " \n "])
def test_a_blank_alias_is_refused(
    client: FlaskClient, admin_headers: dict[str, str], alias: str
) -> None:
    """A blank alias was stored as "" (white space collapsed): an alias of nothing at all."""
    body = {"key": "blank-alias", "name": "N", "category": "c", "aliases": [alias]}
    response = client.post("/v1/competencies", json=body, headers=admin_headers)
    assert response.status_code == 422
    assert "aliases.0" in response.get_json()["errors"]
    key = COMPETENCIES[0]
    etag = client.get(f"/v1/competencies/{key}", headers=admin_headers).headers["ETag"]
    response = client.patch(
        f"/v1/competencies/{key}",
        json={"aliases": [alias]},
        headers={**admin_headers, "If-Match": etag},
    )
    assert response.status_code == 422
