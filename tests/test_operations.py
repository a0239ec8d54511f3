"""Operating the service: graceful shutdown and metrics under real gunicorn, database outages.

The gunicorn tests start the project's gunicorn.conf.py (2 sync workers) on the suite's database
with :func:`ops_test_app`, the real app plus test hooks: ``/_test/pid`` (which worker answered,
optionally after a pause), an ``X-Test-Commit-Delay`` header that holds the request's commit
back, so that a write is in flight when the test sends SIGTERM, and routes that log like a
library would or fail unexpectedly (for tests/test_logging.py).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g, has_request_context, request
from flask_smorest import Blueprint, abort
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import SAWarning
from sqlalchemy.orm import Session

from service import create_app
from service.api.auth import requires
from service.api.unit_of_work import request_session
from service.infra.database import Database
from service.models import Candidate, Match
from service.observability import _pool_capacity
from tests.conftest import POSTGRES_URL, REPO_ROOT, bearer, make_config

needs_gunicorn = pytest.mark.skipif(
    importlib.util.find_spec("gunicorn") is None, reason="gunicorn is not installed"
)
CANDIDATE = {
    "name": "Grace Hopper",
    "headline": "Program lead",
    "competencies": [{"competency": "technical-depth", "level": 4, "evidence": "interview"}],
}


def ops_test_app() -> Flask:
    """The real app (configured from the environment) plus the test hooks described above."""
    app = create_app()
    database: Database = app.extensions["rolefit.db"]

    @app.before_request
    def read_delay() -> None:
        g.commit_delay = float(request.headers.get("X-Test-Commit-Delay", "0") or 0)

    @event.listens_for(database.sessionmaker, "before_commit")
    def slow_commit(session: Session) -> None:
        # Only the request's own transaction (not the API key's last-used stamp, say).
        if has_request_context() and session is g.get("db_session") and g.get("commit_delay"):
            time.sleep(g.pop("commit_delay"))

    blp = Blueprint("ops_test", __name__)

    @blp.route("/_test/pid")
    def pid() -> dict[str, int]:
        time.sleep(float(request.args.get("sleep", "0")))
        return {"pid": os.getpid()}

    @blp.route("/_test/log")
    def log() -> dict[str, bool]:
        """What libraries log: a warning through `warnings`, an error with a traceback."""
        warnings.warn("a library warning", SAWarning, stacklevel=1)
        try:
            raise RuntimeError("pool reset failed")
        except RuntimeError:
            logging.getLogger("sqlalchemy.pool.impl.QueuePool").exception("Exception during reset")
        return {"logged": True}

    @blp.route("/_test/boom")
    def boom() -> None:
        raise RuntimeError("an unexpected failure")

    app.extensions["rolefit.api"].register_blueprint(blp)
    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, process: subprocess.Popen[bytes], base: str, log: Path) -> None:
        self.process = process
        self.base = base
        self.log = log

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        return call("GET", self.base + path, headers=headers)

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()


def call(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@contextlib.contextmanager
def serve(database_url: str, tmp_path: Path, workers: int = 2, **env: str) -> Iterator[Server]:
    """gunicorn with the project's config serving :func:`ops_test_app`; stopped afterwards."""
    port = _free_port()
    environment = dict(os.environ)
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    environment.update(
        ROLEFIT_DATABASE_URL=database_url,
        ROLEFIT_BIND=f"127.0.0.1:{port}",
        ROLEFIT_WORKERS=str(workers),
        ROLEFIT_LOG_FORMAT="json",
        ROLEFIT_LOG_LEVEL="INFO",
        **env,
    )
    log = tmp_path / f"gunicorn-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(REPO_ROOT / "gunicorn.conf.py"),
                "tests.test_operations:ops_test_app()",
            ],
            cwd=REPO_ROOT,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError):
                if server.get("/healthz")[0] == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # quick stop
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _count(session: Session, statement: Any) -> int:
    session.rollback()  # a fresh snapshot: see what the server committed
    return int(session.scalar(statement) or 0)


# --- graceful shutdown ------------------------------------------------------------------------


