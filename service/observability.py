"""Logs and metrics: one structured line per request, Prometheus metrics across workers.

Metrics. Under gunicorn, ``gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any
worker imports this module, so every worker writes its samples to shared files and ``/metrics``
aggregates them (counters and histograms summed over every worker that ever ran since the
master started; gauges summed over the live workers). Without it (development, tests) the
default in-process registry is used.

Logs. structlog renders every event as one JSON object per line on stderr
(``ROLEFIT_LOG_FORMAT=json``, or ``auto`` when stderr is not a terminal), or as readable
``key=value`` lines on a terminal. Records of the standard ``logging`` module (Flask,
SQLAlchemy's pool, ``warnings``) go through the same processors, so they come out in the same
shape; gunicorn's own lines are formatted alike by ``gunicorn.conf.py``. A value under a key
that could hold a secret or contact data is redacted, and SQL parameters are never rendered in
a logged exception.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import structlog
from flask import g, has_request_context
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy.exc import StatementError
from structlog.typing import EventDict

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; this only keeps logs working
    orjson = None  # type: ignore[assignment]

REQUESTS = Counter(
    "rolefit_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
LATENCY = Histogram(
    "rolefit_http_request_duration_seconds",
    "HTTP request latency, from the first request hook to the last",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SCORING = Histogram(
    "rolefit_scoring_duration_seconds",
    "Time spent computing and storing scores, by operation",
    ["operation"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30),
)
RATE_LIMITED = Counter("rolefit_rate_limited_total", "Requests refused by the rate limiter")
AUTH_FAILURES = Counter(
    "rolefit_auth_failures_total", "Requests answered 401 (no, malformed, unknown or revoked key)"
)
AUTH_REFUSED = Counter(
    "rolefit_auth_address_refused_total",
    "Requests refused (429) before their key was looked up: their address failed too often",
)
DB_UNAVAILABLE = Counter(
    "rolefit_db_unavailable_total",
    "Requests answered 503 because the database was unreachable or too slow",
)
DB_POOL_IN_USE = Gauge(
    "rolefit_db_pool_connections_in_use",
    "Database connections checked out of the workers' pools (sampled every second)",
    multiprocess_mode="livesum",
)
DB_POOL_MAX = Gauge(
    "rolefit_db_pool_connections_max",
    "Database connections the workers' pools may open (pool size plus overflow)",
    multiprocess_mode="livesum",
)

_MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REQUEST_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one request and record its latency (label children cached: this runs per request).

    ``route`` is the URL rule, never the path, and an unknown method is counted as ``OTHER``:
    a client cannot create new series by sending odd paths or methods.
    """
    if method not in _METHODS:
        method = "OTHER"
    series = _REQUEST_SERIES.get((method, route, status))
    if series is None:
        code = str(status)
        series = (REQUESTS.labels(method, route, code), LATENCY.labels(method, route, code))
        _REQUEST_SERIES[(method, route, status)] = series
    series[0].inc()
    series[1].observe(seconds)


