"""The whole path: an endpoint registered through /v1/webhook-endpoints, a test event and a
candidate created through the API, delivered by the worker, verified with the secret the API
showed once; a receiver outage, then recover; the attempt log read back through the API."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from service import create_app
from service.infra.database import Database
from service.models import Delivery
from service.worker.main import Settings, Worker
from tests.conftest import bearer
from tests.worker.conftest import Receiver, worker_config


@pytest.fixture
def api(database: Database, database_url: str) -> FlaskClient:
    return create_app(worker_config(database_url)).test_client()


def _deliver(database: Database, database_url: str) -> None:
    settings = Settings(concurrency=4, poll_interval=0.05, max_backoff=0.1)
    Worker(database, worker_config(database_url), settings).run(once=True)


def test_registered_tested_delivered_recovered(
    api: FlaskClient,
    make_key: Any,
    named_receiver: Receiver,
    session: Session,
    database: Database,
    database_url: str,
) -> None:
    receiver = named_receiver
    headers = bearer(make_key("admin"))
    created = api.post(
        "/v1/webhook-endpoints",
        json={"url": receiver.url, "event_types": ["candidate.*"]},
        headers=headers,
    )
    assert created.status_code == 201, created.get_json()
    endpoint = created.get_json()
    hook = Webhook(endpoint["secret"])
    tested = api.post(f"/v1/webhook-endpoints/{endpoint['id']}/test", headers=headers)
    assert tested.status_code in (200, 201, 202), tested.get_json()
    _deliver(database, database_url)
    assert [hook.verify(r.body, r.headers)["type"] for r in receiver.received] == ["webhook.test"]

    # The receiver is down for a while: the delivery fails, then recover sends it again.
    receiver.default = 503
    made = api.post(
        "/v1/candidates",
        json={"name": "Zebulon Quartz-Fjord", "email": "zq@example.org"},
        headers=headers,
    )
    assert made.status_code == 201, made.get_json()
    _deliver(database, database_url)
    assert receiver.received[-1].json["type"] == "candidate.created"
    session.execute(  # as if it had given up
        sa.update(Delivery).where(Delivery.status == "pending").values(status="failed")
    )
    session.commit()
    receiver.default = 204
    since = receiver.received[0].json["created_at"]
    again = api.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/recover", json={"since": since}, headers=headers
    )
    assert again.status_code in (200, 202), again.get_json()
    before = len(receiver.received)
    _deliver(database, database_url)
    replayed = receiver.received[before:]
    assert [hook.verify(r.body, r.headers)["type"] for r in replayed] == ["candidate.created"]
    bodies = b" ".join(r.body for r in receiver.received)
    assert b"Zebulon" not in bodies and b"zq@example.org" not in bodies

    log = api.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=headers)
    assert log.status_code == 200
    assert len(log.get_json()["data"]) == len(receiver.received)
