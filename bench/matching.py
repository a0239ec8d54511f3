"""Matching benchmark: read and scoring endpoints against a hello-world baseline, and rescoring.

Run: ``.venv/bin/python -m bench.matching [--candidates 100000] [--seconds 10]``

On a scratch PostgreSQL database with N demo candidates, under gunicorn with 2 workers (the
project's gunicorn.conf.py for both apps), wrk measures requests per second of:

- the baseline: a hello-world Flask app (bench/hello.py), measured before and after;
- GET /v1/candidates/{id}/matches, GET /v1/roles/tpm/matches?limit=50, POST /v1/match;

and prints each as a ratio to the baseline, with the targets of issue 4. It then times a role
change (PUT /v1/roles/tpm), which rescores every candidate before it returns.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request

from bench.common import env_for, gunicorn, post_script, rolefit, save, scratch_database, wrk

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


def request(method: str, url: str, key: str, body: dict | None = None, **headers: str) -> tuple:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    req.add_header("Content-Type", "application/json")
    for name, value in headers.items():
        req.add_header(name.replace("_", "-"), value)
    with urllib.request.urlopen(req, timeout=120) as response:
        return response.status, dict(response.headers), json.loads(response.read() or b"null")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
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

        with gunicorn("bench.hello:app", 18001, env) as hello:
            baseline_before = wrk(f"{hello}/hello", **load)
        with gunicorn("service.wsgi:app", 18002, env) as base:
            _, _, page = request("GET", f"{base}/v1/roles/tpm/matches?limit=1", key)
            candidate = page["data"][0]["candidate"]["id"]
            rates = {
                "candidate_matches": wrk(
                    f"{base}/v1/candidates/{candidate}/matches", headers=auth, **load
                ),
                "role_ranking": wrk(f"{base}/v1/roles/tpm/matches?limit=50", headers=auth, **load),
                "inline_match": wrk(
                    f"{base}/v1/match",
                    script=post_script(
                        INLINE_PROFILE, {**auth, "Content-Type": "application/json"}
                    ),
                    **load,
                ),
            }
            status, headers, role = request("GET", f"{base}/v1/roles/tpm", key)
            body = {k: role[k] for k in ("title", "summary", "focus", "responsibilities")}
            body["responsibilities"][0]["importance"] = 4
            started = time.perf_counter()
            status, _, updated = request(
                "PUT", f"{base}/v1/roles/tpm", key, body, If_Match=headers["ETag"]
            )
            results["role_change_rescore_seconds"] = round(time.perf_counter() - started, 2)
            assert status == 200 and updated["version"] == 2
            _, _, check = request("GET", f"{base}/v1/roles/tpm/matches?limit=1", key)
            assert check["data"][0]["role_version"] == 2
        with gunicorn("bench.hello:app", 18001, env) as hello:
            baseline_after = wrk(f"{hello}/hello", **load)

    baseline = (baseline_before + baseline_after) / 2
    results["baseline_rps"] = {"before": baseline_before, "after": baseline_after}
    results["endpoints"] = {
        name: {"rps": rate, "ratio": round(rate / baseline, 3), "target": TARGETS[name]}
        for name, rate in rates.items()
    }
    print(f"baseline hello-world: {baseline_before:.0f} / {baseline_after:.0f} req/s")
    for name, row in results["endpoints"].items():
        verdict = "ok" if row["ratio"] >= row["target"] else "BELOW TARGET"
        print(
            f"{name:18s} {row['rps']:8.0f} req/s  ratio {row['ratio']:.3f} "
            f"(target {row['target']:.2f}) {verdict}"
        )
    print(f"demo load of {args.candidates}: {results['demo_load_seconds']} s")
    print(
        f"role change + rescore of {args.candidates}: {results['role_change_rescore_seconds']} s "
        "(target 5 s)"
    )
    print(f"saved {save('matching', results)}")


if __name__ == "__main__":
    main()
