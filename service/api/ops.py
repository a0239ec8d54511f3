"""Operational endpoints, without authentication: health, readiness, metrics, API docs."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from flask import Response, current_app, send_from_directory
from flask_smorest import Blueprint
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from swagger_ui_bundle import swagger_ui_path
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

from service.api.errors import problem
from service.api.jsonio import json_response
from service.api.schemas import HealthSchema
from service.domain.delivery import backlog
from service.infra.database import Database
from service.observability import metrics_payload, sample_pool, track_pool

blp = Blueprint("ops", __name__, description="Health, readiness and metrics (no auth).")


@blp.record_once
def _track_pool(state: Any) -> None:
    """Publish the app's connection-pool usage as metrics (sampled, not per request)."""
    database: Database = state.app.extensions["rolefit.db"]
    track_pool(database.pools)


def draining() -> bool:
    """Whether this instance is shutting down, so that readiness answers 503.

    The gunicorn master creates the file named by ``ROLEFIT_DRAIN_FILE`` on SIGTERM and keeps
    serving for a while (see gunicorn.conf.py): a file is the one signal every worker sees.
    """
    flag = os.environ.get("ROLEFIT_DRAIN_FILE")
    return bool(flag and os.path.exists(flag))


def _ping(database: Database) -> None:
    with database.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


@blp.route("/healthz")
@blp.response(200, HealthSchema)
@blp.doc(operationId="getHealth", security=[])
def healthz() -> Response:
    """Liveness: the process answers. Never touches the database.

    `200 {"status": "ok"}` while the process serves, whatever the database's state: use it for
    liveness (restart on failure), never for readiness. No API key.
    """
    return json_response({"status": "ok"})


@blp.route("/readyz")
@blp.response(200, HealthSchema)
@blp.alt_response(503, description="Not ready: database unreachable or shutting down")
@blp.doc(operationId="getReadiness", security=[])
def readyz() -> Response:
    """Readiness: the database answers a query and the worker is not shutting down.

    `200 {"status": "ready"}` when `SELECT 1` succeeds through the worker's pool (retried once
    after a database restart); otherwise a 503 problem with `Retry-After` (5 s when the database
    is unreachable, 1 s while shutting down). For load balancers and readiness probes. No API key.
    """
    if draining():
        return problem(503, "Service Unavailable", "shutting down", headers={"Retry-After": "1"})
    database: Database = current_app.extensions["rolefit.db"]
    try:
        try:
            _ping(database)
        except DBAPIError as error:
            # A pooled connection that died with an earlier database restart: SQLAlchemy has
            # discarded it and every older one, so one retry tells whether the database is back.
            if not error.connection_invalidated:
                raise
            _ping(database)
    except Exception:
        return problem(
            503, "Service Unavailable", "the database is unreachable", headers={"Retry-After": "5"}
        )
    return json_response({"status": "ready"})


@blp.route("/metrics")
@blp.response(200, description="Prometheus text exposition format", content_type="text/plain")
@blp.doc(operationId="getMetrics", security=[])
def metrics() -> Response:
    """Prometheus metrics, aggregated over every gunicorn worker.

    Text exposition format, summed over the instance's workers; scrape once per instance. No API
    key: expose it on the internal network only.
    """
    # Under gunicorn each worker's sampler keeps its share current; this refreshes ours.
    sample_pool(current_app.extensions["rolefit.db"].pools)
    payload, content_type = metrics_payload()
    return Response(
        payload + _outbox_metrics(current_app.extensions["rolefit.db"]), content_type=content_type
    )


def _outbox_metrics(database: Database) -> bytes:
    """The webhook outbox's backlog, read from the database at scrape time (whichever worker
    process delivers, the database knows what waits); nothing when it does not answer."""
    try:
        with database.read_engine.connect() as connection:
            count, age = backlog(database.read_session(connection))
    except DBAPIError:
        return b""
    registry = CollectorRegistry()
    registry.register(
        _Fixed(
            GaugeMetricFamily(
                "rolefit_outbox_backlog", "Webhook deliveries waiting to be made", value=count
            ),
            GaugeMetricFamily(
                "rolefit_outbox_oldest_undelivered_age_seconds",
                "Age of the oldest event not yet delivered to every endpoint",
                value=age,
            ),
        )
    )
    return generate_latest(registry)


class _Fixed(Collector):
    def __init__(self, *families: Metric) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


@blp.route("/openapi.yaml")
@blp.response(200, description="The OpenAPI document, YAML", content_type="application/yaml")
@blp.doc(operationId="getOpenapiYaml", security=[])
def openapi_yaml() -> Response:
    """This API's OpenAPI document as YAML (the same as /openapi.json).

    Generated from the code, identical to `openapi.yaml` in the repository; Swagger UI at /docs
    renders it. No API key.
    """
    api = current_app.extensions["rolefit.api"]
    return Response(api.spec.to_yaml(), content_type="application/yaml")


@blp.route("/docs/assets/<path:filename>")
@blp.doc(hide=True)
def docs_assets(filename: str) -> Response:
    """Swagger UI's files, served locally so the reference works without internet access."""
    if safe_join(swagger_ui_path, filename) is None:
        raise NotFound()
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
