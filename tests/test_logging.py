"""Logs: one JSON line per request with its facts, library and gunicorn lines in the same shape,
readable lines in development, and never a secret or contact data."""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import structlog
from flask import Flask
from flask_smorest import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from service import create_app
from service.api.auth import requires
from service.domain import apikeys
from service.infra.database import Database
from service.observability import configure_logging
from tests.conftest import bearer, make_config
from tests.test_operations import needs_gunicorn, serve

ACCESS_FIELDS = {"request_id", "method", "route", "status", "duration_ms", "key_id"}
EMAIL = "ada.private@example.com"
PHONE = "+44 20 7946 0123"


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as JSON (fails on a line that is not)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def key_and_token(database: Database) -> tuple[str, str]:
    with database.session() as session:
        key, token = apikeys.create_key(session, name="logging test", preset="admin")
        session.commit()
        return key.id, token


@pytest.fixture
def json_app(database: Database, database_url: str) -> Iterator[Flask]:
    app = create_app(make_config(database_url))  # JSON lines, as in production
    blp = Blueprint("logging_test", __name__)

    @blp.route("/v1/_test/boom")
    @requires("roles:read")
    def boom() -> None:
        raise RuntimeError("an unexpected failure")

    app.extensions["rolefit.api"].register_blueprint(blp)
    yield app
    app.extensions["rolefit.db"].dispose()


