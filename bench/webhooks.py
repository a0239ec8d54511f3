"""Webhook delivery benchmark: one ``rolefit worker`` draining N events to a fast receiver.

Run: ``.venv/bin/python -m bench.webhooks [--events 20000] [--concurrency 64]``

On a scratch PostgreSQL database: one endpoint subscribed to ``candidate.*``, N
``candidate.updated`` events committed (in batches, as a batch import would), then one worker
process started (``--concurrency`` deliveries in flight). The receiver is another process, a
small asyncio HTTP/1.1 server that verifies every signature with ``standardwebhooks`` and
answers 204. Figures: deliveries/s sustained (from the first delivery recorded to the last),
and overall (from the worker's start, fan-out included); the target of issue 12 is 1,000/s.
Several ``--concurrency`` values (comma list) are measured one after the other, each on a fresh
backlog.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select, text

from bench.common import BIN, ROOT, env_for, rolefit, save, scratch_database
from service.domain.events import emit_rows
from service.infra.database import Database
from service.infra.secrets import SecretBox, new_signing_secret
from service.models import Delivery, WebhookEndpoint

TARGET = 1000.0
KEY = "bench secret key"


# --------------------------------------------------------------------------- the receiver


def serve_receiver(port: int, secret: str, stats_path: str) -> None:
    """A minimal HTTP/1.1 keep-alive server: verify, count, 204. Writes its counts to
    ``stats_path`` every half second."""
    from standardwebhooks import Webhook

    hook = Webhook(secret)
    counts = {"received": 0, "bad_signature": 0}

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while True:
                head_end = self.buffer.find(b"\r\n\r\n")
                if head_end < 0:
                    return
                head = self.buffer[:head_end].decode("latin-1").split("\r\n")
                headers = {}
                for line in head[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                if len(self.buffer) < head_end + 4 + length:
                    return
                body = self.buffer[head_end + 4 : head_end + 4 + length]
                self.buffer = self.buffer[head_end + 4 + length :]
                try:
                    hook.verify(body, headers)
                    counts["received"] += 1
                except Exception:
                    counts["bad_signature"] += 1
                self.transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")  # type: ignore[attr-defined]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Protocol, "127.0.0.1", port)
        async with server:
            while True:
                await asyncio.sleep(0.5)
                Path(stats_path).write_text(json.dumps(counts))

    asyncio.run(main())


# --------------------------------------------------------------------------- the run


def delivered(database: Database) -> int:
    with database.session() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "delivered")
            )
            or 0
        )


def run_once(database_url: str, database: Database, events: int, concurrency: int) -> dict:
    with database.engine.begin() as connection:
        connection.execute(
            text("TRUNCATE delivery_attempts, deliveries, webhook_endpoints, events CASCADE")
        )
        connection.execute(text("DELETE FROM outbox_cursors"))
    secret = new_signing_secret()
    port = 18000 + os.getpid() % 1000
    stats = Path(f"/tmp/bench-webhooks-{os.getpid()}.json")
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.webhooks", "--receiver", str(port), secret, str(stats)],
        cwd=ROOT,
    )
    worker = None
    try:
        with database.session() as session:
            session.add(
                WebhookEndpoint(
                    url=f"http://127.0.0.1:{port}/hook",
                    event_types=["candidate.*"],
                    secret_encrypted=SecretBox(KEY).seal(secret),
                )
            )
            session.commit()
            for start in range(0, events, 1000):
                rows = [
                    ("candidate.updated", ("candidate", uuid.uuid4()), {"source": "bench"})
                    for _ in range(min(1000, events - start))
                ]
                emit_rows(session, rows)
                session.commit()
        time.sleep(0.5)  # the receiver is listening
        env = env_for(
            database_url,
            ROLEFIT_SECRET_KEY=KEY,
            ROLEFIT_WEBHOOKS_ALLOW_HTTP="1",
            ROLEFIT_WEBHOOKS_ALLOW_PRIVATE="1",
        )
        started = time.perf_counter()
        worker = subprocess.Popen(
            [str(BIN / "rolefit"), "worker", "--concurrency", str(concurrency)],
            env=env,
            cwd=ROOT,
        )
        first_at = None
        first_count = 0
        deadline = started + 600
        while True:
            count = delivered(database)
            now = time.perf_counter()
            if count and first_at is None:
                first_at, first_count = now, count
            if count >= events or now > deadline:
                break
            time.sleep(0.1)
        finished = time.perf_counter()
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        time.sleep(0.7)
        received = json.loads(stats.read_text())
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        receiver.terminate()
        receiver.wait(10)
        stats.unlink(missing_ok=True)
    assert first_at is not None
    sustained = (count - first_count) / max(finished - first_at, 1e-9)
    overall = count / (finished - started)
    return {
        "concurrency": concurrency,
        "events": events,
        "delivered": count,
        "received_verified": received["received"],
        "bad_signatures": received["bad_signature"],
        "seconds": round(finished - started, 2),
        "sustained_per_s": round(sustained, 1),
        "overall_per_s": round(overall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--concurrency", default="16", help="comma list, one run each")
    parser.add_argument("--receiver", nargs=3, metavar=("PORT", "SECRET", "STATS"))
    args = parser.parse_args()
    if args.receiver:
        port, secret, stats_path = args.receiver
        serve_receiver(int(port), secret, stats_path)
        return
    results: dict = {"target_per_s": TARGET, "runs": [], "cpus": os.cpu_count()}
    with scratch_database("rolefit_h12_bench") as url:
        rolefit(env_for(url), "db", "upgrade")
        database = Database(url)
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            result = run_once(url, database, args.events, concurrency)
            results["runs"].append(result)
            verdict = "ok" if result["sustained_per_s"] >= TARGET else "BELOW TARGET"
            print(
                f"concurrency {concurrency}: {result['delivered']}/{args.events} delivered in "
                f"{result['seconds']} s; sustained {result['sustained_per_s']}/s, overall "
                f"{result['overall_per_s']}/s ({verdict}, target {TARGET:.0f}/s); receiver "
                f"verified {result['received_verified']}, bad signatures "
                f"{result['bad_signatures']}",
                flush=True,
            )
        database.dispose()
    print(f"saved {save('webhooks', results)}")


if __name__ == "__main__":
    main()
