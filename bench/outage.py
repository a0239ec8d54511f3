"""Database outage drill: PostgreSQL stops for ten seconds under write load; nothing is lost.

Run (as root, on a machine whose local PostgreSQL cluster you may stop for ten seconds):
``.venv/bin/python -m bench.outage [--clients 8] [--before 8] [--outage 10] [--after 12]``

On a scratch database, under gunicorn (the project's gunicorn.conf.py, 2 workers):

1. client threads create candidates one by one (``POST /v1/candidates``) and one client in
   batches of 10 (``POST /v1/candidates/batch``), every request with its own
   ``Idempotency-Key``. A client retries the same request with the same key on a 503, a 409
   (the first attempt is still in flight, or was cut off and not yet abandoned) and on
   connection errors, with a short backoff (at most 1 s, so that recovery is measured closely),
   for at most ``--max-attempts`` tries and ``--max-seconds`` per request;
2. a monitor polls ``/readyz`` and ``/healthz`` every 0.25 s;
3. after ``--before`` seconds the PostgreSQL cluster is stopped (``pg_ctlcluster ... stop -m
   fast``) and ``--outage`` seconds later started again (always, in a ``finally``); then
   ``pg_isready`` must answer;
4. the load runs ``--after`` seconds more, then every request still retrying gets to finish.

It then checks, and exits non-zero unless all hold: every candidate acknowledged with a 201 is
stored exactly once, with its scores against every role (nothing half-written); no candidate is
stored twice; no response was a 500 or had a traceback; the server logged no unhandled
exception; ``/healthz`` always answered 200 and ``/readyz`` answered 503 during the outage and
200 again afterwards. It prints a summary: responses by status, the timeline, and how long the
service took to recover.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench.common import env_for, gunicorn, rolefit, save, scratch_database

PORT = 18004
COMPETENCIES = ["technical-depth", "project-lifecycle", "stakeholder-communication"]


def cluster() -> list[str]:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]


def pg_isready(timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode == 0:
            return True
        time.sleep(0.2)
    return False


def request(method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple:
    """One HTTP exchange on a fresh connection: (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@dataclass
class Outcome:
    kind: str  # "single" or "batch"
    names: list[str]
    started: float
    attempts: int = 0
    first_failure: float | None = None
    finished: float | None = None
    acknowledged: dict[str, str] = field(default_factory=dict)  # name -> id
    gave_up: bool = False


class Load:
    """The clients, their bookkeeping, and the monitor of /readyz and /healthz."""

    def __init__(self, key: str, args: argparse.Namespace) -> None:
        self.key = key
        self.args = args
        self.t0 = time.monotonic()
        self.stop_new = threading.Event()
        self.lock = threading.Lock()
        self.statuses: Counter[str] = Counter()
        self.events: list[tuple[float, str]] = []  # (seconds since start, status)
        self.outcomes: list[Outcome] = []
        self.server_errors: list[str] = []
        self.probes: list[tuple[float, str, int | str]] = []

    def now(self) -> float:
        return time.monotonic() - self.t0

    def note(self, status: str) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.events.append((self.now(), status))

    def client(self, number: int, batch: int) -> None:
        rng = random.Random(number)
        sequence = 0
        while not self.stop_new.is_set():
            names = [f"outage-{number}-{sequence + i}" for i in range(batch)]
            sequence += batch
            people = [
                {
                    "name": name,
                    "headline": "outage drill",
                    "competencies": [
                        {"competency": c, "level": rng.randint(1, 5)} for c in COMPETENCIES
                    ],
                }
                for name in names
            ]
            if batch == 1:
                outcome = Outcome("single", names, self.now())
                self.send(outcome, "/v1/candidates", people[0])
            else:
                outcome = Outcome("batch", names, self.now())
                self.send(outcome, "/v1/candidates/batch", {"candidates": people})
            with self.lock:
                self.outcomes.append(outcome)

    def send(self, outcome: Outcome, path: str, payload: dict) -> None:
        body = json.dumps(payload).encode()
        headers = {
            "Authorization": f"Bearer {self.key}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"{outcome.names[0]}-{os.urandom(6).hex()}",
        }
        backoff = 0.1
        while True:
            outcome.attempts += 1
            try:
                status, _headers, data = request("POST", path, body, headers)
                label = str(status)
            except (OSError, http.client.HTTPException) as error:
                status, data, label = 0, b"", type(error).__name__
            self.note(label)
            if status >= 500 and (status != 503 or b"Traceback" in data):
                with self.lock:
                    self.server_errors.append(f"{status} {data[:300]!r}")
            if status in (200, 201):
                outcome.finished = self.now()
                if outcome.kind == "single":
                    outcome.acknowledged[outcome.names[0]] = json.loads(data)["id"]
                else:
                    for result in json.loads(data)["results"]:
                        if result["status"] == 201:
                            outcome.acknowledged[outcome.names[result["index"]]] = result["id"]
                return
            if status not in (0, 409, 503):
                with self.lock:
                    self.server_errors.append(f"unexpected {status} {data[:300]!r}")
                outcome.gave_up = True
                return
            if outcome.first_failure is None:
                outcome.first_failure = self.now()
            waited = self.now() - outcome.started
            if outcome.attempts >= self.args.max_attempts or waited >= self.args.max_seconds:
                outcome.gave_up = True
                return
            time.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, 1.0)

    def monitor(self, done: threading.Event) -> None:
        while not done.is_set():
            for path in ("/readyz", "/healthz"):
                try:
                    status: int | str = request("GET", path, None, {})[0]
                except (OSError, http.client.HTTPException) as error:
                    status = type(error).__name__
                self.probes.append((self.now(), path, status))
            time.sleep(0.25)


