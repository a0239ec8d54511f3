"""Hostile-traffic drill: slow clients and a bad-key flood, through nginx and straight at gunicorn.

Run: ``.venv/bin/python -m bench.hostile [--slow 500] [--seconds 15] [--flood-rate 2000]``
(needs nginx, wrk and the local PostgreSQL; about 90 s).

On a scratch database with 200 demo candidates, ``rolefit``'s gunicorn (the project's
gunicorn.conf.py, 2 sync workers) behind deploy/nginx.conf (rendered on free ports, nginx run
unprivileged, its production timeouts of 10 s). A *normal client* reads a role's ranking
(``GET /v1/roles/<key>/matches?limit=20``) from 127.0.0.2, one request after another at most
100 a second, each with a 5 s timeout; its p50/p99 and failures are measured:

1. through nginx, without and then with ``--slow`` connections (from 127.0.0.1) that each send
   half a request header and then one byte a second, reopened whenever nginx closes them. It
   checks that the p99 under attack is at most 2x the p99 without, and that no request failed;
2. the same, straight at gunicorn, printed and not asserted: this is what the README warns
   about (sync workers must never face clients);
3. a flood of bad (well-formed, unknown) keys from 127.0.0.1 through nginx, paced by wrk at
   ``--flood-rate`` requests/s: the first second on its own (how soon 429s come), then the rest,
   with the answers split into the app's 401s, the app's 429s (refused before the key lookup) and
   nginx's own 429s (its per-address request rate), the key lookups PostgreSQL saw on the
   api_keys prefix index (``pg_stat_user_indexes``) against the limit, and the normal client's
   p99 from 127.0.0.2 during the flood.

Exit status 1 when a check fails; figures are printed and saved under bench/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator

import psycopg

from bench.common import env_for, gunicorn, request, rolefit, save, scratch_database
from tests.hostile import nginx

PORT = 18011
GOOD_SOURCE = "127.0.0.2"
HALF_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: slow.example\r\nX-Slow: "
FAILURE_LIMIT = 30  # the app's default ROLEFIT_AUTH_FAILURE_LIMIT, per 60 s


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class NormalClient:
    """Reads of one ranking from GOOD_SOURCE, one after another, for ``seconds``."""

    def __init__(self, host: str, port: int, path: str, key: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.headers = {"Authorization": f"Bearer {key}"}

    def run(self, seconds: float, rate: float = 100) -> dict:
        """At most ``rate`` requests a second (a dashboard, not a load generator: nginx allows
        one address 200 a second)."""
        latencies: list[float] = []
        failures: dict[str, int] = {}
        connection = self._connect()
        deadline = time.monotonic() + seconds
        next_at = time.monotonic()
        while time.monotonic() < deadline:
            next_at += 1 / rate
            time.sleep(max(0.0, next_at - time.monotonic()))
            started = time.perf_counter()
            try:
                connection.request("GET", self.path, headers=self.headers)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    failures[str(response.status)] = failures.get(str(response.status), 0) + 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
            except (OSError, http.client.HTTPException) as error:
                name = type(error).__name__
                failures[name] = failures.get(name, 0) + 1
                connection.close()
                connection = self._connect()
        connection.close()
        return {
            "requests": len(latencies) + sum(failures.values()),
            "failed": failures,
            "p50_ms": round(percentile(latencies, 0.50), 2),
            "p99_ms": round(percentile(latencies, 0.99), 2),
        }

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(
            self.host, self.port, timeout=5, source_address=(GOOD_SOURCE, 0)
        )


class SlowClients:
    """``count`` connections trickling a request header one byte a second (reopened when the
    server closes one), from one thread."""

    def __init__(self, port: int, count: int) -> None:
        self.port, self.count = port, count
        self.sockets: list[socket.socket | None] = [None] * count
        self.reopened = 0
        self.refused = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self) -> socket.socket | None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
            sock.sendall(HALF_REQUEST)
            sock.setblocking(False)
            return sock
        except OSError:
            self.refused += 1
            return None

    def _run(self) -> None:
        for index in range(self.count):
            if self.stop.is_set():
                return
            self.sockets[index] = self._open()
        while not self.stop.wait(1.0):
            for index, sock in enumerate(self.sockets):
                try:
                    if sock is None:
                        raise OSError("closed")
                    sock.send(b"a")
                except OSError:
                    if sock is not None:
                        sock.close()
                    self.reopened += 1
                    self.sockets[index] = self._open()

    def __enter__(self) -> SlowClients:
        self.thread.start()
        time.sleep(2.0)  # all of them connected and trickling before the measurement starts
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        for sock in self.sockets:
            if sock is not None:
                sock.close()

    def alive(self) -> int:
        return sum(1 for sock in self.sockets if sock is not None)


FLOOD_SCRIPT = r"""
-- Bad keys: well-formed (rf_ + 12 hex + _ + secret), unknown, so each costs the app a lookup
-- unless it is refused first. Paced by delay() to the rate asked for.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  pause = tonumber(args[1])
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
  n401, n429app, n429nginx, nother = 0, 0, 0, 0
