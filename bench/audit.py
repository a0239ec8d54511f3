"""bench.audit: a role bias audit over 100,000 candidates, 80 % of them self-identified.

On a scratch PostgreSQL database: ``rolefit demo`` candidates (scored through the batch path),
self-identification written in SQL for 80 % of them (answers spread over every category,
declined included), then ``POST /v1/bias-audits`` for ``tpm`` under gunicorn (one worker), a
few rounds. Figures, each against what the same run measures:

- the audit's time, client side (target: at most 1 s), and its ratio to one
  ``percentile_cont(0.5)`` median query over the role's stored scores run directly on the
  database (the floor for anything that needs the population's median; target: at most 4x);
- the worker's resident memory during the audits against its idle size after a warm-up
  request (target: within 50 MB), sampled every 5 ms from /proc.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, select, text

from bench.common import env_for, gunicorn, request, rolefit, save, scratch_database
from service.domain import bias_audits
from service.infra.database import Database
from service.models import Role

SELF_IDENTIFY = """
INSERT INTO self_identifications (candidate_id, sex, race_ethnicity, updated_at)
SELECT id,
       (ARRAY['male', 'female', 'declined'])[1 + abs(hashtext(id::text || 's')) % 3],
       (ARRAY['hispanic-or-latino', 'white', 'black-or-african-american',
              'native-hawaiian-or-other-pacific-islander', 'asian',
              'american-indian-or-alaska-native', 'two-or-more-races', 'declined'])
           [1 + abs(hashtext(id::text || 'r')) % 8],
       now()
FROM candidates
WHERE abs(hashtext(id::text)) % 10 < 8
"""
MEDIAN = (
    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY score_hundredths) FROM matches"
    " WHERE role_id = (SELECT id FROM roles WHERE key = 'tpm')"
)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def worker_pid(port: int) -> int:
    """The gunicorn worker serving ``port``: of the processes started with that bind, the one
    whose parent is one of them (the master)."""
    served: dict[int, int] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if f"ROLEFIT_BIND=127.0.0.1:{port}".encode() in environ:
            served[int(proc.name)] = parent
    workers = [pid for pid, parent in served.items() if parent in served]
    if len(workers) != 1:
        raise RuntimeError(f"expected one gunicorn worker on port {port}, found {workers}")
    return workers[0]


def _explain(session: Any, role: Role, wanted: bias_audits.AuditRequest) -> None:
    """EXPLAIN ANALYZE of the audit's statements, as the driver receives them."""
    captured: list[tuple[str, Any]] = []
    engine = session.get_bind()

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        bias_audits.aggregate(session, bias_audits._role_population(role, wanted), versions=False)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    for statement, parameters in captured:
        plan = session.connection().exec_driver_sql(
            f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters
        )
        print("\n".join(row[0] for row in plan), end="\n\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--explain", action="store_true", help="print EXPLAIN ANALYZE of the audit's statements"
    )
    args = parser.parse_args()

    with scratch_database("rolefit_bench_audit") as url:
        env = env_for(url)
        rolefit(env, "db", "upgrade")
        rolefit(env, "demo", "--candidates", str(args.candidates))
        key = rolefit(env, "keys", "create", "--name", "bench", "--preset", "admin").split()[-1]
        database = Database(url, statement_timeout_ms=0)
        with database.engine.begin() as connection:
            # rolefit demo answered for its people: the benchmark's own spread replaces that.
            connection.execute(text("DELETE FROM self_identifications"))
            connection.execute(text(SELF_IDENTIFY))
            connection.execute(text("ANALYZE"))
            identified = connection.execute(
                text("SELECT count(*) FROM self_identifications")
            ).scalar()
            population = connection.execute(
                text(
                    "SELECT count(*) FROM matches m JOIN roles r ON r.id = m.role_id"
                    " WHERE r.key = 'tpm'"
                )
            ).scalar()
        results: dict[str, Any] = {"population": population, "self_identified": identified}
        print(f"population {population:,}, self-identified {identified:,}")

        port = 8793
        body = {"role": "tpm", "selection": "must-haves-met"}
        with gunicorn("service.wsgi:app", port, env, workers=1) as base:
            pid = worker_pid(port)
            request("POST", f"{base}/v1/bias-audits", key, body)  # warm-up: imports, caches
            idle = rss_kb(pid)
            peak = [idle]
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak[0] = max(peak[0], rss_kb(pid))
                    time.sleep(0.005)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            audit_s, median_s = [], []
            for _ in range(args.rounds):
                started = time.perf_counter()
                status, _, report = request("POST", f"{base}/v1/bias-audits", key, body)
                audit_s.append(time.perf_counter() - started)
                assert status == 201 and report["population"] == population
                with database.engine.connect() as connection:
                    started = time.perf_counter()
                    connection.execute(text(MEDIAN)).scalar()
                    median_s.append(time.perf_counter() - started)
            done.set()
            sampler.join()

        # Where the time goes: the two statements of the audit, run in process.
        sql_s = []
        with database.session() as session:
            role = session.scalars(select(Role).where(Role.key == "tpm")).one()
            wanted = bias_audits.AuditRequest("tpm", None, "must-haves-met")
            for _ in range(args.rounds):
                started = time.perf_counter()
                population = bias_audits._role_population(role, wanted)
                bias_audits.aggregate(session, population, versions=False)
                sql_s.append(time.perf_counter() - started)
            if args.explain:
                _explain(session, role, wanted)

        audit, median = statistics.median(audit_s), statistics.median(median_s)
        sql = statistics.median(sql_s)
        results.update(
            audit_sql_s=round(sql, 3),
            audit_s=round(audit, 3),
            median_query_s=round(median, 3),
            ratio=round(audit / median, 2),
            worker_idle_mb=round(idle / 1024, 1),
            worker_peak_mb=round(peak[0] / 1024, 1),
            worker_growth_mb=round((peak[0] - idle) / 1024, 1),
        )
        print(
            f"role audit: {audit * 1000:.0f} ms (target 1,000); median query "
            f"{median * 1000:.0f} ms; ratio {audit / median:.2f} (target 4); of the audit, its "
            f"two SQL statements {sql * 1000:.0f} ms"
        )
        print(
            f"worker memory: idle {idle / 1024:.1f} MB, peak {peak[0] / 1024:.1f} MB, "
            f"growth {(peak[0] - idle) / 1024:.1f} MB (target 50)"
        )
        print(f"saved {save('audit', results)}")


if __name__ == "__main__":
    main()
