"""gunicorn settings for rolefit (``rolefit serve`` and the Docker image use this file).

Every value can be overridden from the environment (ROLEFIT_BIND, ROLEFIT_WORKERS, ...).
The app is not preloaded: each worker builds its own app, engine and connection pool after the
fork, so no database connection is ever shared across processes.
"""

import os
import shutil
import tempfile

bind = os.environ.get("ROLEFIT_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("ROLEFIT_WORKERS", "2"))
worker_class = "sync"
# Keep-alive lets a load balancer or client reuse connections between requests.
keepalive = int(os.environ.get("ROLEFIT_KEEPALIVE", "5"))
timeout = int(os.environ.get("ROLEFIT_WORKER_TIMEOUT", "30"))
# On SIGTERM, workers finish what they are doing for up to this long before being killed.
graceful_timeout = int(os.environ.get("ROLEFIT_GRACEFUL_TIMEOUT", "20"))
# Heartbeat files in memory, not on a possibly slow or full disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
preload_app = False
max_requests = int(os.environ.get("ROLEFIT_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
accesslog = None  # the app writes one structured line per request itself
errorlog = "-"
loglevel = os.environ.get("ROLEFIT_LOG_LEVEL", "info").lower()
forwarded_allow_ips = os.environ.get("ROLEFIT_FORWARDED_ALLOW_IPS", "127.0.0.1")

# prometheus_client multiprocess mode: one folder of sample files shared by all workers,
# made fresh at every start so counters from an earlier run do not leak into this one.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
    prefix="rolefit-metrics-"
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def on_starting(server):
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)


def worker_int(worker):
    _drain()


def worker_abort(worker):
    _drain()


def worker_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    # SIGTERM to a worker: readiness turns 503 at once, in-flight requests complete.
    import signal

    original = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        _drain()
        if callable(original):
            original(signum, frame)

    signal.signal(signal.SIGTERM, on_term)


def _drain():
    from service.api.ops import DRAINING

    DRAINING["value"] = True