@needs_gunicorn
def test_sigterm_drains_then_completes_the_write_in_flight_and_exits_cleanly(
    database_url: str, tmp_path: Path, make_key: Callable[[str], str], session: Session
) -> None:
    auth = bearer(make_key("admin"))
    with serve(database_url, tmp_path, ROLEFIT_DRAIN_SECONDS="2") as server:
        outcome: dict[str, Any] = {}

        def slow_write() -> None:
            outcome["response"] = call(
                "POST",
                server.base + "/v1/candidates",
                CANDIDATE,
                headers={**auth, "X-Test-Commit-Delay": "3"},
            )

        writer = threading.Thread(target=slow_write)
        writer.start()
        time.sleep(0.7)  # the write has flushed and waits to commit
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)

        # Draining: out of rotation at once, but still alive and still serving.
        status, body = server.get("/readyz")
        assert status == 503
        assert json.loads(body)["detail"] == "shutting down"
        assert server.get("/healthz")[0] == 200
        assert server.get("/v1/roles", headers=auth)[0] == 200

        writer.join(timeout=15)
        status, body = outcome["response"]
        assert status == 201, body
        candidate_id = uuid.UUID(json.loads(body)["id"])
        assert server.process.wait(timeout=15) == 0

    # The write completed whole: the candidate and its scores against every role.
    assert _count(session, select(func.count()).where(Candidate.id == candidate_id)) == 1
    matches = select(func.count()).select_from(Match).where(Match.candidate_id == candidate_id)
    assert _count(session, matches) == 2
    log = "\n".join(server.lines())
    assert "Draining for 2.0 s" in log
    assert "Shutting down: Master" in log


# --- metrics ----------------------------------------------------------------------------------


def _sample(exposition: str, name: str, **labels: str) -> float:
    for line in exposition.splitlines():
        if not line.startswith(name + ("{" if labels else " ")):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if labels else {}
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{labels} in:\n{exposition}")


