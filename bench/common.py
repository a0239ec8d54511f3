"""Shared plumbing for the benchmarks: a scratch PostgreSQL database, gunicorn, wrk.

Benchmarks run by hand (see bench/README.md). Every figure is reported next to a baseline
measured in the same run, because these machines are shared and noisy.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
)


def psql(sql: str) -> None:
    subprocess.run(["psql", PG_ADMIN_URL, "-q", "-c", sql], check=True)


def psql_db(database_url: str, sql: str) -> None:
    """Run ``sql`` in the database of a SQLAlchemy URL from :func:`scratch_database`."""
    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    subprocess.run(["psql", plain, "-q", "-c", sql], check=True)


@contextlib.contextmanager
def scratch_database(name: str) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; yields its SQLAlchemy URL."""
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rolefit(env: dict[str, str], *args: str) -> str:
    """Run the rolefit CLI; returns its stdout."""
    result = subprocess.run(
        [str(BIN / "rolefit"), *args], env=env, check=True, capture_output=True, text=True
    )
    return result.stdout


def env_for(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ROLEFIT_DATABASE_URL=database_url,
        ROLEFIT_LOG_LEVEL="WARNING",
        ROLEFIT_LOG_FORMAT="json",
        ROLEFIT_DRAIN_SECONDS="0",  # no load balancer to drain: stop at once
        **extra,
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


@contextlib.contextmanager
def gunicorn(
    app: str, port: int, env: dict[str, str], workers: int = 2, log_path: Path | None = None
) -> Iterator[str]:
    """Serve ``app`` under the project's gunicorn.conf.py; yields the base URL.

    gunicorn's output goes to ``log_path`` when given (for checks afterwards), else to a
    temporary file shown only if the server fails to start.
    """
    env = dict(env, ROLEFIT_BIND=f"127.0.0.1:{port}", ROLEFIT_WORKERS=str(workers))
    metrics_dir = tempfile.mkdtemp(prefix="bench-metrics-")
    env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    log = (
        log_path.open("w+")
        if log_path is not None
        else tempfile.NamedTemporaryFile("w+", prefix="bench-gunicorn-", suffix=".log")  # noqa: SIM115
    )
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py"), app],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(base + "/healthz")
        except RuntimeError:
            log.seek(0)
            raise RuntimeError(f"gunicorn did not start:\n{log.read()[-3000:]}") from None
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        log.close()


def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url, timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready")


def wrk(
    url: str,
    *,
    seconds: int = 10,
    connections: int = 8,
    threads: int = 2,
    headers: dict[str, str] | None = None,
    script: str | None = None,
) -> float:
    """Requests per second that wrk measured; fails on any non-2xx response."""
    return wrk_figures(
        url,
        seconds=seconds,
        connections=connections,
        threads=threads,
        headers=headers,
        script=script,
    )["rps"]


def wrk_figures(
    url: str,
    *,
    seconds: int = 10,
    connections: int = 8,
    threads: int = 2,
    headers: dict[str, str] | None = None,
    script: str | None = None,
) -> dict[str, float]:
    """wrk's requests per second and its 50th and 99th percentile latencies (``rps``,
    ``p50_ms``, ``p99_ms``); fails on any non-2xx response."""
    threads = min(threads, connections)  # wrk refuses more threads than connections
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    if script:
        args += ["-s", script]
    output = subprocess.run([*args, url], check=True, capture_output=True, text=True).stdout
    if "Non-2xx" in output:
        raise RuntimeError(f"non-2xx responses from {url}:\n{output}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not match:
        raise RuntimeError(output)
    return {
        "rps": float(match.group(1)),
        "p50_ms": _percentile_ms(output, 50),
        "p99_ms": _percentile_ms(output, 99),
    }


def _percentile_ms(output: str, percent: int) -> float:
    """One line of wrk's latency distribution (``--latency``), in ms."""
    found = re.search(rf"\b{percent}%\s+([\d.]+)(us|ms|s)\b", output)
    if not found:
        raise RuntimeError(output)
    factor = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
    return float(found.group(1)) * factor


def post_script(body: dict, headers: dict[str, str]) -> str:
    """A wrk Lua script that POSTs ``body`` as JSON."""
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(body))}"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    handle = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
    handle.write("\n".join(lines) + "\n")
    handle.close()
    return handle.name


def save(name: str, results: dict) -> Path:
    folder = ROOT / "bench" / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


def request(method: str, url: str, key: str, body: dict | None = None, **headers: str) -> tuple:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    req.add_header("Content-Type", "application/json")
    for name, value in headers.items():
        req.add_header(name.replace("_", "-"), value)
    with urllib.request.urlopen(req, timeout=120) as response:
        return response.status, dict(response.headers), json.loads(response.read() or b"null")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def pgbouncer(upstream_url: str, pool_size: int = 4) -> Iterator[str]:
    """PgBouncer in transaction mode in front of ``upstream_url`` (a SQLAlchemy URL), on a free
    port, with ``pool_size`` server connections per database and user; yields its URL."""
    if PGBOUNCER is None:
        raise RuntimeError("pgbouncer is not installed (apt-get install pgbouncer)")
    upstream = make_url(upstream_url)
    folder = Path(tempfile.mkdtemp(prefix="rolefit-pgbouncer-"))
    user = None
    if os.geteuid() == 0:  # PgBouncer refuses to run as root: as nobody, in a folder of its own
        user = "nobody"
        os.chown(folder, pwd.getpwnam(user).pw_uid, -1)
    port = _free_port()
    (folder / "userlist.txt").write_text(f'"{upstream.username}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={upstream.host} port={upstream.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'userlist.txt'}\n"
        f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_client_conn = 200\n"
        f"logfile = {folder / 'pgbouncer.log'}\n"
    )
    output = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
    process = subprocess.Popen(
        [PGBOUNCER, str(folder / "pgbouncer.ini")], user=user, stdout=output, stderr=output
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if process.poll() is not None:
                output.seek(0)
                raise RuntimeError(f"pgbouncer did not start: {output.read().decode()}")
            if time.monotonic() > deadline:
                raise RuntimeError("pgbouncer did not start listening")
            time.sleep(0.05)
        yield upstream.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        process.terminate()
        process.wait(timeout=10)
        output.close()
        shutil.rmtree(folder, ignore_errors=True)
