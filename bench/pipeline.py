"""Pipeline benchmark: the batch import, a job's funnel, its ranked applications, and moves.

Run: ``.venv/bin/python -m bench.pipeline [--candidates 100000] [--seconds 5] [--rounds 3]``

On a scratch PostgreSQL database with N demo candidates, under gunicorn with 2 workers at the
service's defaults (INFO logging, metrics and audit on):

1. ten open jobs (tpm and tmp in turn) receive N applications through
   ``POST /v1/applications/batch`` (500 per request, 3 clients): applications/s;
2. the history is then filled in SQL, in bulk (this measures reads, not the moves themselves):
   each application moves up 0..4 stages, a third of them are rejected where they stand, which
   gives about 4 transitions per application;
3. at 16 concurrent clients (wrk), in ``--rounds`` rounds:
   - ``GET /v1/jobs/{id}/funnel`` of a job with N/10 applications: p99 latency, against the time
     of the funnel's own SQL run once directly on the database (in this process);
   - ``GET /v1/jobs/{id}/applications?limit=50`` against ``GET /v1/roles/tpm/matches?limit=50``;
   - ``POST /v1/applications/{id}/move`` (each a different application, with its transition and
     match snapshot) against ``PATCH /v1/candidates/{id}`` of a headline (each a different
     candidate), both with ``If-Match: *``;

and prints each figure with the targets of issue 11.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import text

from bench.common import (
    env_for,
    gunicorn,
    request,
    rolefit,
    save,
    scratch_database,
    wrk,
    wrk_figures,
)
from service.domain import funnel, funnel_counts
from service.domain import jobs as jobs_domain
from service.infra.database import Database
from service.models import Job

TARGETS = {"funnel_p99_ms": 50, "funnel_over_sql": 3.0, "job_page": 0.8, "move": 0.5}
JOBS = 10
BATCH = 500
MOVERS = 20_000


def import_applications(base: str, key: str, pairs: list[tuple[str, str]], clients: int) -> float:
    """Post ``pairs`` (candidate, job) in batches from ``clients`` threads; applications/s."""
    batches = [pairs[i : i + BATCH] for i in range(0, len(pairs), BATCH)]

    def post(batch: list[tuple[str, str]]) -> int:
        body = {"applications": [{"candidate_id": c, "job_id": j} for c, j in batch]}
        results = request("POST", f"{base}/v1/applications/batch", key, body)[2]["results"]
        return sum(1 for r in results if r["status"] == 201)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        created = sum(pool.map(post, batches))
    elapsed = time.perf_counter() - started
    if created != len(pairs):
        raise RuntimeError(f"{len(pairs) - created} applications were refused")
    return created / elapsed


FILL_HISTORY = """
WITH picked AS (
    SELECT a.id, a.job_id, a.applied_at,
           least(4, abs(hashtext(a.id::text)) % 7) AS moves,
           abs(hashtext(a.id::text || 'r')) % 3 = 0 AS rejected
    FROM applications a WHERE a.job_id = ANY(:jobs)
), moved AS (
    INSERT INTO transitions (id, application_id, job_id, seq, kind, from_stage_id, to_stage_id,
                             from_status, to_status, occurred_at, recorded_at)
    SELECT gen_random_uuid(), p.id, p.job_id, s.n + 1, 'moved', f.id, t.id, 'active', 'active',
           p.applied_at + s.n * interval '3 days', now()
    FROM picked p
    JOIN generate_series(1, 4) AS s(n) ON s.n <= p.moves
    JOIN job_stages f ON f.job_id = p.job_id AND f.position = s.n
    JOIN job_stages t ON t.job_id = p.job_id AND t.position = s.n + 1
    RETURNING 1
), rejected AS (
    INSERT INTO transitions (id, application_id, job_id, seq, kind, from_stage_id, to_stage_id,
                             from_status, to_status, reason, occurred_at, recorded_at)
    SELECT gen_random_uuid(), p.id, p.job_id, p.moves + 2, 'rejected', st.id, st.id, 'active',
           'rejected', 'weaker-than-others', p.applied_at + (p.moves + 1) * interval '3 days',
           now()
    FROM picked p JOIN job_stages st ON st.job_id = p.job_id AND st.position = p.moves + 1
    WHERE p.rejected
    RETURNING 1
)
UPDATE applications a
SET stage_id = st.id,
    status = CASE WHEN p.rejected THEN 'rejected' ELSE 'active' END,
    rejection_reason = CASE WHEN p.rejected THEN 'weaker-than-others' END,
    rejected_at = CASE WHEN p.rejected THEN p.applied_at + (p.moves + 1) * interval '3 days' END
