"""The audit trail: every read and change of a candidate, every ranking pull and refused attempt
is recorded (key id, action, resource, request id, outcome), with ids only; changes in the same
transaction as the change; `GET /v1/audit-events` filters and pages; nothing changes events."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from service import create_app
from service.domain import audit
from service.infra.audit_writer import BufferedWriter
from service.infra.database import Database
from service.models import AuditEvent
from tests.api.test_ops_and_errors import assert_problem
from tests.conftest import bearer, make_config, triggers_off

URL = "/v1/audit-events"
CONTACT = {"email": "grace.audit@example.org", "phone": "+1 555 0100 777"}
RECORDS = [{"competency": "technical-depth", "level": 4, "evidence": "assessment"}]


def key_id(token: str) -> str:
    return "key_" + token.split("_")[1]


@pytest.fixture
def audit_log(app: Flask, database: Database) -> BufferedWriter:
    """The app's buffered writer, with leftovers of earlier tests written and wiped."""
    writer: BufferedWriter = app.extensions["rolefit.audit"]
    writer.flush()
    with database.engine.begin() as connection:
        triggers_off(connection)  # the trail refuses DELETE on PostgreSQL (migration 0009)
        connection.execute(text("DELETE FROM audit_events"))
    return writer


def fresh_app(
    request: pytest.FixtureRequest, database_url: str | None = None, **overrides: Any
) -> Flask:
    """An app with a config of its own; when the test ends its buffered events are written and
    its connection pool closed (PostgreSQL's connections are shared by every test run)."""
    app = create_app(make_config(database_url, **overrides) if database_url else None)

    def close() -> None:
        app.extensions["rolefit.audit"].flush()
        app.extensions["rolefit.db"].dispose()

    request.addfinalizer(close)
    return app


@pytest.fixture
def auditor(make_key: Callable[..., str]) -> dict[str, str]:
    return bearer(make_key("admin", "auditor"))


