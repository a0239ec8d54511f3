"""Delivery end to end, in process: a real receiver verifies every signature with the
``standardwebhooks`` package; retries, 410, rotation, Retry-After, fan-out rules, outages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from service.domain import delivery
from service.domain.events import emit
from service.infra.database import Database
from service.infra.orm import utcnow
from service.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from service.worker.main import Settings, Worker
from tests.worker.conftest import Receiver, add_endpoint, emit_events, worker_config


@pytest.fixture
def run(database: Database, database_url: str) -> Any:
    def run_once(**settings: Any) -> Worker:
        options = {"concurrency": 8, "poll_interval": 0.05, "max_backoff": 0.1}
        options.update(settings)
        worker = Worker(database, worker_config(database_url), Settings(**options))
        worker.run(once=True)
        return worker

    return run_once


def _deliveries(session: Session) -> list[Delivery]:
    session.expire_all()
    return list(session.scalars(sa.select(Delivery).order_by(Delivery.created_at)))


def _make_due(session: Session) -> None:
    session.execute(
        sa.update(Delivery)
        .where(Delivery.status == "pending")
        .values(next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()


def test_signed_delivery_verifies_with_standardwebhooks(
    session: Session, receiver: Receiver, run: Any
) -> None:
    _endpoint, secret = add_endpoint(session, receiver.url)
    subjects = emit_events(session, 3)
    run()
    assert len(receiver.received) == 3
    events = {e.id: e for e in session.scalars(sa.select(Event))}
    for got in receiver.received:
        payload = Webhook(secret).verify(got.body, got.headers)
        event = events[got.headers["webhook-id"]]
        assert payload == delivery.event_payload(event)
        assert set(payload) == {"id", "type", "created_at", "seq", "subject", "data"}
        assert payload["created_at"].endswith("Z")
        assert payload["subject"]["id"] in subjects
        assert got.headers["content-type"] == "application/json"
        assert got.headers["user-agent"].startswith("rolefit-webhooks/")
        assert abs(int(got.headers["webhook-timestamp"]) - utcnow().timestamp()) < 30
    rows = _deliveries(session)
    assert [d.status for d in rows] == ["delivered"] * 3
    assert all(d.attempts == 1 and d.leased_by is None for d in rows)
    attempts = list(session.scalars(sa.select(DeliveryAttempt)))
    assert len(attempts) == 3 and {a.status_code for a in attempts} == {204}
    assert delivery.backlog(session) == (0, 0.0)


def test_a_wrong_secret_does_not_verify(session: Session, receiver: Receiver, run: Any) -> None:
    add_endpoint(session, receiver.url)
    emit_events(session, 1)
    run()
    from standardwebhooks import WebhookVerificationError

    other = add_endpoint(session, receiver.url + "2")[1]
    got = receiver.received[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(got.body, got.headers)


def test_retries_after_500s_on_the_schedule(session: Session, receiver: Receiver, run: Any) -> None:
    add_endpoint(session, receiver.url)
    receiver.script = [(500, {}), (500, {})]
    emit_events(session, 1)
    before = utcnow()
    run()
    (row,) = _deliveries(session)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
    wait = (row.next_attempt_at - before).total_seconds()
    assert 5 <= wait <= 5 * 1.1 + 2
    run()  # not due yet: nothing sent
    assert len(receiver.received) == 1
    _make_due(session)
    before = utcnow()
    run()
    (row,) = _deliveries(session)
    assert row.attempts == 2
    assert 300 <= (row.next_attempt_at - before).total_seconds() <= 330 + 2
    _make_due(session)
    run()
    (row,) = _deliveries(session)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 3, 204)
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert len(ids) == 1  # the same webhook-id on every retry
    log = list(session.scalars(sa.select(DeliveryAttempt).order_by(DeliveryAttempt.attempt)))
    assert [(a.attempt, a.status_code) for a in log] == [(1, 500), (2, 500), (3, 204)]
    assert log[0].next_attempt_at is not None and log[2].next_attempt_at is None
    session.expire_all()
    assert session.scalars(sa.select(WebhookEndpoint)).one().failing_since is None


def test_gives_up_after_the_last_attempt(session: Session, receiver: Receiver, run: Any) -> None:
    add_endpoint(session, receiver.url)
    receiver.default = 500
    emit_events(session, 1)
    run()
    session.execute(sa.update(Delivery).values(attempts=delivery.MAX_ATTEMPTS - 1))
    _make_due(session)
    run()
    (row,) = _deliveries(session)
    assert (row.status, row.attempts) == ("failed", delivery.MAX_ATTEMPTS)


def test_schedule_and_jitter() -> None:
    import random

    rng = random.Random(1)
    for attempt, base in enumerate(delivery.SCHEDULE, start=1):
        for _ in range(20):
            assert base <= delivery.next_delay(attempt, None, rng) <= base * 1.1
    assert delivery.next_delay(1, 7200.0) == 3600.0
    assert delivery.SCHEDULE == (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)


def test_410_disables_the_endpoint_at_once(session: Session, receiver: Receiver, run: Any) -> None:
    endpoint, _ = add_endpoint(session, receiver.url)
    receiver.script = [(410, {})]
    emit_events(session, 1)
    run(concurrency=1)
    session.expire_all()
    endpoint = session.get(WebhookEndpoint, endpoint.id)
    assert endpoint is not None and not endpoint.enabled
    assert endpoint.disabled_reason == delivery.REASON_GONE
    assert endpoint.row_version == 2  # an ETag taken before the change no longer matches
    # Events after the 410 are not fanned out to it, and nothing is sent to it any more.
    emit_events(session, 2)
    run()
    assert len(receiver.received) == 1
    assert [d.status for d in _deliveries(session)] == ["failed"]


def test_disabled_after_five_days_of_failures(
    session: Session, receiver: Receiver, run: Any
) -> None:
    endpoint, _ = add_endpoint(session, receiver.url)
    receiver.default = 503
    emit_events(session, 2)
    run()
    session.expire_all()
    endpoint = session.get(WebhookEndpoint, endpoint.id)
    assert endpoint is not None and endpoint.enabled and endpoint.failing_since is not None
    endpoint.failing_since = utcnow() - timedelta(days=5, minutes=1)
    session.commit()
    _make_due(session)
    run()
    session.expire_all()
    endpoint = session.get(WebhookEndpoint, endpoint.id)
    assert endpoint is not None and not endpoint.enabled
    assert endpoint.disabled_reason == delivery.REASON_FAILING


def test_a_success_ends_the_run_of_failures(session: Session, receiver: Receiver, run: Any) -> None:
    endpoint, _ = add_endpoint(session, receiver.url)
    receiver.script = [(500, {})]
    emit_events(session, 1)
    run()
    session.expire_all()
    assert session.get(WebhookEndpoint, endpoint.id).failing_since is not None  # type: ignore[union-attr]
    _make_due(session)
    run()
    session.expire_all()
    assert session.get(WebhookEndpoint, endpoint.id).failing_since is None  # type: ignore[union-attr]


def test_rotation_signs_with_both_secrets_until_the_old_expires(
    session: Session, receiver: Receiver, run: Any
) -> None:
    from service.infra.secrets import new_signing_secret

    old = new_signing_secret()
    endpoint, new = add_endpoint(
        session, receiver.url, previous=old, previous_expires=utcnow() + timedelta(hours=24)
    )
    emit_events(session, 1)
    run()
    got = receiver.received[0]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(got.body, got.headers)
    Webhook(old).verify(got.body, got.headers)
    endpoint.previous_secret_expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    emit_events(session, 1)
    run()
    got = receiver.received[1]
    assert len(got.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(got.body, got.headers)
    with pytest.raises(Exception, match="signature"):
        Webhook(old).verify(got.body, got.headers)


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"), [(429, "120", 120), (503, "7200", 3600)]
)
def test_retry_after_is_honoured_up_to_an_hour(
    session: Session, receiver: Receiver, run: Any, status: int, retry_after: str, expected: int
) -> None:
    add_endpoint(session, receiver.url)
    receiver.script = [(status, {"Retry-After": retry_after})]
    emit_events(session, 1)
    before = utcnow()
    run()
    (row,) = _deliveries(session)
    assert (row.status, row.last_status_code) == ("pending", status)
    assert expected <= (row.next_attempt_at - before).total_seconds() <= expected + 3


def test_a_redirect_is_a_failure_and_not_followed(
    session: Session, receiver: Receiver, run: Any
) -> None:
    add_endpoint(session, receiver.url)
    receiver.script = [(302, {"Location": receiver.url + "/elsewhere"})]
    emit_events(session, 1)
    run()
    assert len(receiver.received) == 1
    (row,) = _deliveries(session)
    assert (row.status, row.last_status_code) == ("pending", 302)


def test_event_types_and_test_events(session: Session, receiver: Receiver, run: Any) -> None:
    _apps, _ = add_endpoint(session, receiver.url + "/apps", ["application.*"])
    erased, _ = add_endpoint(session, receiver.url + "/erased", ["candidate.erased"])
    emit_events(session, 1, "candidate.created")
    emit_events(session, 1, "candidate.erased")
    emit_events(session, 1, "application.hired")
    emit(
        session,
        "webhook.test",
        ("webhook_endpoint", erased.id),
        {"message": "hi"},
        endpoint_id=erased.id,
    )
    session.commit()
    run()
    paths = sorted((r.path, r.json["type"]) for r in receiver.received)
    assert paths == [
        ("/hook/apps", "application.hired"),
        ("/hook/erased", "candidate.erased"),
        ("/hook/erased", "webhook.test"),
    ]


def test_an_endpoint_gets_events_from_its_registration_on(
    session: Session, receiver: Receiver, run: Any
) -> None:
    emit_events(session, 2)
    add_endpoint(session, receiver.url)
    emit_events(session, 1)
    run()
    assert len(receiver.received) == 1


def test_backlog_counts_what_waits(session: Session, receiver: Receiver, run: Any) -> None:
    assert delivery.backlog(session) == (0, 0.0)
    emit_events(session, 3)  # no endpoint: nothing waits
    assert delivery.backlog(session)[0] == 0
    add_endpoint(session, receiver.url)
    emit_events(session, 2)
    count, age = delivery.backlog(session, now=utcnow() + timedelta(seconds=30))
    assert count == 2 and 29 <= age <= 40  # not fanned out yet: still waiting
    receiver.default = 500
    run()
    count, age = delivery.backlog(session)
    assert count == 2  # pending retries
    receiver.default = 204
    _make_due(session)
    run()
    assert delivery.backlog(session) == (0, 0.0)


def test_a_delivery_is_recorded_only_by_its_lease_holder(session: Session) -> None:
    from service.infra.secrets import SecretBox

    _endpoint, _ = add_endpoint(session, "https://hooks.example.com/x")
    emit_events(session, 1)
    delivery.fan_out(session)
    session.commit()
    box = SecretBox("test key")
    (first,) = delivery.claim(session, token="a#1", limit=10, box=box, lease_seconds=1)
    session.commit()
    assert delivery.claim(session, token="b#1", limit=10, box=box) == []  # leased
    later = utcnow() + timedelta(seconds=2)
    (again,) = delivery.claim(session, token="b#1", limit=10, box=box, now=later)
    session.commit()
    assert again.attempt == first.attempt == 1
    late = delivery.Outcome(first, utcnow(), 204, None, 0.01)
    assert [r.result for r in delivery.record(session, "a#1", [late])] == ["stale"]
    on_time = delivery.Outcome(again, utcnow(), 204, None, 0.01)
    assert [r.result for r in delivery.record(session, "b#1", [on_time])] == ["delivered"]
    session.commit()
    assert session.scalar(sa.select(sa.func.count()).select_from(DeliveryAttempt)) == 1


def test_survives_a_database_outage(
    session: Session, receiver: Receiver, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claims and records fail for a while: the worker logs, backs off, and delivers all,
    each recorded once the database answers again."""
    add_endpoint(session, receiver.url)
    emit_events(session, 5)
    real_claim, real_record = delivery.claim, delivery.record
    failures = {"claim": 3, "record": 3}

    def down(name: str, real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if failures[name] > 0:
                failures[name] -= 1
                raise OperationalError("SELECT 1", {}, ConnectionError("server closed"))
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(delivery, "claim", down("claim", real_claim))
    monkeypatch.setattr(delivery, "record", down("record", real_record))
    run()
    assert failures == {"claim": 0, "record": 0}
    assert len(receiver.received) == 5
    assert [d.status for d in _deliveries(session)] == ["delivered"] * 5


def test_metrics_show_the_backlog(session: Session, receiver: Receiver, client: Any) -> None:
    add_endpoint(session, receiver.url)
    emit_events(session, 2)
    text = client.get("/metrics").get_data(as_text=True)
    assert "rolefit_outbox_backlog 2.0" in text
    assert "rolefit_outbox_oldest_undelivered_age_seconds " in text


def test_a_claim_queued_past_half_its_lease_is_handed_back_unsent(
    session: Session, receiver: Receiver, database: Database, database_url: str
) -> None:
    import time

    from service.infra.secrets import SecretBox

    add_endpoint(session, receiver.url)
    emit_events(session, 1)
    delivery.fan_out(session)
    session.commit()
    (claimed,) = delivery.claim(session, token="w#1", limit=5, box=SecretBox("test key"))
    session.commit()
    worker = Worker(database, worker_config(database_url), Settings(lease_seconds=60))
    assert worker._send("w#1", claimed, time.monotonic() - 31) == ("w#1", None)
    assert receiver.received == []
    delivery.release(session, "w#1", [claimed.delivery_id])
    session.commit()
    (row,) = _deliveries(session)
    assert row.leased_by is None and row.next_attempt_at <= utcnow()
    worker.client.close()