end
function delay() return pause end
local function hex(n)
  local s = {}
  for i = 1, n do s[i] = string.format("%x", math.random(0, 15)) end
  return table.concat(s)
end
function request()
  local key = "rf_" .. hex(12) .. "_" .. hex(32)
  return wrk.format("GET", "/v1/roles", {["Authorization"] = "Bearer " .. key})
end
function response(status, headers, body)
  if status == 401 then n401 = n401 + 1
  elseif status == 429 and string.find(body, "failed authentications", 1, true) then
    n429app = n429app + 1
  elseif status == 429 then n429nginx = n429nginx + 1
  else nother = nother + 1 end
end
function done(summary, latency, requests)
  local t = {n401 = 0, n429app = 0, n429nginx = 0, nother = 0}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(t) do t[name] = t[name] + thread:get(name) end
  end
  io.write(string.format('FLOOD {"401": %d, "429_app": %d, "429_nginx": %d, "other": %d, ' ..
    '"requests": %d, "errors": %d}\n', t.n401, t.n429app, t.n429nginx, t.nother,
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout))
end
"""


def flood(base: str, seconds: int, rate: int, connections: int = 50) -> dict:
    """A wrk run of ``seconds`` at about ``rate`` requests/s of bad keys."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(FLOOD_SCRIPT)
    pause_ms = max(0, round(connections * 1000 / rate))
    started = time.monotonic()
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "-s",
            script.name,
            base + "/v1/roles",
            "--",
            str(pause_ms),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    elapsed = time.monotonic() - started
    os.unlink(script.name)
    match = re.search(r"FLOOD (\{.*\})", output)
    if not match:
        raise RuntimeError(output)
    counts = json.loads(match.group(1))
    counts["seconds"] = round(elapsed, 2)
    counts["rate_per_s"] = round(counts["requests"] / elapsed)
    return counts


def key_lookups(url: str) -> int:
    """Index scans PostgreSQL counted on api_keys' prefix index (each key lookup is one)."""
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as connection:
        row = connection.execute(
            "SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes "
            "WHERE relname = 'api_keys' AND indexrelname LIKE '%prefix%'"
        ).fetchone()
    return int(row[0]) if row else 0


def settled_lookups(url: str) -> int:
    # Backends report their statistics when idle, at most every 10 s (PostgreSQL 15).
    time.sleep(11)
    return key_lookups(url)