@needs_gunicorn
def test_metrics_add_up_over_both_gunicorn_workers(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    with serve(database_url, tmp_path, ROLEFIT_DRAIN_SECONDS="0") as server:
        # Each sync worker serves one request at a time: 8 concurrent pauses need both of them.
        results: list[tuple[int, bytes]] = []
        threads = [
            threading.Thread(target=lambda: results.append(server.get("/_test/pid?sleep=0.3")))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [status for status, _ in results] == [200] * 8
        assert len({json.loads(body)["pid"] for _, body in results}) == 2

        status, payload = server.get("/metrics")
        exposition = payload.decode()
    assert status == 200
    route = {"method": "GET", "route": "/_test/pid", "status": "200"}
    assert _sample(exposition, "rolefit_http_requests_total", **route) == 8
    assert _sample(exposition, "rolefit_http_request_duration_seconds_count", **route) == 8
    # Every 0.3 s pause is in the 0.5 s bucket and none in the 0.25 s one.
    bucket = "rolefit_http_request_duration_seconds_bucket"
    assert _sample(exposition, bucket, le="0.25", **route) == 0
    assert _sample(exposition, bucket, le="0.5", **route) == 8
    # The pool gauges are the sum over the two live workers.
    per_worker = sum(_pool_capacity(pool) for pool in database.pools)
    assert _sample(exposition, "rolefit_db_pool_connections_max") == 2 * per_worker
    assert _sample(exposition, "rolefit_db_pool_connections_in_use") >= 0
    assert "rolefit_rate_limited_total" in exposition
    assert "rolefit_db_unavailable_total" in exposition


def test_metrics_time_role_rescoring(client, admin_headers: dict[str, str]) -> None:
    def rescores() -> float:
        exposition = client.get("/metrics").get_data(as_text=True)
        try:
            return _sample(
                exposition, "rolefit_scoring_duration_seconds_count", operation="rescore_role"
            )
        except AssertionError:
            return 0.0

    before = rescores()
    role = client.get("/v1/roles/tpm", headers=admin_headers)
    body = {k: v for k, v in role.get_json().items() if k in {"title", "summary", "focus"}}
    body["responsibilities"] = role.get_json()["responsibilities"]
    body["summary"] = "Rewritten for a metrics test"
    response = client.put(
        "/v1/roles/tpm", json=body, headers={**admin_headers, "If-Match": role.headers["ETag"]}
    )
    assert response.status_code == 200, response.data
    assert rescores() == before + 1


def test_request_metrics_use_route_templates_and_known_methods(client) -> None:
    client.get("/v1/candidates/0190a3c4-0000-7000-8000-000000000000/matches")
    client.open("/healthz", method="BREW")
    exposition = client.get("/metrics").get_data(as_text=True)
    assert "0190a3c4" not in exposition
    assert 'route="/v1/candidates/<uuid:candidate_id>/matches"' in exposition
    assert 'method="BREW"' not in exposition
    assert 'method="OTHER",route="<unmatched>",status="405"' in exposition


# --- database outages -------------------------------------------------------------------------


def test_unreachable_database_is_counted_and_answered_503() -> None:
    admin_headers = bearer("rf_0123456789ab_x")
    app = create_app(make_config("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    client = app.test_client()
    exposition = client.get("/metrics").get_data(as_text=True)
    before = _sample(exposition, "rolefit_db_unavailable_total")
    response = client.post("/v1/candidates", json=CANDIDATE, headers=admin_headers)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["detail"] == "the database is unreachable; retry later"
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200
    exposition = client.get("/metrics").get_data(as_text=True)
    assert _sample(exposition, "rolefit_db_unavailable_total") == before + 1


postgres_only = pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL")


def _terminate(database: Database, application_name: str) -> int:
    with database.engine.connect() as connection:
        return len(
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = :name"
                ),
                {"name": application_name},
            ).all()
        )


@postgres_only
def test_a_database_restart_costs_no_request(
    database: Database, database_url: str, admin_headers: dict[str, str]
) -> None:
    """Every pooled connection dies (as in a PostgreSQL restart): the next requests succeed."""
    name = "rolefit-ops-restart-test"
    app = create_app(make_config(f"{database_url}?application_name={name}"))
    client = app.test_client()
    for _ in range(3):  # open a few pooled connections
        assert client.get("/v1/roles", headers=admin_headers).status_code == 200
    assert client.get("/readyz").status_code == 200
    assert _terminate(database, name) >= 1

    assert client.get("/readyz").status_code == 200
    assert _terminate(database, name) >= 1
    assert client.get("/v1/roles", headers=admin_headers).status_code == 200
    assert _terminate(database, name) >= 1
    response = client.post("/v1/candidates", json=CANDIDATE, headers=admin_headers)
    assert response.status_code == 201, response.data
    app.extensions["rolefit.db"].dispose()


@postgres_only
def test_statement_timeout_is_a_503_not_a_500(
    database: Database, database_url: str, admin_headers: dict[str, str]
) -> None:
    app = create_app(make_config(database_url, statement_timeout_ms=100))
    blp = Blueprint("slow_query", __name__)

    @blp.route("/v1/_test/slow-query")
    @requires("roles:read")
    def slow_query() -> dict[str, bool]:
        request_session().execute(text("SELECT pg_sleep(2)"))
        return {"done": True}

    app.extensions["rolefit.api"].register_blueprint(blp)
    started = time.monotonic()
    response = app.test_client().get("/v1/_test/slow-query", headers=admin_headers)
    assert time.monotonic() - started < 1.5
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.get_json()["detail"] == "the database did not answer in time; retry later"
    app.extensions["rolefit.db"].dispose()


@postgres_only
def test_losing_the_connection_with_a_transaction_open_keeps_the_chosen_response(
    database: Database, database_url: str, admin_headers: dict[str, str]
) -> None:
    """The request ends in an error while its transaction's connection is dead (the database
    restarted under it): closing the session fails, and the client still gets the problem."""
    app = create_app(make_config(database_url))
    blp = Blueprint("lose_connection", __name__)

    @blp.route("/v1/_test/lose-connection", methods=["POST"])
    @requires("roles:read")
    def lose_connection() -> None:
        pid = request_session().execute(text("SELECT pg_backend_pid()")).scalar()
        with database.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        abort(409, message="something else went wrong")

    app.extensions["rolefit.api"].register_blueprint(blp)
    response = app.test_client().post("/v1/_test/lose-connection", headers=admin_headers)
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    app.extensions["rolefit.db"].dispose()


def test_the_gunicorn_entry_point_freezes_the_workers_start_up_objects(tmp_path: Path) -> None:
    """``service.wsgi`` (what every gunicorn worker imports) builds the app, then takes its
    start-up objects out of the full garbage collections' walk
    (:mod:`service.infra.garbage_collector`: 95-124 ms pauses before)."""
    env = dict(os.environ, ROLEFIT_DATABASE_URL=f"sqlite:///{tmp_path / 'frozen.db'}")
    script = (
        "import gc; before = gc.get_freeze_count(); import service.wsgi; "
        "print(before, gc.get_freeze_count(), len(gc.get_objects()))"
    )
    output = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout
    before, frozen, tracked = map(int, output.split()[-3:])
    assert before == 0
    assert frozen > 50_000  # the app's objects, not a handful
    assert tracked < frozen / 10  # what the collector still walks