def metrics_payload() -> tuple[bytes, str]:
    """The exposition text: aggregated over workers when running under gunicorn."""
    if _MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class Timer:
    """``with Timer("rescore_role"):`` records the block's duration in SCORING, when it
    succeeds (a refused request is not a rescore)."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self.start = 0.0

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            SCORING.labels(self.operation).observe(time.perf_counter() - self.start)


def _pool_capacity(pool: Any) -> int:
    size = pool.size() if callable(getattr(pool, "size", None)) else 0
    overflow = getattr(pool, "_max_overflow", 0)
    return int(size) + max(int(overflow), 0)


def sample_pool(pools: Sequence[Any]) -> None:
    """Publish how many connections this process has checked out of ``pools``."""
    in_use = 0
    for pool in pools:
        checked_out = getattr(pool, "checkedout", None)
        if callable(checked_out):
            in_use += checked_out()
    DB_POOL_IN_USE.set(in_use)


def track_pool(pools: Sequence[Any], interval: float = 1.0) -> None:
    """Publish the usage of ``pools`` (the read and write pools, summed). Under gunicorn a
    daemon thread samples them every ``interval`` seconds, so that the sum over workers is
    current whichever worker answers ``/metrics``; in a single process ``/metrics`` samples
    them itself. Nothing runs per request either way."""
    DB_POOL_MAX.set(sum(_pool_capacity(pool) for pool in pools))
    sample_pool(pools)
    if not _MULTIPROCESS:
        return

    def sample_forever() -> None:
        while True:
            time.sleep(interval)
            sample_pool(pools)

    threading.Thread(target=sample_forever, name="rolefit-pool-sampler", daemon=True).start()


# --- logs ---------------------------------------------------------------------------------

_SECRET_KEYS = frozenset(
    {
        "authorization",
        "cookie",
        "token",
        "secret",
        "password",
        "api_key",
        "apikey",
        "email",
        "phone",
    }
)
_FORMAT = {"json": True}


def _dumps(obj: Any, default: Any = None, **_kwargs: Any) -> str:
    """orjson when it can (a few µs less per line), the standard library when it cannot."""
    if orjson is not None:
        try:
            return orjson.dumps(obj, default=default).decode()
        except TypeError:
            pass
    return json.dumps(obj, default=default)


_JSON = structlog.processors.JSONRenderer(serializer=_dumps)
_CONSOLE = structlog.dev.ConsoleRenderer(colors=False)


def _drop_secrets(_logger: Any, _name: str, event: EventDict) -> EventDict:
    """Last line of defence: a field that could hold a secret or contact data never leaves."""
    for key in event:
        if key.lower() in _SECRET_KEYS:
            event[key] = "[redacted]"
    return event


def _hide_sql_parameters(_logger: Any, _name: str, event: EventDict) -> EventDict:
    """A logged SQLAlchemy error shows its SQL but not its parameters (names, emails, ...)."""
    exc_info = event.get("exc_info")
    if not exc_info:
        return event
    if isinstance(exc_info, BaseException):
        error: BaseException | None = exc_info
    elif isinstance(exc_info, tuple):
        error = exc_info[1]
    else:
        error = sys.exc_info()[1]
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, StatementError):
            error.hide_parameters = True
        error = error.__cause__ or error.__context__
        seen += 1
    return event


def _add_request_id(_logger: Any, _name: str, event: EventDict) -> EventDict:
    """Every line logged while serving a request names it: the id a 500 tells users to quote."""
    if "request_id" not in event and has_request_context():
        request_id = g.get("request_id")
        if request_id:
            event["request_id"] = request_id
    return event


def _add_logger_name(logger: Any, _name: str, event: EventDict) -> EventDict:
    event["logger"] = getattr(logger, "name", "rolefit")
    return event


def _render(logger: Any, name: str, event: EventDict) -> Any:
    # Chosen per call, so that loggers cached before the last configure_logging follow it.
    return _JSON(logger, name, event) if _FORMAT["json"] else _CONSOLE(logger, name, event)


class _StderrLogger:
    """Writes each rendered line to the *current* ``sys.stderr`` in one call."""

    __slots__ = ("name",)

    def __init__(self, name: str = "rolefit") -> None:
        self.name = name

    def msg(self, message: str) -> None:
        stream = sys.stderr
        stream.write(message + "\n")
        stream.flush()

    log = debug = info = warn = warning = error = err = critical = fatal = exception = msg
    failure = msg


def _logger_factory(*args: Any) -> _StderrLogger:
    return _StderrLogger(str(args[0]) if args else "rolefit")


class _CurrentStderr:
    """A stream for ``logging`` handlers that follows ``sys.stderr`` (tests replace it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_TIMESTAMPER = structlog.processors.TimeStamper(fmt="iso", utc=True)
_TAIL: list[Any] = [_drop_secrets, _hide_sql_parameters, structlog.processors.format_exc_info]


def use_json(fmt: str) -> bool:
    """``json``, ``console``, or ``auto``: JSON unless stderr is a terminal."""
    return fmt == "json" or (fmt != "console" and not sys.stderr.isatty())


def stdlib_formatter(json_lines: bool = True) -> logging.Formatter:
    """A ``logging`` formatter that renders records like structlog events."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            _add_request_id,
            _TIMESTAMPER,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *_TAIL,
            _JSON if json_lines else _CONSOLE,
        ],
    )


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """JSON lines in production, readable lines on a terminal (``fmt='auto'``).

    Safe to call again (every ``create_app`` does): the standard-library handler it installs
    on the root logger is replaced, not stacked, and handlers added by others (pytest's) stay.
    """
    _FORMAT["json"] = use_json(fmt)
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_logger_name,
            _add_request_id,
            _TIMESTAMPER,
            *_TAIL,
            _render,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_logger_factory,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_rolefit", False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(stdlib_formatter(_FORMAT["json"]))
    handler._rolefit = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(numeric)
    # SQLAlchemy's SAWarning and friends are `warnings`: route them through logging too.
    logging.captureWarnings(True)