def events(client: FlaskClient, auditor: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every event matching ``params``, newest first, following the cursor; the auditor's own
    reads of the trail are left out."""
    found: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 200, **params}
    while True:
        response = client.get(URL, query_string=query, headers=auditor)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        found += [e for e in body["data"] if e["resource_type"] != "audit-event"]
        if body["next_cursor"] is None:
            return found
        query["cursor"] = body["next_cursor"]


def create(client: FlaskClient, headers: dict[str, str], **extra: Any) -> str:
    body = {"name": "Grace Audit", **CONTACT, "competencies": RECORDS, **extra}
    response = client.post("/v1/candidates", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def test_every_read_of_a_candidate_and_every_ranking_pull_is_recorded(
    client: FlaskClient, make_key, auditor, audit_log
) -> None:
    writer_token = make_key("hr-system")
    cid = create(client, bearer(writer_token))
    reader_token = make_key("dashboard")
    reader = bearer(reader_token)
    pulls = [
        (f"/v1/candidates/{cid}", "read", "candidate", cid),
        ("/v1/candidates?limit=5", "list", "candidate", None),
        (f"/v1/candidates/{cid}/matches", "score", "candidate", cid),
        (f"/v1/candidates/{cid}/fit?roles=tpm,tmp", "score", "candidate", cid),
        ("/v1/roles/tpm/matches?limit=5", "list", "ranking", "tpm"),
        ("/v1/roles/tmp/matches/summary", "read", "ranking-summary", "tmp"),
    ]
    for index, (url, *_expected) in enumerate(pulls):
        response = client.get(url, headers={**reader, "X-Request-ID": f"pull-{index}"})
        assert response.status_code == 200, (url, response.get_json())
    inline = client.post(
        "/v1/match", json={"competencies": RECORDS}, headers={**reader, "X-Request-ID": "pull-x"}
    )
    assert inline.status_code == 200

    seen = events(client, auditor, key_id=key_id(reader_token))
    assert len(seen) == len(pulls) + 1
    by_request = {e["request_id"]: e for e in seen}
    for index, (_url, action, resource, resource_id) in enumerate(pulls):
        event = by_request[f"pull-{index}"]
        assert (event["action"], event["resource_type"], event["resource_id"]) == (
            action,
            resource,
            resource_id,
        )
        assert (event["status"], event["outcome"], event["actor"]) == (200, "success", "api")
        assert event["key_id"] == key_id(reader_token)
    assert (by_request["pull-x"]["action"], by_request["pull-x"]["resource_type"]) == (
        "score",
        "inline-profile",
    )
    # Newest first, to the microsecond.
    stamps = [e["occurred_at"] for e in seen]
    assert stamps == sorted(stamps, reverse=True)
    assert all(s.endswith("Z") and "." in s for s in stamps)


def test_every_change_is_recorded_with_its_resource_id(
    client: FlaskClient, make_key, auditor, audit_log
) -> None:
    token = make_key("hr-system")
    headers = bearer(token)
    cid = create(client, headers)
    etag = client.get(f"/v1/candidates/{cid}", headers=headers).headers["ETag"]
    patched = client.patch(
        f"/v1/candidates/{cid}", json={"headline": "x"}, headers={**headers, "If-Match": etag}
    )
    assert patched.status_code == 200
    replaced = client.put(
        f"/v1/candidates/{cid}/competencies",
        json={"competencies": []},
        headers={**headers, "If-Match": patched.headers["ETag"]},
    )
    assert replaced.status_code == 200
    batch = client.post(
        "/v1/candidates/batch",
        json={"candidates": [{"name": "B1"}, {"name": ""}, {"name": "B3"}]},
        headers=headers,
    ).get_json()["results"]
    created = [r["id"] for r in batch if r["status"] == 201]
    assert len(created) == 2
    assert client.delete(f"/v1/candidates/{cid}", headers=headers).status_code == 204

    changes = [
        (e["action"], e["resource_id"], e["status"])
        for e in events(client, auditor, key_id=key_id(token))
        if e["action"] != "read"
    ]
    assert changes[::-1] == [
        ("create", cid, 201),
        ("update", cid, 200),
        ("update", cid, 200),
        *[("create", new, 200) for new in created],
        ("erase", cid, 204),
    ]


def test_role_and_competency_changes_are_recorded(
    client: FlaskClient, admin_headers, auditor, audit_log
) -> None:
    competency = {"key": "audit-skill", "name": "Audit skill", "category": "delivery"}
    assert (
        client.post("/v1/competencies", json=competency, headers=admin_headers).status_code == 201
    )
    role = {
        "key": "auditor",
        "title": "Auditor",
        "responsibilities": [{"competency": "audit-skill", "importance": 3, "level": 3}],
    }
    assert client.post("/v1/roles", json=role, headers=admin_headers).status_code == 201
    etag = client.get("/v1/roles/auditor", headers=admin_headers).headers["ETag"]
    role.pop("key")
    put = client.put("/v1/roles/auditor", json=role, headers={**admin_headers, "If-Match": etag})
    assert put.status_code == 200
    found = {
        (e["action"], e["resource_type"], e["resource_id"])
        for e in events(client, auditor, outcome="success")
    }
    assert {
        ("create", "competency", "audit-skill"),
        ("create", "role", "auditor"),
        ("update", "role", "auditor"),
    } <= found


def test_refused_attempts_are_recorded(
    client: FlaskClient, make_key, admin_headers, auditor, audit_log
) -> None:
    cid = create(client, admin_headers)
    dashboard = make_key("dashboard")
    erased = create(client, admin_headers, name="Gone")
    assert client.delete(f"/v1/candidates/{erased}", headers=admin_headers).status_code == 204

    assert client.get(f"/v1/candidates/{cid}").status_code == 401
    unknown = {"Authorization": "Bearer rf_000000000000_nope"}
    assert client.get(f"/v1/candidates/{cid}/matches", headers=unknown).status_code == 401
    assert client.delete(f"/v1/candidates/{cid}", headers=bearer(dashboard)).status_code == 403
    assert client.get(f"/v1/candidates/{erased}", headers=bearer(dashboard)).status_code == 404
    patch = client.patch(
        f"/v1/candidates/{erased}",
        json={"name": "x"},
        headers={**admin_headers, "If-Match": '"1"'},
    )
    assert patch.status_code == 404

    denied = events(client, auditor, resource_id=cid, outcome="denied")
    assert sorted((e["action"], e["status"], e["key_id"]) for e in denied) == [
        ("erase", 403, key_id(dashboard)),
        ("read", 401, None),
        ("score", 401, None),
    ]
    missing = events(client, auditor, resource_id=erased, outcome="not-found")
    assert sorted((e["action"], e["status"]) for e in missing) == [("read", 404), ("update", 404)]
    # The erasure itself, and the create before it, are still on record.
    assert {e["action"] for e in events(client, auditor, resource_id=erased)} >= {
        "create",
        "erase",
    }


def test_a_failed_change_is_recorded_as_failed_and_never_as_done(
    client: FlaskClient, admin_headers, auditor, audit_log
) -> None:
    cid = create(client, admin_headers)
    stale = client.patch(
        f"/v1/candidates/{cid}",
        json={"name": "x"},
        headers={**admin_headers, "If-Match": '"999"'},
    )
    assert stale.status_code == 412
    invalid = client.patch(
        f"/v1/candidates/{cid}", json={"level": 1}, headers={**admin_headers, "If-Match": "*"}
    )
    assert invalid.status_code == 422
    updates = events(client, auditor, resource_id=cid, action="update")
    assert sorted((e["status"], e["outcome"]) for e in updates) == [
        (412, "failed"),
        (422, "failed"),
    ]


def test_an_idempotent_replay_is_recorded_as_replayed(
    client: FlaskClient, admin_headers, auditor, audit_log
) -> None:
    headers = {**admin_headers, "Idempotency-Key": "audit-replay"}
    first = client.post("/v1/candidates", json={"name": "Once"}, headers=headers)
    again = client.post("/v1/candidates", json={"name": "Once"}, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    cid = first.get_json()["id"]
    found = sorted((e["action"], e["outcome"]) for e in events(client, auditor, resource_id=cid))
    assert found == [("create", "replayed"), ("create", "success")]


def test_events_hold_ids_only(
    client: FlaskClient, admin_headers, auditor, audit_log, session: Session
) -> None:
    cid = create(client, admin_headers, external_id="ext-audit-1", source="greenhouse")
    client.get("/v1/candidates?q=Grace+Audit&external_id=ext-audit-1", headers=admin_headers)
    client.get(f"/v1/candidates/{cid}", headers=admin_headers)
    events(client, auditor)  # flushes the buffer
    session.rollback()
    dumped = " ".join(str(tuple(row)) for row in session.execute(select(AuditEvent.__table__)))
    assert cid in dumped
    for secret in ("Grace", "Audit", "ext-audit-1", "greenhouse", *CONTACT.values(), "Bearer"):
        assert secret not in dumped


def test_filters_time_range_and_cursor_pages(
    client: FlaskClient, make_key, auditor, audit_log
) -> None:
    token = make_key("admin")
    headers = bearer(token)
    cid = create(client, headers)
    for _ in range(7):
        assert client.get(f"/v1/candidates/{cid}", headers=headers).status_code == 200
    everything = events(client, auditor, key_id=key_id(token))
    assert len(everything) == 8

    pages, query = [], {"key_id": key_id(token), "limit": 3}
    while True:
        response = client.get(URL, query_string=query, headers=auditor)
        body = response.get_json()
        pages.append(body["data"])
        if not body["next_cursor"]:
            assert "Link" not in response.headers
            break
        assert response.headers["Link"].endswith('rel="next"')
        query["cursor"] = body["next_cursor"]
    assert [len(p) for p in pages] == [3, 3, 2]
    assert [e["id"] for p in pages for e in p] == [e["id"] for e in everything]

    assert len(events(client, auditor, key_id=key_id(token), action="read")) == 7
    assert len(events(client, auditor, key_id=key_id(token), action="create")) == 1
    middle = everything[3]["occurred_at"]
    newer = events(client, auditor, key_id=key_id(token), since=middle)
    older = events(client, auditor, key_id=key_id(token), until=middle)
    assert [e["id"] for e in newer + older] == [e["id"] for e in everything]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert events(client, auditor, key_id=key_id(token), since=future) == []


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 201}, {"action": "destroy"}, {"since": "yesterday"}],
)
def test_bad_filters_are_422(client: FlaskClient, auditor, query) -> None:
    assert_problem(client.get(URL, query_string=query, headers=auditor), 422)


def test_a_forged_cursor_is_400(client: FlaskClient, auditor) -> None:
    import base64
    import json

    def forge(key: list[Any]) -> str:
        raw = json.dumps({"v": 1, "l": "audit-events", "k": key}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    for cursor in ("nonsense", forge(["not a time", "1"]), forge(["2026-01-01T00:00:00", "x"])):
        assert_problem(client.get(URL, query_string={"cursor": cursor}, headers=auditor), 400)


def test_reading_the_trail_needs_audit_read(client: FlaskClient, make_key) -> None:
    for preset in ("hr-system", "recruiter", "dashboard"):
        assert_problem(client.get(URL, headers=bearer(make_key(preset))), 403)
    assert_problem(client.get(URL), 401)


def test_nothing_in_the_api_changes_or_deletes_an_event(
    app: Flask, client: FlaskClient, auditor
) -> None:
    methods = {
        method
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(URL)
        for method in rule.methods or ()
    }
    assert methods <= {"GET", "HEAD", "OPTIONS"}
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert_problem(client.open(URL, method=method, headers=auditor), 405)
        assert_problem(client.open(f"{URL}/1", method=method, headers=auditor), 404)


def test_a_change_is_in_the_trail_at_once_a_read_within_the_flush_interval(
    request, database_url: str, database: Database, make_key
) -> None:
    """Changes commit with their event; reads are buffered and written in the background."""
    slow = fresh_app(request, database_url, audit_flush_seconds=0.3)
    client = slow.test_client()
    token = make_key("admin")

    def stored(action: str) -> int:
        with database.engine.connect() as connection:
            return connection.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.api_key_id == key_id(token), AuditEvent.action == action)
            )

    cid = create(client, bearer(token))
    assert stored("create") == 1  # committed with the candidate
    assert client.get(f"/v1/candidates/{cid}", headers=bearer(token)).status_code == 200
    assert stored("read") == 0  # buffered
    deadline = time.monotonic() + 5
    while stored("read") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stored("read") == 1


# --- the buffered writer ---------------------------------------------------------------------


@pytest.fixture
def scratch_engine(tmp_path) -> Iterator[Any]:
    engine = create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    AuditEvent.__table__.create(engine)
    yield engine
    engine.dispose()


def _count(engine: Any) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def _event(n: int) -> dict[str, Any]:
    return audit.event(
        audit.Actor("api", "key_x", f"r{n}"), "read", "candidate", str(n), status=200
    )


def test_writer_flushes_when_a_batch_is_full_and_on_its_interval(scratch_engine) -> None:
    writer = audit.buffered_writer(scratch_engine, flush_seconds=30, batch_size=5)
    for n in range(4):
        writer.add(_event(n))
    time.sleep(0.1)
    assert _count(scratch_engine) == 0 and writer.pending == 4
    writer.add(_event(4))  # the fifth fills the batch: the thread writes it now
    deadline = time.monotonic() + 5
    while _count(scratch_engine) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _count(scratch_engine) == 5

    timed = audit.buffered_writer(scratch_engine, flush_seconds=0.05, batch_size=1000)
    timed.add(_event(5))
    deadline = time.monotonic() + 5
    while _count(scratch_engine) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _count(scratch_engine) == 6


def test_writer_with_no_interval_writes_before_returning(scratch_engine) -> None:
    writer = audit.buffered_writer(scratch_engine, flush_seconds=0)
    writer.add(_event(1))
    assert _count(scratch_engine) == 1


def test_writer_keeps_events_while_the_database_is_down_and_bounds_them(tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'later.db'}")  # no table yet: inserts fail
    writer = audit.buffered_writer(engine, flush_seconds=30, batch_size=10, max_buffered=25)
    for n in range(30):
        writer.add(_event(n))
    assert writer.flush() == 0
    assert writer.pending == 25 and writer.dropped == 5  # the oldest went
    AuditEvent.__table__.create(engine)
    writer.flush()  # (or the background thread did, woken by the full batch)
    assert writer.pending == 0
    with engine.connect() as connection:
        kept = sorted(int(r) for r in connection.scalars(select(AuditEvent.resource_id)))
    assert kept == list(range(5, 30))
    engine.dispose()


def test_writer_is_safe_to_feed_from_many_threads(scratch_engine) -> None:
    writer = audit.buffered_writer(scratch_engine, flush_seconds=0.01, batch_size=50)

    def feed(base: int) -> None:
        for n in range(200):
            writer.add(_event(base + n))

    threads = [threading.Thread(target=feed, args=(i * 1000,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert _count(scratch_engine) == 800


def test_one_refused_event_never_holds_back_the_others(database: Database) -> None:
    """On the suite's database: PostgreSQL writes batches with COPY, SQLite with INSERT."""
    writer = audit.buffered_writer(database.engine, flush_seconds=30, batch_size=100)
    marker = audit.Actor("api", "key_poison_test")
    rows = [audit.event(marker, "read", "candidate", str(n)) for n in range(3)]
    rows[1]["action"] = None  # NOT NULL: the database refuses this one row
    for row in rows:
        writer.add(row)
    assert writer.flush() == 2
    assert writer.pending == 0 and writer.dropped == 1
    with database.engine.connect() as connection:
        stored = connection.scalars(
            select(AuditEvent.resource_id).where(AuditEvent.api_key_id == "key_poison_test")
        ).all()
    assert sorted(stored) == ["0", "2"]


def test_whatever_the_path_holds_the_event_is_stored(
    client: FlaskClient, make_key, auditor, audit_log
) -> None:
    token = make_key("admin")
    odd = "x" * 70
    assert client.get(f"/v1/roles/{odd}/matches", headers=bearer(token)).status_code == 404
    assert client.get("/v1/roles/a%00b/matches", headers=bearer(token)).status_code == 404
    found = sorted(e["resource_id"] for e in events(client, auditor, key_id=key_id(token)))
    assert found == ["a\ufffdb", "x" * 64]