def stored(url: str) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Candidates of the drill by name -> ids, and matches per candidate id."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        by_name: dict[str, list[str]] = {}
        for name, candidate_id in connection.execute(
            "SELECT name, id::text FROM candidates WHERE name LIKE 'outage-%'"
        ):
            by_name.setdefault(name, []).append(candidate_id)
        matches = dict(
            connection.execute(
                "SELECT candidate_id::text, count(*) FROM matches GROUP BY candidate_id"
            ).fetchall()
        )
    return by_name, matches


def timeline(load: Load, stop_at: float, start_at: float, width: float = 2.0) -> list[str]:
    end = max(t for t, _ in load.events) if load.events else 0
    rows = []
    bucket = 0.0
    while bucket <= end:
        counts = Counter(s for t, s in load.events if bucket <= t < bucket + width)
        mark = ""
        if bucket <= stop_at < bucket + width:
            mark = "  <- PostgreSQL stop"
        elif bucket <= start_at < bucket + width:
            mark = "  <- PostgreSQL start"
        shown = " ".join(f"{status}x{n}" for status, n in sorted(counts.items()))
        rows.append(f"  {bucket:5.0f}-{bucket + width:<3.0f}s  {shown}{mark}")
        bucket += width
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=8, help="one-by-one clients")
    parser.add_argument("--batch-clients", type=int, default=1, help="clients posting batches")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--before", type=float, default=8, help="seconds of load before")
    parser.add_argument("--outage", type=float, default=10, help="seconds PostgreSQL is down")
    parser.add_argument("--after", type=float, default=12, help="seconds of load after")
    parser.add_argument("--max-attempts", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=90)
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("pg_ctlcluster"):
        raise SystemExit("needs root and pg_ctlcluster (it stops the local PostgreSQL)")

    log = Path(tempfile.mkdtemp(prefix="rolefit-outage-")) / "gunicorn.log"
    with scratch_database("rolefit_bench_outage") as url:
        env = env_for(url)
        rolefit(env, "db", "upgrade")
        key = rolefit(env, "keys", "create", "--name", "outage", "--preset", "admin").split()[-1]
        with gunicorn("service.wsgi:app", PORT, env, args.workers, log_path=log) as base:
            load = Load(key, args)
            clients = [
                threading.Thread(target=load.client, args=(n, 1)) for n in range(args.clients)
            ]
            clients += [
                threading.Thread(target=load.client, args=(args.clients + n, 10))
                for n in range(args.batch_clients)
            ]
            done = threading.Event()
            monitor = threading.Thread(target=load.monitor, args=(done,))
            for thread in [*clients, monitor]:
                thread.start()

            time.sleep(args.before)
            stopping_at = stopped_at = starting_at = ready_at = 0.0
            try:
                stopping_at = load.now()
                subprocess.run([*cluster(), "stop", "-m", "fast"], check=True)
                stopped_at = load.now()
                # Unavailable from the moment the stop began (it refuses new connections at once).
                time.sleep(max(0.0, args.outage - (stopped_at - stopping_at)))
            finally:
                starting_at = load.now()
                subprocess.run([*cluster(), "start"], check=True)
                if not pg_isready():
                    raise SystemExit("PostgreSQL did not come back: check it by hand NOW")
                ready_at = load.now()
            print(
                f"PostgreSQL: stop at t={stopping_at:.1f}s (down at {stopped_at:.1f}s), "
                f"start at {starting_at:.1f}s (pg_isready at {ready_at:.1f}s)"
            )

            time.sleep(args.after)
            load.stop_new.set()
            for thread in clients:
                thread.join(timeout=args.max_seconds + 30)
            done.set()
            monitor.join()
            _status, _headers, metrics = request("GET", "/metrics", None, {})
            print(f"served at {base}; server log: {log}")

        by_name, matches = stored(url)

    # --- checks -----------------------------------------------------------------------------
    outcomes = load.outcomes
    acknowledged = {n: i for o in outcomes for n, i in o.acknowledged.items()}
    lost = [n for n, i in acknowledged.items() if i not in by_name.get(n, [])]
    duplicates = {n: ids for n, ids in by_name.items() if len(ids) > 1}
    half_written = [i for i in acknowledged.values() if matches.get(i, 0) != 2]
    unacknowledged_stored = [n for n in by_name if n not in acknowledged]
    gave_up = [o for o in outcomes if o.gave_up]
    log_text = log.read_text()
    unhandled = log_text.count('"unhandled_exception"')
    tracebacks_in_log = log_text.count("Traceback")
    ready = [(t, s) for t, p, s in load.probes if p == "/readyz"]
    health = [(t, s) for t, p, s in load.probes if p == "/healthz"]
    health_bad = [(t, s) for t, s in health if s != 200]
    ready_during = {s for t, s in ready if stopped_at < t < starting_at}  # certainly down
    ready_back = next((t for t, s in ready if t > starting_at and s == 200), None)
    first_201_after = min(
        (t for t, s in load.events if t > starting_at and s in ("200", "201")), default=None
    )
    # Requests that were failing when PostgreSQL was started again: how long after that until
    # the last of them succeeded.
    recoveries = [
        o.finished - starting_at
        for o in outcomes
        if o.first_failure is not None and o.first_failure < starting_at and o.finished
    ]
    server_500 = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.decode().splitlines()
        if line.startswith("rolefit_http_requests_total{") and 'status="500"' in line
    )
    unavailable = next(
        (
            float(line.rsplit(" ", 1)[1])
            for line in metrics.decode().splitlines()
            if line.startswith("rolefit_db_unavailable_total ")
        ),
        0.0,
    )

    checks = {
        "every acknowledged candidate stored": not lost,
        "no candidate stored twice": not duplicates,
        "acknowledged candidates fully scored (2 roles)": not half_written,
        "no 500, no traceback in a response": not load.server_errors and server_500 == 0,
        "no unhandled exception in the server log": unhandled == 0,
        "/healthz always 200": not health_bad,
        "/readyz 503 during the outage": ready_during == {503},
        "/readyz 200 after the outage": ready_back is not None,
        "no request gave up": not gave_up,
    }
    results = {
        "clients": args.clients,
        "batch_clients": args.batch_clients,
        "workers": args.workers,
        "postgres_down_seconds": round(ready_at - stopping_at, 1),
        "responses_by_status": dict(sorted(load.statuses.items())),
        "requests": len(outcomes),
        "requests_retried": sum(1 for o in outcomes if o.attempts > 1),
        "max_attempts_of_a_request": max((o.attempts for o in outcomes), default=0),
        "candidates_acknowledged": len(acknowledged),
        "candidates_stored": sum(len(ids) for ids in by_name.values()),
        "stored_but_never_acknowledged": len(unacknowledged_stored),
        "lost": len(lost),
        "duplicates": len(duplicates),
        "half_written": len(half_written),
        "server_500s_by_metrics": server_500,
        "db_unavailable_503s_by_metrics": unavailable,
        "unhandled_exceptions_logged": unhandled,
        "tracebacks_in_log": tracebacks_in_log,
        "readyz_statuses_during_outage": sorted(map(str, ready_during)),
        "pg_isready_after_start_s": round(ready_at - starting_at, 2),
        "readyz_200_after_start_s": round(ready_back - starting_at, 2) if ready_back else None,
        "first_success_after_start_s": round(first_201_after - starting_at, 2)
        if first_201_after
        else None,
        "requests_waiting_at_restart": len(recoveries),
        "all_waiting_requests_done_after_s": round(max(recoveries), 2) if recoveries else 0,
        "healthz_non_200": len(health_bad),
        "checks": checks,
    }

    print()
    print("timeline (responses per 2 s, by status or connection error):")
    print("\n".join(timeline(load, stopping_at, starting_at)))
    print()
    for name, value in results.items():
        if name != "checks":
            print(f"{name:34s} {value}")
    print()
    for name, passed in checks.items():
        print(f"  [{'ok' if passed else 'FAIL'}] {name}")
    for error in load.server_errors[:5]:
        print(f"  server error: {error}")
    print(f"saved {save('outage', results)}")
    if not all(checks.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