@contextlib.contextmanager
def stack(url: str, key_env: dict[str, str], workers: int) -> Iterator[tuple[str, nginx.Nginx]]:
    with (
        gunicorn("service.wsgi:app", PORT, key_env, workers) as base,
        nginx.running(f"127.0.0.1:{PORT}") as proxy,
    ):
        yield base, proxy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slow", type=int, default=500, help="slow connections")
    parser.add_argument("--seconds", type=float, default=15, help="seconds of each measurement")
    parser.add_argument("--flood-rate", type=int, default=2000, help="bad-key requests/s")
    parser.add_argument("--flood-seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not nginx.nginx_available():
        raise SystemExit(f"needs nginx ({nginx.NGINX}): apt-get install nginx")

    results: dict = {"slow": args.slow, "workers": args.workers}
    with scratch_database("rolefit_bench_hostile") as url:
        env = env_for(url)
        rolefit(env, "db", "upgrade")
        rolefit(env, "demo", "--candidates", "200")
        key = rolefit(env, "keys", "create", "--name", "hostile", "--preset", "admin").split()[-1]
        with stack(url, env, args.workers) as (direct, proxy):
            _status, _headers, roles = request("GET", direct + "/v1/roles", key)
            path = f"/v1/roles/{roles['data'][0]['key']}/matches?limit=20"
            through = NormalClient("127.0.0.1", proxy.port, path, key)
            straight = NormalClient("127.0.0.1", PORT, path, key)

            print(f"normal client: GET {path} from {GOOD_SOURCE}, {args.seconds:.0f} s each")
            results["nginx_quiet"] = through.run(args.seconds)
            print(f"  through nginx, quiet:          {results['nginx_quiet']}")
            with SlowClients(proxy.port, args.slow) as slow:
                results["nginx_attack"] = through.run(args.seconds)
                results["nginx_attack"]["slow_alive"] = slow.alive()
            results["nginx_attack"]["slow_reopened"] = slow.reopened
            print(f"  through nginx, {args.slow} slow:      {results['nginx_attack']}")

            results["direct_quiet"] = straight.run(args.seconds)
            print(f"  straight at gunicorn, quiet:   {results['direct_quiet']}")
            with SlowClients(PORT, args.slow) as slow:
                results["direct_attack"] = straight.run(args.seconds)
                results["direct_attack"]["slow_alive"] = slow.alive()
            results["direct_attack"]["slow_reopened"] = slow.reopened
            print(f"  straight at gunicorn, {args.slow} slow: {results['direct_attack']}")
            # gunicorn's workers may still be stuck on slow connections: let them time out.
            time.sleep(3)

            before = settled_lookups(url)
            print(f"\nbad-key flood from 127.0.0.1 through nginx at ~{args.flood_rate}/s:")
            results["flood_first_second"] = flood(proxy.base, 1, args.flood_rate)
            print(f"  first second:  {results['flood_first_second']}")
            during: dict = {}
            client = threading.Thread(
                target=lambda: during.update(through.run(args.flood_seconds - 1))
            )
            client.start()
            results["flood_rest"] = flood(proxy.base, args.flood_seconds - 1, args.flood_rate)
            client.join()
            print(f"  the rest:      {results['flood_rest']}")
            results["normal_client_during_flood"] = during
            print(f"  normal client from {GOOD_SOURCE} meanwhile: {during}")
            after = settled_lookups(url)
            # The normal client's own requests are lookups too (one each).
            results["flood_key_lookups"] = after - before - during.get("requests", 0)
            print(
                f"  key lookups PostgreSQL saw for the flood: {results['flood_key_lookups']} "
                f"(limit {FAILURE_LIMIT} per address per 60 s, {args.workers} workers)"
            )

    quiet, attack = results["nginx_quiet"], results["nginx_attack"]
    first = results["flood_first_second"]
    checks = {
        "through nginx: p99 under attack <= 2x quiet": attack["p99_ms"] <= 2 * quiet["p99_ms"],
        "through nginx: no failed request": not quiet["failed"] and not attack["failed"],
        "flood: 429s in the first second": first["429_app"] + first["429_nginx"] > 0,
        "flood: 401s (lookups) within the limit": first["401"] + results["flood_rest"]["401"]
        <= FAILURE_LIMIT + args.workers - 1,
        "flood: key lookups within the limit": results["flood_key_lookups"]
        <= FAILURE_LIMIT + args.workers - 1,
        "flood: the normal client never failed": not results["normal_client_during_flood"].get(
            "failed"
        ),
    }
    results["checks"] = checks
    results["p99_ratio_nginx"] = round(attack["p99_ms"] / quiet["p99_ms"], 2)
    print(f"\np99 under attack / quiet, through nginx: {results['p99_ratio_nginx']}")
    for name, passed in checks.items():
        print(f"  [{'ok' if passed else 'FAIL'}] {name}")
    print(f"saved {save('hostile', results)}")
    if not all(checks.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
