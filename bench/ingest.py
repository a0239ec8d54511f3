"""Ingest benchmark: candidates per second through POST /v1/candidates/batch.

Run: ``.venv/bin/python -m bench.ingest [--candidates 30000] [--clients 3]``

On a scratch PostgreSQL database, under gunicorn with 2 workers, it posts batches of 500
candidates with 12 competency records each (two competencies are added to the built-in ten so
that 12 distinct records exist), from ``--clients`` concurrent connections. Payloads are built
before the clock starts, so the client's own JSON work is not measured. The baseline, measured
in the same run against the same server, is the same candidates posted one by one to
POST /v1/candidates. Target (issue 3): at least 3,000 candidates per second.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import threading
import time

from bench.common import env_for, gunicorn, rolefit, save, scratch_database

EXTRA = [
    {"key": "vendor-management", "name": "Vendor management", "category": "business"},
    {"key": "risk-management", "name": "Risk management", "category": "delivery"},
]
COMPETENCIES = [
    "technical-depth",
    "engineering-collaboration",
    "technical-requirements",
    "project-lifecycle",
    "stakeholder-communication",
    "program-oversight",
    "cross-functional-engagement",
    "strategic-alignment",
    "business-acumen",
    "change-management",
    "vendor-management",
    "risk-management",
]
EVIDENCE = ["self", "reference", "interview", "work-sample", "assessment"]


def candidate(rng: random.Random, run: str, index: int) -> dict:
    return {
        "external_id": f"{run}-{index}",
        "source": "bench",
        "name": f"Candidate {index}",
        "email": f"c{index}@example.com",
        "headline": "Program manager",
        "years_experience": round(rng.uniform(1, 20), 1),
        "competencies": [
            {
                "competency": key,
                "level": rng.randint(0, 5),
                "years": round(rng.uniform(0, 10), 1),
                "last_used": f"{rng.randint(2015, 2026)}-{rng.randint(1, 12):02d}",
                "evidence": rng.choice(EVIDENCE),
            }
            for key in COMPETENCIES
        ],
    }


def post_all(port: int, path: str, bodies: list[bytes], key: str, clients: int) -> float:
    """Post every body, ``clients`` connections at a time; returns elapsed seconds."""
    queue = list(reversed(bodies))
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            connection.request(
                "POST",
                path,
                body=body,
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            response = connection.getresponse()
            payload = response.read()
            connection.close()
            if response.status not in (200, 201):
                errors.append(f"{response.status} {payload[:300]!r}")
            elif path.endswith("batch"):
                statuses = {r["status"] for r in json.loads(payload)["results"]}
                if statuses != {201}:
                    errors.append(f"batch item statuses {statuses}")

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidates", type=int, default=30_000)
    parser.add_argument("--single", type=int, default=1_500, help="baseline: one-by-one posts")
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    rng = random.Random(42)

    with scratch_database("rolefit_bench_ingest") as url:
        env = env_for(url)
        rolefit(env, "db", "upgrade")
        key = rolefit(env, "keys", "create", "--name", "bench", "--preset", "admin").split()[-1]
        with gunicorn("service.wsgi:app", 18003, env) as base:
            port = int(base.rsplit(":", 1)[1])
            for extra in EXTRA:
                post_all(port, "/v1/competencies", [json.dumps(extra).encode()], key, 1)
            people = [candidate(rng, "batch", i) for i in range(args.candidates)]
            batches = [
                json.dumps({"candidates": people[i : i + args.batch]}).encode()
                for i in range(0, len(people), args.batch)
            ]
            singles = [json.dumps(candidate(rng, "single", i)).encode() for i in range(args.single)]
            single_seconds = post_all(port, "/v1/candidates", singles, key, args.clients)
            batch_seconds = post_all(port, "/v1/candidates/batch", batches, key, args.clients)

    batch_rate = args.candidates / batch_seconds
    single_rate = args.single / single_seconds
    results = {
        "candidates": args.candidates,
        "records_per_candidate": len(COMPETENCIES),
        "batch_size": args.batch,
        "clients": args.clients,
        "batch_candidates_per_second": round(batch_rate),
        "single_post_candidates_per_second": round(single_rate),
        "ratio_batch_to_single": round(batch_rate / single_rate, 2),
        "target_candidates_per_second": 3000,
    }
    print(f"batch:  {batch_rate:8.0f} candidates/s ({args.candidates} in {batch_seconds:.1f} s)")
    print(f"single: {single_rate:8.0f} candidates/s (baseline, {args.single} one by one)")
    print(
        f"ratio {batch_rate / single_rate:.1f}x; target 3000/s: "
        f"{'ok' if batch_rate >= 3000 else 'BELOW TARGET'}"
    )
    print(f"saved {save('ingest', results)}")


if __name__ == "__main__":
    main()
