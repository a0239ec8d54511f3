"""Matching benchmark: read and scoring endpoints against a hello-world baseline, and rescoring.

Run: ``.venv/bin/python -m bench.matching [--candidates 100000] [--seconds 10]``

On a scratch PostgreSQL database with N demo candidates, under gunicorn with 2 workers (the
project's gunicorn.conf.py for both apps), wrk measures requests per second of:

- the baseline: a hello-world Flask app (bench/hello.py);
- GET /v1/candidates/{id}/matches, GET /v1/roles/tpm/matches?limit=50, POST /v1/match;

in ``--rounds`` rounds, each endpoint measured between two baseline runs, and prints the median
ratio to the baseline with the targets of issue 4. It then times a role change
(PUT /v1/roles/tpm), which rescores every candidate before it returns.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.common import (
    env_for,
    gunicorn,
    post_script,
    psql_db,
    request,
    rolefit,
    save,
    scratch_database,
    wrk,
)

TARGETS = {"candidate_matches": 0.30, "role_ranking": 0.25, "inline_match": 0.40}
INLINE_PROFILE = {
    "competencies": [
        {
            "competency": "technical-depth",
            "level": 4,
            "evidence": "interview",
            "last_used": "2025-03",
        },
        {"competency": "engineering-collaboration", "level": 4, "evidence": "reference"},
        {"competency": "technical-requirements", "level": 3, "evidence": "work-sample"},
        {"competency": "project-lifecycle", "level": 5, "evidence": "assessment"},
        {"competency": "stakeholder-communication", "level": 3, "evidence": "self"},
        {"competency": "program management", "level": 3, "evidence": "interview"},
        {
            "competency": "strategic planning",
            "level": 2,
            "evidence": "self",
            "last_used": "2019-05",
        },
        {"competency": "business-acumen", "level": 2, "evidence": "reference"},
    ]
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict = {"candidates": args.candidates, "seconds": args.seconds}

    with scratch_database("rolefit_bench_matching") as url:
        env = env_for(url)
        rolefit(env, "db", "upgrade")
        started = time.perf_counter()
        rolefit(env, "demo", "--candidates", str(args.candidates))
        results["demo_load_seconds"] = round(time.perf_counter() - started, 1)
        key = rolefit(env, "keys", "create", "--name", "bench", "--preset", "admin").split()[-1]
        auth = {"Authorization": f"Bearer {key}"}
        load = {"seconds": args.seconds, "connections": args.connections}

        # autovacuum is off on this workplace's PostgreSQL; a production server would have
        # vacuumed and analysed after a load this size, so the benchmark does it too.
        psql_db(url, "VACUUM ANALYZE")
        with (
            gunicorn("bench.hello:app", 18001, env) as hello,
            gunicorn("service.wsgi:app", 18002, env) as base,
        ):
            _, _, page = request("GET", f"{base}/v1/roles/tpm/matches?limit=1", key)
            candidate = page["data"][0]["candidate"]["id"]
            endpoints = {
                "candidate_matches": (f"{base}/v1/candidates/{candidate}/matches", None),
                "role_ranking": (f"{base}/v1/roles/tpm/matches?limit=50", None),
                "inline_match": (
                    f"{base}/v1/match",
                    post_script(INLINE_PROFILE, {**auth, "Content-Type": "application/json"}),
                ),
            }
            # Rounds that interleave the baseline with each endpoint: the ratio of a round uses
            # the baseline measured right before and after it, and the median round is kept.
            ratios: dict[str, list[float]] = {name: [] for name in endpoints}
            rates: dict[str, list[float]] = {name: [] for name in endpoints}
            baselines: list[float] = []
            for _round in range(args.rounds):
                for name, (target, script) in endpoints.items():
                    before = wrk(f"{hello}/hello", **load)
                    rate = wrk(target, headers=auth, script=script, **load)
                    after = wrk(f"{hello}/hello", **load)
                    baselines += [before, after]
                    rates[name].append(rate)
                    ratios[name].append(rate / ((before + after) / 2))
            status, headers, role = request("GET", f"{base}/v1/roles/tpm", key)
            body = {k: role[k] for k in ("title", "summary", "focus", "responsibilities")}
            body["responsibilities"][0]["importance"] = 4
            started = time.perf_counter()
            status, _, updated = request(
                "PUT", f"{base}/v1/roles/tpm", key, body, If_Match=headers["ETag"]
            )
            results["role_change_rescore_seconds"] = round(time.perf_counter() - started, 2)
            assert status == 200
            assert updated["version"] == 2
            _, _, check = request("GET", f"{base}/v1/roles/tpm/matches?limit=1", key)
            assert check["data"][0]["role_version"] == 2

    results["baseline_rps"] = [round(b) for b in baselines]
    results["endpoints"] = {
        name: {
            "rps": [round(r) for r in rates[name]],
            "ratios": [round(r, 3) for r in ratios[name]],
            "ratio": round(statistics.median(ratios[name]), 3),
            "target": TARGETS[name],
        }
        for name in endpoints
    }
    print(f"baseline hello-world: {min(baselines):.0f}..{max(baselines):.0f} req/s")
    for name, row in results["endpoints"].items():
        verdict = "ok" if row["ratio"] >= row["target"] else "BELOW TARGET"
        print(
            f"{name:18s} {statistics.median(row['rps']):8.0f} req/s  median ratio "
            f"{row['ratio']:.3f} of {row['ratios']} (target {row['target']:.2f}) {verdict}"
        )
    print(f"demo load of {args.candidates}: {results['demo_load_seconds']} s")
    print(
        f"role change + rescore of {args.candidates}: {results['role_change_rescore_seconds']} s "
        "(target 5 s)"
    )
    print(f"saved {save('matching', results)}")


if __name__ == "__main__":
    main()
