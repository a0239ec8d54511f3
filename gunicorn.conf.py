"""gunicorn settings for rolefit (``rolefit serve`` and the Docker image use this file).

Every value can be overridden from the environment (ROLEFIT_BIND, ROLEFIT_WORKERS, ...).
The app is not preloaded: each worker builds its own app, engine and connection pool after the
fork, so no database connection is ever shared across processes. For the same reason this file
never imports the ``service`` package: the master stays free of application code.

Shutdown. gunicorn's own SIGTERM handling closes the listening socket and stops the sync workers
at once; a worker that is busy finishes its request first. A load balancer would see that as
connections reset (those already queued on the socket) and then refused, before its health
check ever notices. So here SIGTERM to the master first *drains* for ``ROLEFIT_DRAIN_SECONDS``:
every worker keeps serving, but ``/readyz`` answers 503 ``shutting down`` (the workers see a flag
file the master creates), so the load balancer takes the instance out of rotation. Then the
usual graceful stop runs: listeners closed, requests in flight completed (up to
``ROLEFIT_GRACEFUL_TIMEOUT``), workers and master exit 0. A second SIGTERM skips the rest of the
drain; SIGINT and SIGQUIT stop quickly, as gunicorn always does.
"""

import contextlib
import os
import shutil
import signal
import sys
import tempfile

from gunicorn.glogging import Logger

bind = os.environ.get("ROLEFIT_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("ROLEFIT_WORKERS", "2"))
worker_class = "sync"
# The sync worker closes every connection after its response; keep-alive only matters if the
# worker class is changed to a threaded or async one.
keepalive = int(os.environ.get("ROLEFIT_KEEPALIVE", "5"))
# A sync worker does not heartbeat while it serves a request, so this is also the longest a
# request may run before the master kills its worker: longer than the longest request rolefit
# serves by design, a role's PUT, whose rescoring of every candidate may run up to
# ROLEFIT_RESCORE_TIMEOUT_SECONDS (sized for ten million candidates). Every other statement is
# bounded by the 5 s statement timeout, so a long worker timeout only delays the detection of a
# worker hung outside the database. Behind nginx (which buffers the request and the response)
# a sync worker is never held by a slow client, only by the work itself.
timeout = int(
    os.environ.get("ROLEFIT_WORKER_TIMEOUT")
    or int(os.environ.get("ROLEFIT_RESCORE_TIMEOUT_SECONDS", "600")) + 60
)
# After the drain, workers finish what they are doing for up to this long before being killed.
graceful_timeout = int(os.environ.get("ROLEFIT_GRACEFUL_TIMEOUT", "20"))
# Seconds between SIGTERM and the graceful stop, while /readyz answers 503 and requests are
# still served: at least the load balancer's health-check interval times its failure threshold.
drain_seconds = float(os.environ.get("ROLEFIT_DRAIN_SECONDS", "5"))
# Heartbeat files in memory, not on a possibly slow or full disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
preload_app = False
max_requests = int(os.environ.get("ROLEFIT_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
accesslog = None  # the app writes one structured line per request itself
errorlog = "-"
loglevel = os.environ.get("ROLEFIT_LOG_LEVEL", "info").lower()
# The proxies (nginx, deploy/nginx.conf) whose X-Forwarded-Proto gunicorn believes; the app
# reads the same variable to believe their X-Forwarded-For (service/api/proxy.py). Addresses or
# networks, comma-separated: nginx's address as gunicorn sees it (127.0.0.1 on a single host).
forwarded_allow_ips = os.environ.get("ROLEFIT_FORWARDED_ALLOW_IPS", "127.0.0.1")
# Signals are the interface; no control socket shared by every gunicorn of this user.
control_socket_disable = True
# The longest URL the document allows (a 64-character key, a 512-character cursor, bounded text
# filters of multi-byte characters, percent-encoded) is about 7 KB: gunicorn's 4094 would answer
# some valid requests 414. 8190 is its maximum.
limit_request_line = 8190
# gunicorn faces nginx only, whose own limits are the ones clients meet (a request line or a
# header line of 8 KiB, 33 KiB of headers in all: deploy/nginx.conf). gunicorn's are set above
# them so that nothing nginx lets through is refused here with one of gunicorn's HTML pages:
# its default 100 headers and 8190-byte header lines are both below what nginx passes.
limit_request_fields = 10000  # 33 KiB of headers hold at most about 8,450 lines ("a:" CRLF)
limit_request_field_size = 16384

# prometheus_client multiprocess mode: one folder of sample files shared by all workers,
# made fresh at every start so counters from an earlier run do not leak into this one.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="rolefit-metrics-")
    # Ours to delete at exit (the marker survives a configuration reload, which runs this again).
    os.environ["ROLEFIT_OWN_METRICS_DIR"] = os.environ["PROMETHEUS_MULTIPROC_DIR"]
_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
# The drain flag lives in the same fresh folder, so a flag left by a killed master is gone at
# the next start (the metrics collector only reads *.db files).
_drain_file = os.path.join(_metrics_dir, "draining")
os.environ["ROLEFIT_DRAIN_FILE"] = _drain_file


def on_starting(server):
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)


def when_ready(server):
    """Replace the master's SIGTERM handling with drain-then-stop (see the module docstring)."""
    stop = server.handle_term

    def handle_term():
        if drain_seconds <= 0 or os.path.exists(_drain_file):
            stop()  # raises StopIteration: gunicorn's graceful stop
        with open(_drain_file, "w") as flag:
            flag.write(str(os.getpid()))
        server.log.info(
            "Draining for %.1f s: /readyz answers 503, requests are still served", drain_seconds
        )
        # When the drain is over, the master signals itself: gunicorn's own stop follows.
        signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
        signal.setitimer(signal.ITIMER_REAL, drain_seconds)

    server.handle_term = handle_term


def worker_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if os.environ.get("ROLEFIT_OWN_METRICS_DIR") == _metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(_drain_file)


# --- logs ---------------------------------------------------------------------------------
# gunicorn's own lines (master and workers: boot, signals, timeouts, worker exits) in the shape
# of the app's lines, one JSON object each, when ROLEFIT_LOG_FORMAT=json (or auto without a
# terminal). The app configures its own logging in each worker (service.observability).


def _json_logs():
    fmt = os.environ.get("ROLEFIT_LOG_FORMAT", "auto").lower()
    return fmt == "json" or (fmt != "console" and not sys.stderr.isatty())


def _json_formatter():
    import structlog

    def add_pid(_logger, _name, event):
        record = event.get("_record")
        if record is not None:
            event["pid"] = record.process
        return event

    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            add_pid,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )


class JsonLogger(Logger):
    """gunicorn's logger, with its error-log handlers rendering JSON lines."""

    def setup(self, cfg):
        super().setup(cfg)
        formatter = _json_formatter()
        for handler in self.error_log.handlers:
            handler.setFormatter(formatter)


if _json_logs():
    logger_class = JsonLogger
