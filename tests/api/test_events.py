"""Events (design/events.md): every change emits its event exactly once, from every path that
makes it; the feed serves them in seq order with its filters; payloads carry no personal data;
webhook endpoints are registered, changed, rotated, tested and recovered through the API.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import create_app
from service.domain import retention
from service.infra.orm import utcnow
from service.infra.secrets import SecretBox
from service.models import Candidate, Delivery, Event, WebhookEndpoint
from tests.api import test_pipeline
from tests.api.test_ops_and_errors import assert_problem
from tests.api.test_pipeline import Api
from tests.conftest import bearer, make_config

EVENTS = "/v1/events"
must_haves = test_pipeline.must_haves  # tpm's must-have competencies (a fixture)
RESPONSIBILITY_FIELDS = {"competency", "importance", "level", "must_have", "description"}
ENDPOINTS = "/v1/webhook-endpoints"


@pytest.fixture
def api(client: FlaskClient, admin_headers: dict[str, str]) -> Api:
    return Api(client, admin_headers)


def feed(api: Api, **query: Any) -> list[dict[str, Any]]:
    return api.walk(EVENTS, **query)


def last_seq(api: Api) -> int:
    events = feed(api)
    return events[-1]["seq"] if events else 0


def new_events(api: Api, since: int) -> list[dict[str, Any]]:
    return feed(api, after_seq=since)


def types_of(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e["type"] for e in events)


# --------------------------------------------------------------------------- the feed


def test_the_built_in_roles_have_their_creation_events(api: Api) -> None:
    """The built-in load (on every fresh database) goes through the role use case."""
    created = [e for e in feed(api, type="role.created")]
    assert {e["data"]["role"] for e in created} >= {"tpm", "tmp"}
    for event in created:
        assert event["subject"] == {"type": "role", "id": event["data"]["role"]}
        assert event["data"]["version"] == 1


def test_seqs_increase_and_the_cursor_walks_them(api: Api) -> None:
    for index in range(7):
        api.candidate(f"Walker {index}")
    events = api.walk(EVENTS, limit=2)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert api.ok(EVENTS, after_seq=seqs[-3])["data"] == events[-2:]
    assert api.ok(f"{EVENTS}/{events[0]['id']}") == events[0]


def test_filters(api: Api) -> None:
    start = last_seq(api)
    one = api.candidate("Filter One")
    job = api.job()
    api.application(one["id"], job["id"])
    assert types_of(new_events(api, start)) == Counter(
        {"candidate.created": 1, "job.created": 1, "application.created": 1}
    )
    assert types_of(feed(api, after_seq=start, type="application.*,job.created")) == Counter(
        {"job.created": 1, "application.created": 1}
    )
    about_one = feed(api, after_seq=start, subject_id=one["id"])
    assert [e["type"] for e in about_one] == ["candidate.created"]


@pytest.mark.parametrize("bad", ["candidate.deleted", "nothing.*", "application"])
def test_an_unknown_type_filter_is_a_422(api: Api, bad: str) -> None:
    assert_problem(api.get(EVENTS, type=bad), 422)


def test_an_unknown_event_is_a_404(api: Api) -> None:
    assert_problem(api.get(f"{EVENTS}/evt_nothing"), 404)


def test_the_feed_needs_events_read(client: FlaskClient, make_key: Callable[..., str]) -> None:
    assert client.get(EVENTS, headers=bearer(make_key("dashboard"))).status_code == 200
    assert_problem(client.get(EVENTS, headers=bearer(make_key("recruiter"))), 403)
    assert_problem(client.get(ENDPOINTS, headers=bearer(make_key("dashboard"))), 403)


# --------------------------------------------------------------------------- every path


def test_candidate_events(api: Api, session: Session) -> None:
    start = last_seq(api)
    created = api.candidate("Ada", source="ats", external_id="A-1")
    url = f"/v1/candidates/{created['id']}"
    assert (
        api.patch(url, {"headline": "Staff TPM"}, **{"If-Match": api.etag(url)}).status_code == 200
    )
    records = [{"competency": "technical-depth", "level": 4}]
    put = api.put(f"{url}/competencies", {"competencies": records}, **{"If-Match": api.etag(url)})
    assert put.status_code == 200, put.data
    events = new_events(api, start)
    about = [e for e in events if e["subject"]["id"] == created["id"]]
    assert [e["type"] for e in about if e["type"].startswith("candidate.")] == [
        "candidate.created",
        "candidate.updated",
        "candidate.updated",
    ]
    assert about[0]["data"] == {"source": "ats", "external_id": "A-1"}

    batch = api.post(
        "/v1/candidates/batch", {"candidates": [{"name": "B1"}, {"name": "B2"}, {"name": ""}]}
    )
    assert batch.status_code == 200, batch.data
    assert types_of(new_events(api, start))["candidate.created"] == 3

    before_erase = last_seq(api)
    assert api.client.delete(url, headers=api.headers).status_code == 204
    erased = new_events(api, before_erase)
    assert [(e["type"], e["data"]) for e in erased] == [("candidate.erased", {})]
    # What the feed held of the person is gone: the external id of the creation event.
    assert all(e["data"] == {} for e in feed(api, subject_id=created["id"]))


def test_retention_erasure_emits_erased(api: Api, session: Session) -> None:
    old = api.candidate("Old Timer")
    session.get_one(Candidate, uuid.UUID(old["id"])).updated_at = utcnow() - timedelta(days=4000)
    session.commit()
    start = last_seq(api)
    retention.run(session, older_than=timedelta(days=365))
    session.commit()
    assert [e["type"] for e in new_events(api, start)] == ["candidate.erased"]


def test_band_changes_from_a_record_change_and_a_role_version(
    api: Api, must_haves: list[str]
) -> None:
    records = [{"competency": c, "level": 5, "evidence": "assessment"} for c in must_haves]
    candidate = api.candidate("Band Mover", records)
    url = f"/v1/candidates/{candidate['id']}"
    start = last_seq(api)
    put = api.put(f"{url}/competencies", {"competencies": []}, **{"If-Match": api.etag(url)})
    assert put.status_code == 200
    changed = [e for e in new_events(api, start) if e["type"] == "match.band_changed"]
    tpm = next(e for e in changed if e["data"]["role"] == "tpm")
    assert tpm["subject"] == {"type": "candidate", "id": candidate["id"]}
    assert tpm["data"]["from"]["must_haves_met"] is True
    assert tpm["data"]["to"] == {
        "score": 0.0,
        "band": tpm["data"]["to"]["band"],
        "must_haves_met": False,
    }

    # A role version that changes nothing of the role's rules for this candidate but rescales
    # bands: here, dropping every must-have makes the must-haves met for everyone.
    role = api.ok("/v1/roles/tpm")
    body = {
        "title": role["title"],
        "summary": role["summary"],
        "focus": role["focus"],
        "responsibilities": [
            {k: v for k, v in r.items() if k in RESPONSIBILITY_FIELDS} | {"must_have": False}
            for r in role["responsibilities"]
        ],
    }
    start = last_seq(api)
    response = api.put("/v1/roles/tpm", body, **{"If-Match": api.etag("/v1/roles/tpm")})
    assert response.status_code == 200, response.data
    events = new_events(api, start)
    updated = [e for e in events if e["type"] == "role.updated"]
    assert len(updated) == 1
    band_changes = [e for e in events if e["type"] == "match.band_changed"]
    assert updated[0]["data"]["band_changes"] == len(band_changes) >= 1
    assert updated[0]["data"]["rescored"] >= 1
    assert {e["data"]["role_version"] for e in band_changes} == {updated[0]["data"]["version"]}


def test_job_events(api: Api) -> None:
    start = last_seq(api)
    job = api.job(status="draft")
    url = f"/v1/jobs/{job['id']}"
    assert api.patch(url, {"title": "TPM II"}, **{"If-Match": api.etag(url)}).status_code == 200
    assert api.set_job_status(job["id"], "open").status_code == 200
    stages = [{"id": s["id"], "name": s["name"], "kind": s["kind"]} for s in job["stages"]][:3]
    assert (
        api.put(f"{url}/stages", {"stages": stages}, **{"If-Match": api.etag(url)}).status_code
        == 200
    )
    events = new_events(api, start)
    assert [e["type"] for e in events] == [
        "job.created",
        "job.updated",
        "job.status_changed",
        "job.updated",
    ]
    assert events[2]["data"]["from_status"] == "draft" and events[2]["data"]["status"] == "open"


def test_application_events_one_per_transition(api: Api) -> None:
    job = api.job(openings=1)
    stages = [s["id"] for s in job["stages"]]
    candidate = api.candidate("Applicant")
    start = last_seq(api)
    application = api.application(candidate["id"], job["id"])
    api.move(application, stages[1])
    api.done(application["id"], "reject", {"reason": "weaker-than-others"})
    api.done(application["id"], "unreject")
    api.done(application["id"], "hire")
    api.done(application["id"], "unhire")
    events = [e for e in new_events(api, start) if e["type"].startswith("application.")]
    assert [e["type"] for e in events] == [
        "application.created",
        "application.stage_changed",
        "application.rejected",
        "application.unrejected",
        "application.hired",
        "application.unhired",
    ]
    assert [e["data"]["transition_seq"] for e in events] == [1, 2, 3, 4, 5, 6]
    moved = events[1]["data"]
    assert moved["from_stage"]["id"] == stages[0] and moved["to_stage"]["id"] == stages[1]
    assert events[2]["data"]["reason"] == "weaker-than-others"
    assert set(events[0]["data"]["match"]) == {
        "score",
        "band",
        "must_haves_met",
        "role_version",
        "model_version",
    }

    others = [api.candidate(f"Batch {i}")["id"] for i in range(3)]
    before = last_seq(api)
    batch = api.post(
        "/v1/applications/batch",
        {"applications": [{"candidate_id": c, "job_id": job["id"]} for c in others]},
    )
    assert batch.status_code == 200, batch.data
    assert types_of(new_events(api, before)) == Counter({"application.created": 3})


def test_no_personal_data_in_any_payload(api: Api, session: Session) -> None:
    name, email, note = "Zebulon Quaxworth", "zebulon.quaxworth@example.org", "Quaxworth-note"
    candidate = api.candidate(
        name, email=email, phone="+1 555 0199", source="ats", external_id="Z-9"
    )
    job = api.job()
    application = api.application(candidate["id"], job["id"])
    api.done(application["id"], "reject", {"reason": "other", "note": note})
    payloads = orjson.dumps([e.data for e in session.scalars(select(Event))]).decode()
    for secret in (name, "Quaxworth", email, "555 0199", note):
        assert secret not in payloads


# --------------------------------------------------------------------------- endpoints


def register(api: Api, **body: Any) -> dict[str, Any]:
    payload = {"url": "https://hooks.example.com/rolefit", "event_types": ["application.*"], **body}
    response = api.post(ENDPOINTS, payload)
    assert response.status_code == 201, response.data
    return response.get_json()


def test_an_endpoint_and_its_secret_once(api: Api, session: Session) -> None:
    created = register(api, description="ATS sync")
    assert created["secret"].startswith("whsec_")
    url = f"{ENDPOINTS}/{created['id']}"
    shown = api.ok(url)
    assert "secret" not in shown and shown["enabled"] is True
    stored = session.get_one(WebhookEndpoint, uuid.UUID(created["id"]))
    assert created["secret"] not in stored.secret_encrypted
    assert (
        SecretBox("a test key for webhook secrets").open(stored.secret_encrypted)
        == created["secret"]
    )

    patched = api.patch(
        url, {"event_types": ["job.*", "candidate.erased"]}, **{"If-Match": api.etag(url)}
    )
    assert patched.status_code == 200 and patched.get_json()["event_types"] == [
        "job.*",
        "candidate.erased",
    ]
    assert_problem(api.patch(url, {"enabled": False}, **{"If-Match": '"1"'}), 412)

    rotated = api.post(f"{url}/rotate-secret", {})
    assert rotated.status_code == 200, rotated.data
    new_secret = rotated.get_json()["secret"]
    assert new_secret != created["secret"]
    session.expire_all()
    stored = session.get_one(WebhookEndpoint, uuid.UUID(created["id"]))
    box = SecretBox("a test key for webhook secrets")
    assert box.open(stored.secret_encrypted) == new_secret
    assert stored.previous_secret_encrypted is not None
    assert box.open(stored.previous_secret_encrypted) == created["secret"]

    assert [e["id"] for e in api.walk(ENDPOINTS)] == [created["id"]]
    assert api.client.delete(url, headers=api.headers).status_code == 204
    assert_problem(api.get(url), 404)


@pytest.mark.parametrize(
    "bad",
    [
        {"url": "https://hooks.example.com", "event_types": ["no.such"]},
        {"url": "https://hooks.example.com", "event_types": []},
        {"url": "https://169.254.169.254/latest", "event_types": ["job.*"]},
        {"url": "https://metadata.google.internal/x", "event_types": ["job.*"]},
        {"url": "ftp://hooks.example.com", "event_types": ["job.*"]},
    ],
)
def test_bad_endpoints_are_422(api: Api, bad: dict[str, Any]) -> None:
    assert_problem(api.post(ENDPOINTS, bad), 422)


def test_http_and_private_addresses_need_the_flags(
    database_url: str, make_key: Callable[..., str]
) -> None:
    strict: Flask = create_app(
        make_config(database_url, webhooks_allow_http=False, webhooks_allow_private=False)
    )
    client = strict.test_client()
    headers = bearer(make_key("admin"))
    for url in ("http://hooks.example.com/x", "https://localhost/x", "https://10.1.2.3/x"):
        response = client.post(
            ENDPOINTS, json={"url": url, "event_types": ["job.*"]}, headers=headers
        )
        assert_problem(response, 422)


def test_without_a_secret_key_webhooks_are_unavailable(
    database_url: str, make_key: Callable[..., str]
) -> None:
    keyless = create_app(make_config(database_url, secret_key=None)).test_client()
    response = keyless.post(
        ENDPOINTS,
        json={"url": "https://hooks.example.com", "event_types": ["job.*"]},
        headers=bearer(make_key("admin")),
    )
    assert_problem(response, 503)
    assert "ROLEFIT_SECRET_KEY" in response.get_json()["detail"]


def test_test_and_recover_enqueue(api: Api, session: Session) -> None:
    endpoint = register(api, event_types=["job.*"])
    url = f"{ENDPOINTS}/{endpoint['id']}"
    tested = api.post(f"{url}/test", {})
    assert tested.status_code == 202, tested.data
    test_event = session.get_one(Event, tested.get_json()["event_id"])
    assert test_event.type == "webhook.test" and str(test_event.endpoint_id) == endpoint["id"]
    assert all(e["type"] != "webhook.test" for e in feed(api))  # for the endpoint only

    since = api.ok(EVENTS)["data"][0]["created_at"]
    api.job()
    api.job()
    # Pretend the workers fanned these out while the endpoint was down: one delivered, the
    # other given up.
    from service.domain import events as domain_events

    jobs = [e for e in feed(api, type="job.created")]
    domain_events._advance(session, "fanned_out", jobs[-1]["seq"])
    session.add(
        Delivery(event_id=jobs[-1]["id"], endpoint_id=uuid.UUID(endpoint["id"]), status="failed")
    )
    session.add(
        Delivery(event_id=jobs[-2]["id"], endpoint_id=uuid.UUID(endpoint["id"]), status="delivered")
    )
    session.commit()
    recovered = api.post(f"{url}/recover", {"since": since})
    assert recovered.status_code == 202, recovered.data
    # The failed one starts over; the delivered one is left; job events never delivered to it
    # (before those two) get a delivery; the test event is the endpoint's too.
    queued = recovered.get_json()["queued"]
    pending = session.scalars(
        select(Delivery).where(
            Delivery.endpoint_id == uuid.UUID(endpoint["id"]), Delivery.status == "pending"
        )
    ).all()
    assert queued == len(pending) >= 2
    assert jobs[-2]["id"] not in {d.event_id for d in pending}
    assert api.ok(f"{url}/deliveries")["data"] == []


def test_maintenance_purges_events_past_their_retention(
    api: Api, session: Session, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from service.cli import main

    old = api.candidate("Old news")
    new = api.candidate("Fresh news")
    endpoint = register(api, event_types=["candidate.*"])
    old_event = session.scalars(select(Event).where(Event.subject_id == old["id"])).one()
    old_event.created_at = utcnow() - timedelta(days=31)
    session.add(Delivery(event_id=old_event.id, endpoint_id=uuid.UUID(endpoint["id"])))
    session.commit()
    monkeypatch.setenv("ROLEFIT_DATABASE_URL", database_url)
    monkeypatch.setenv("ROLEFIT_EVENTS_RETENTION_DAYS", "30")

    result = CliRunner().invoke(main, ["maintenance"])

    assert result.exit_code == 0, result.output
    assert "events older than 30 days deleted: 1" in result.stdout
    session.rollback()
    assert feed(api, subject_id=old["id"]) == []
    assert [e["type"] for e in feed(api, subject_id=new["id"])] == ["candidate.created"]
    assert session.scalars(select(Delivery)).all() == []