FROM picked p JOIN job_stages st ON st.job_id = p.job_id AND st.position = p.moves + 1
WHERE a.id = p.id
"""


def lua_script(method: str, template: str, ids: list[str], body: str) -> str:
    """A wrk script (for one wrk thread) sending ``method`` to ``template`` with ``{id}``
    replaced by each of ``ids`` once, in order."""
    prefix, suffix = template.split("{id}")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(ids) + "\n")
    lines = [
        "local ids = {}",
        f'for line in io.lines("{listing.name}") do ids[#ids + 1] = line end',
        "local i = 0",
        f'wrk.method = "{method}"',
        f"wrk.body = {json.dumps(body)}",
        'wrk.headers["Content-Type"] = "application/json"',
        'wrk.headers["If-Match"] = "*"',
        "request = function()",
        "  i = i + 1",
        f'  return wrk.format(nil, "{prefix}" .. ids[i] .. "{suffix}")',
        "end",
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    return script.name


def p99_ms(url: str, key: str, seconds: int) -> float:
    """wrk's 99th percentile latency, in milliseconds, at 16 connections."""
    headers = {"Authorization": f"Bearer {key}"}
    return wrk_figures(url, seconds=seconds, connections=16, headers=headers)["p99_ms"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=3)
    args = parser.parse_args()

    with scratch_database("rolefit_bench_pipeline") as url:
        env = env_for(url)
        env["ROLEFIT_LOG_LEVEL"] = "INFO"  # the defaults a deployment runs
        rolefit(env, "db", "upgrade")
        rolefit(env, "demo", "--candidates", str(args.candidates))
        key = rolefit(env, "keys", "create", "--name", "bench", "--preset", "admin").split()[-1]
        database = Database(url, statement_timeout_ms=0)
        with database.engine.connect() as connection:
            candidates = [
                str(c) for (c,) in connection.execute(text("SELECT id FROM candidates ORDER BY id"))
            ]
        results: dict[str, Any] = {"candidates": len(candidates)}
        with gunicorn("service.wsgi:app", 8791, env) as base:
            jobs = [
                request(
                    "POST",
                    f"{base}/v1/jobs",
                    key,
                    {
                        "title": f"Bench job {i}",
                        "role": "tpm" if i % 2 == 0 else "tmp",
                        "status": "open",
                        "openings": 1000,
                    },
                )[2]
                for i in range(JOBS + 1)  # the last one is for the moves
            ]
            share = len(candidates) // JOBS
            pairs = [(candidates[i], jobs[i // share]["id"]) for i in range(share * JOBS)]
            rate = import_applications(base, key, pairs, args.clients)
            mover_count = min(MOVERS, len(candidates) // 2)
            movers = [(c, jobs[JOBS]["id"]) for c in candidates[:mover_count]]
            rate_movers = import_applications(base, key, movers, args.clients)
            results["batch_applications_per_s"] = round(statistics.median([rate, rate_movers]))
            print(f"batch import: {rate:,.0f} and {rate_movers:,.0f} applications/s (target 2,000)")

            with database.engine.begin() as connection:
                connection.execute(text(FILL_HISTORY), {"jobs": [j["id"] for j in jobs[:JOBS]]})
                connection.execute(text("ANALYZE applications; ANALYZE transitions"))
                transitions = connection.execute(text("SELECT count(*) FROM transitions")).scalar()
            with database.session() as session:  # the history was written in bulk: count it
                for filled in jobs[:JOBS]:
                    funnel_counts.recount(session, uuid.UUID(filled["id"]))
                session.commit()
            results["transitions"] = transitions
            print(f"history: {transitions:,} transitions for {len(pairs):,} applications")

            funnel_job = jobs[0]["id"]
            with database.session() as session:
                job = session.get(Job, uuid.UUID(funnel_job))
                assert job is not None
                stages = jobs_domain.current_stages(job)
                # The funnel's SQL, run once each in this process after a warm-up: the counts'
                # statements (what a read makes when the job's count stamp is new), and the
                # computation from the applications and transitions (window functions).
                funnel._read_counts(session, job, stages)
                started = time.perf_counter()
                funnel._read_counts(session, job, stages)
                sql_ms = (time.perf_counter() - started) * 1000
                funnel.scanned_funnel(session, job)
                started = time.perf_counter()
                funnel.scanned_funnel(session, job)
                scanned_ms = (time.perf_counter() - started) * 1000
            headers = {"Authorization": f"Bearer {key}"}
            stage = request("GET", f"{base}/v1/jobs/{jobs[JOBS]['id']}", key)[2]["stages"]
            move_body = json.dumps({"from_stage": stage[0]["id"], "to_stage": stage[1]["id"]})
            with database.engine.connect() as connection:
                move_ids = [
                    str(a)
                    for (a,) in connection.execute(
                        text("SELECT id FROM applications WHERE job_id = :job ORDER BY id"),
                        {"job": jobs[JOBS]["id"]},
                    )
                ]
            rounds: dict[str, list[float]] = {k: [] for k in ("p99", "page", "ranking", "move")}
            rounds["patch"] = []
            per_round = len(move_ids) // args.rounds
            for r in range(args.rounds):
                rounds["p99"].append(
                    p99_ms(f"{base}/v1/jobs/{funnel_job}/funnel", key, args.seconds)
                )
                rounds["page"].append(
                    wrk(
                        f"{base}/v1/jobs/{funnel_job}/applications?limit=50",
                        seconds=args.seconds,
                        connections=16,
                        headers=headers,
                    )
                )
                rounds["ranking"].append(
                    wrk(
                        f"{base}/v1/roles/tpm/matches?limit=50",
                        seconds=args.seconds,
                        connections=16,
                        headers=headers,
                    )
                )
                chunk = move_ids[r * per_round : (r + 1) * per_round]
                script = lua_script("POST", "/v1/applications/{id}/move", chunk, move_body)
                rounds["move"].append(
                    wrk(
                        base,
                        seconds=args.seconds,
                        connections=16,
                        threads=1,
                        headers=headers,
                        script=script,
                    )
                )
                # Other candidates than the movers': a PATCH does not wait on a move's row.
                people = candidates[-(r + 1) * per_round :][:per_round]
                script = lua_script("PATCH", "/v1/candidates/{id}", people, '{"headline": "x"}')
                rounds["patch"].append(
                    wrk(
                        base,
                        seconds=args.seconds,
                        connections=16,
                        threads=1,
                        headers=headers,
                        script=script,
                    )
                )
        p99 = statistics.median(rounds["p99"])
        page = statistics.median(
            a / b for a, b in zip(rounds["page"], rounds["ranking"], strict=True)
        )
        move = statistics.median(
            a / b for a, b in zip(rounds["move"], rounds["patch"], strict=True)
        )
        results |= {
            "funnel_p99_ms": round(p99, 1),
            "funnel_sql_ms": round(sql_ms, 1),
            "funnel_over_sql": round(p99 / sql_ms, 2),
            "funnel_scanned_sql_ms": round(scanned_ms, 1),
            "funnel_over_scanned_sql": round(p99 / scanned_ms, 2),
            "job_page_req_s": round(statistics.median(rounds["page"])),
            "ranking_req_s": round(statistics.median(rounds["ranking"])),
            "job_page_ratio": round(page, 3),
            "move_req_s": round(statistics.median(rounds["move"])),
            "patch_req_s": round(statistics.median(rounds["patch"])),
            "move_ratio": round(move, 3),
            "rounds": rounds,
        }
        print(
            f"funnel of {share:,} applications: p99 {p99:.1f} ms (target 50); its SQL from the"
            f" counts {sql_ms:.1f} ms (ratio {p99 / sql_ms:.2f}), from the transitions"
            f" {scanned_ms:.1f} ms (ratio {p99 / scanned_ms:.2f}; target 3)"
        )
        print(
            f"job applications page: {results['job_page_req_s']:,} req/s, ratio {page:.3f} of the"
            f" role ranking ({results['ranking_req_s']:,} req/s; target 0.8)"
        )
        print(
            f"move: {results['move_req_s']:,} req/s, ratio {move:.3f} of a headline PATCH"
            f" ({results['patch_req_s']:,} req/s; target 0.5)"
        )
        database.dispose()
    print(f"saved {save('pipeline', results)}")


if __name__ == "__main__":
    main()
