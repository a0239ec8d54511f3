"""Matching benchmark: read and scoring endpoints against a hello-world baseline, and rescoring.

Run: ``.venv/bin/python -m bench.matching [--candidates 100000] [--seconds 10] [--pgbouncer]``

On a scratch PostgreSQL database with N demo candidates, under gunicorn with 2 workers (the
project's gunicorn.conf.py for both apps), wrk measures requests per second of:

- the baseline: a hello-world Flask app (bench/hello.py);
- the one-query reference: a bare Flask view doing one indexed SELECT of a candidate by id, no
  auth, no audit, no metrics (bench/one_query.py), the floor of any read of the database;
- GET /v1/candidates/{id}/matches, GET /v1/roles/tpm/matches?limit=50, POST /v1/match;

in ``--rounds`` rounds, each endpoint measured between two runs of each reference, and prints
the median ratios to hello-world (targets of issue 4) and to the one-query reference (target of
issue 15: 0.60). rolefit runs at the settings a deployment runs (``--log-level INFO``: one
access-log line a request; metrics and the audit trail on); the references log nothing. It then
times a role change (PUT /v1/roles/tpm), which rescores every candidate before it returns.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
import urllib.error

from bench.common import (
    env_for,
    gunicorn,
    pgbouncer,
    post_script,
    psql_db,
    request,
    rolefit,
    save,
    scratch_database,
    wrk,
)

TARGETS = {"candidate_matches": 0.30, "role_ranking": 0.25, "inline_match": 0.40}
ONE_QUERY_TARGET = 0.60
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
    parser.add_argument(
        "--log-level", default="INFO", help="rolefit's ROLEFIT_LOG_LEVEL (default: INFO)"
    )
    parser.add_argument(
        "--pgbouncer",
        action="store_true",
        help="serve every app through PgBouncer in transaction mode (rolefit's key cache and "
        "CLI straight to PostgreSQL, ROLEFIT_DATABASE_DIRECT_URL)",
    )
    args = parser.parse_args()
    results: dict = {"candidates": args.candidates, "seconds": args.seconds}

    with scratch_database("rolefit_bench_matching") as url, contextlib.ExitStack() as stack:
        env = env_for(url)
        if args.pgbouncer:
            pooled = stack.enter_context(pgbouncer(url, pool_size=20))
            env = env_for(
                pooled, ROLEFIT_DATABASE_DIRECT_URL=url, ROLEFIT_DATABASE_TRANSACTION_POOLER="1"
            )
        results["pgbouncer"] = args.pgbouncer
        rolefit_env = dict(env, ROLEFIT_LOG_LEVEL=args.log_level)
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
            gunicorn("bench.one_query:app", 18003, env) as one_query,
            gunicorn("service.wsgi:app", 18002, rolefit_env) as base,
        ):
            _, _, page = request("GET", f"{base}/v1/roles/tpm/matches?limit=1", key)
            candidate = page["data"][0]["candidate"]["id"]
            reference = f"{one_query}/candidates/{candidate}"
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
            query_ratios: dict[str, list[float]] = {name: [] for name in endpoints}
            rates: dict[str, list[float]] = {name: [] for name in endpoints}
            baselines: list[float] = []
            references: list[float] = []
            for _round in range(args.rounds):
                for name, (target, script) in endpoints.items():
                    before = wrk(f"{hello}/hello", **load)
                    query_before = wrk(reference, **load)
                    rate = wrk(target, headers=auth, script=script, **load)
                    query_after = wrk(reference, **load)
                    after = wrk(f"{hello}/hello", **load)
                    baselines += [before, after]
                    references += [query_before, query_after]
                    rates[name].append(rate)
                    ratios[name].append(rate / ((before + after) / 2))
                    query_ratios[name].append(rate / ((query_before + query_after) / 2))
            status, headers, role = request("GET", f"{base}/v1/roles/tpm", key)
            body = {k: role[k] for k in ("title", "summary", "focus", "responsibilities")}
            body["responsibilities"][0]["importance"] = 4
            started = time.perf_counter()
            try:
                status, _, updated = request(
                    "PUT", f"{base}/v1/roles/tpm", key, body, If_Match=headers["ETag"]
                )
            except urllib.error.HTTPError as error:  # reported with the figures, not lost
                status, updated = error.code, None
            results["role_change_rescore_seconds"] = round(time.perf_counter() - started, 2)
            results["role_change_status"] = status
            if status == 200:
                assert updated["version"] == 2
                _, _, check = request("GET", f"{base}/v1/roles/tpm/matches?limit=1", key)
                assert check["data"][0]["role_version"] == 2

    results["log_level"] = args.log_level
    results["baseline_rps"] = [round(b) for b in baselines]
    results["one_query_rps"] = [round(r) for r in references]
    results["endpoints"] = {
        name: {
            "rps": [round(r) for r in rates[name]],
            "ratios": [round(r, 3) for r in ratios[name]],
            "ratio": round(statistics.median(ratios[name]), 3),
            "target": TARGETS[name],
            "one_query_ratios": [round(r, 3) for r in query_ratios[name]],
            "one_query_ratio": round(statistics.median(query_ratios[name]), 3),
            "one_query_target": ONE_QUERY_TARGET,
        }
        for name in endpoints
    }
    print(f"baseline hello-world: {min(baselines):.0f}..{max(baselines):.0f} req/s")
    print(f"one-query reference: {min(references):.0f}..{max(references):.0f} req/s")
    print(
        f"rolefit at ROLEFIT_LOG_LEVEL={args.log_level}"
        + (", every app through PgBouncer (transaction mode)" if args.pgbouncer else "")
    )
    for name, row in results["endpoints"].items():
        verdict = "ok" if row["ratio"] >= row["target"] else "BELOW TARGET"
        query_verdict = "ok" if row["one_query_ratio"] >= ONE_QUERY_TARGET else "BELOW TARGET"
        print(
            f"{name:18s} {statistics.median(row['rps']):8.0f} req/s  median ratio "
            f"{row['ratio']:.3f} of {row['ratios']} (target {row['target']:.2f}) {verdict}; "
            f"to one query {row['one_query_ratio']:.3f} of {row['one_query_ratios']} "
            f"(target {ONE_QUERY_TARGET:.2f}) {query_verdict}"
        )
    print(f"demo load of {args.candidates}: {results['demo_load_seconds']} s")
    print(
        f"role change + rescore of {args.candidates}: {results['role_change_rescore_seconds']} s, "
        f"status {results['role_change_status']} (target 5 s)"
    )
    print(f"saved {save('matching', results)}")


if __name__ == "__main__":
    main()