def test_each_request_is_one_json_line_with_its_facts(
    json_app: Flask, key_and_token: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    key_id, token = key_and_token
    client = json_app.test_client()
    capsys.readouterr()
    response = client.get(
        "/v1/roles/tpm/matches?limit=5", headers={**bearer(token), "X-Request-ID": "trace-42"}
    )
    health = client.get("/healthz")
    lines = json_lines(capsys.readouterr().err)

    assert response.status_code == 200
    access = [line for line in lines if line["event"] == "request"]
    assert len(access) == 2
    first, second = access
    assert ACCESS_FIELDS | {"event", "level", "logger", "timestamp"} <= set(first)
    assert first["request_id"] == "trace-42"
    assert first["method"] == "GET"
    assert first["route"] == "/v1/roles/<string:key>/matches"  # the rule, not the path
    assert first["status"] == 200
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert first["key_id"] == key_id
    assert first["level"] == "info"
    assert first["logger"] == "rolefit.access"
    assert first["timestamp"].endswith("Z")
    assert second["route"] == "/healthz" and second["key_id"] is None
    assert second["request_id"] == health.headers["X-Request-ID"]  # generated, and the same


def test_no_secret_and_no_contact_data_reaches_the_logs(
    json_app: Flask, key_and_token: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _key_id, token = key_and_token
    client = json_app.test_client()
    auth = bearer(token)
    capsys.readouterr()
    body = {"name": "Ada", "email": EMAIL, "phone": PHONE, "competencies": []}
    created = client.post("/v1/candidates", json=body, headers=auth)
    assert created.status_code == 201, created.data
    location = created.headers["Location"]
    client.get(location, headers=auth)
    client.get(f"/v1/candidates?q={EMAIL}", headers=auth)
    client.post("/v1/candidates", json={**body, "email": "x" * 300 + EMAIL}, headers=auth)
    client.get("/v1/roles", headers=bearer("rf_0123456789ab_" + "s3cr3t" * 6))
    client.get("/v1/_test/boom", headers=auth)
    structlog.get_logger("rolefit.test").warning(
        "careless", authorization=f"Bearer {token}", email=EMAIL, Phone=PHONE
    )
    output = capsys.readouterr().err

    lines = json_lines(output)
    assert len([line for line in lines if line["event"] == "request"]) == 6
    for leaked in (token, token.split("_")[-1], "s3cr3t", "Bearer", EMAIL, PHONE):
        assert leaked not in output
    careless = next(line for line in lines if line["event"] == "careless")
    assert careless["authorization"] == careless["email"] == careless["Phone"] == "[redacted]"


def test_an_unexpected_error_is_logged_with_its_request_id_and_traceback(
    json_app: Flask, key_and_token: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    client = json_app.test_client()
    capsys.readouterr()
    response = client.get("/v1/_test/boom", headers=bearer(key_and_token[1]))
    lines = json_lines(capsys.readouterr().err)

    assert response.status_code == 500
    error = next(line for line in lines if line["event"] == "unhandled_exception")
    assert error["level"] == "error"
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert "RuntimeError: an unexpected failure" in error["exception"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_standard_library_logging_comes_out_as_json_without_sql_parameters(
    json_app: Flask, session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    try:
        session.execute(text("SELECT * FROM no_such_table WHERE email = :email"), {"email": EMAIL})
    except Exception:
        logging.getLogger("sqlalchemy.pool.impl.QueuePool").exception("Exception during reset")
        structlog.get_logger("rolefit.test").exception("query_failed")
    session.rollback()
    output = capsys.readouterr().err
    lines = json_lines(output)

    pool, ours = lines
    assert pool["logger"] == "sqlalchemy.pool.impl.QueuePool"
    assert pool["level"] == "error"
    assert pool["event"] == "Exception during reset"
    assert "no_such_table" in pool["exception"]
    assert ours["event"] == "query_failed" and "no_such_table" in ours["exception"]
    assert EMAIL not in output


def test_database_errors_of_both_pools_never_carry_the_parameters(json_app: Flask) -> None:
    """A failed statement's error (what gets logged) names the SQL, never the values, whether it
    ran on the write pool or on the read pool."""
    database: Database = json_app.extensions["rolefit.db"]
    for engine in (database.engine, database.read_engine):
        with engine.connect() as connection, pytest.raises(DBAPIError) as raised:
            connection.execute(
                text("SELECT * FROM no_such_table WHERE email = :email"), {"email": EMAIL}
            )
        assert "no_such_table" in str(raised.value)
        assert EMAIL not in str(raised.value)


def test_development_logs_are_readable_lines(
    database: Database, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(replace(make_config(database_url), log_format="console"))
    try:
        capsys.readouterr()
        app.test_client().get("/healthz", headers={"X-Request-ID": "dev-1"})
        logging.getLogger("sqlalchemy.pool").warning("a library says hello")
        output = capsys.readouterr().err
    finally:
        configure_logging("INFO", "json")
        app.extensions["rolefit.db"].dispose()
    request_line, library_line = output.splitlines()
    assert not request_line.startswith("{")
    assert "request" in request_line
    assert "route=/healthz" in request_line and "request_id=dev-1" in request_line
    assert "a library says hello" in library_line and "sqlalchemy.pool" in library_line


@needs_gunicorn
def test_everything_gunicorn_prints_is_json(
    database: Database, database_url: str, tmp_path: Path, key_and_token: tuple[str, str]
) -> None:
    with serve(database_url, tmp_path, ROLEFIT_DRAIN_SECONDS="0") as server:
        assert server.get("/_test/log")[0] == 200
        assert server.get("/_test/boom")[0] == 500
        assert server.get("/v1/roles", headers=bearer(key_and_token[1]))[0] == 200
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=15) == 0
    lines = json_lines(server.log.read_text())  # fails on any line that is not JSON

    by_logger: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_logger.setdefault(line.get("logger", "?"), []).append(line)
    events = {line["event"] for line in by_logger["gunicorn.error"]}
    assert any(event.startswith("Booting worker") for event in events)
    assert "Shutting down: Master" in events
    routes = [line["route"] for line in by_logger["rolefit.access"]]
    # The readiness polls come first: more than one when a poll outlived its client timeout on
    # a loaded machine (the server still answered and logged it).
    polls = routes[: routes.index("/_test/log")]
    assert polls and set(polls) == {"/healthz"}, routes
    assert routes[len(polls) :] == ["/_test/log", "/_test/boom", "/v1/roles"]
    assert "a library warning" in by_logger["py.warnings"][0]["event"]
    pool_error = by_logger["sqlalchemy.pool.impl.QueuePool"][0]
    assert "RuntimeError: pool reset failed" in pool_error["exception"]
    assert by_logger["rolefit.errors"][0]["event"] == "unhandled_exception"
    assert key_and_token[1] not in server.log.read_text()
