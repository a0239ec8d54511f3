"""Logs and metrics: one structured line per request, Prometheus metrics across workers.

Under gunicorn, ``gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any worker
imports this module, so every worker writes its samples to shared files and ``/metrics``
aggregates them. Without it (development, tests) the default in-process registry is used.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "rolefit_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
LATENCY = Histogram(
    "rolefit_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SCORING = Histogram(
    "rolefit_scoring_duration_seconds",
    "Time spent computing and storing scores",
    ["operation"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30),
)
RATE_LIMITED = Counter("rolefit_rate_limited_total", "Requests refused by the rate limiter")
DB_POOL_IN_USE = Gauge(
    "rolefit_db_pool_connections_in_use",
    "Database connections checked out of this worker's pool",
    multiprocess_mode="livesum",
)


def metrics_payload() -> tuple[bytes, str]:
    """The exposition text: aggregated over workers when running under gunicorn."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class Timer:
    """``with Timer("rescore_role"):`` records the block's duration in SCORING."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self.start = 0.0

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        SCORING.labels(self.operation).observe(time.perf_counter() - self.start)


_SECRET_KEYS = {"authorization", "token", "secret", "email", "phone", "password", "api_key"}


def _drop_secrets(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Last line of defence: a field that could hold a secret or contact data never leaves."""
    for key in list(event):
        if key.lower() in _SECRET_KEYS:
            event[key] = "[redacted]"
    return event


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """JSON lines in production, readable lines on a terminal (``fmt='auto'``)."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level, logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
