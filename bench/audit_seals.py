"""bench.audit_seals: what sealing and verifying the audit trail cost, and what a seal costs
the trail's writers.

Run: ``.venv/bin/python -m bench.audit_seals [--events 1000000] [--rounds 3]``

On a scratch PostgreSQL database migrated by ``rolefit db upgrade``, ``--events`` audit events
are written in SQL (``generate_series``). Figures, each against what the same run measures:

- ``rolefit audit seal``'s use case over all of them (one seal), and ``verify``: events/s, and
  their ratio to the floor, reading the same rows in id order through the same driver and
  streaming (what any hash over the rows must at least do);
- the seal's lock (``committed_horizon``): while a writer thread inserts one event per
  transaction (as the buffered writer does with one row) in a loop, the writer's p50 and max
  insert latency over 2 s with a seal (of the events written since the previous one) every
  200 ms, against 2 s with no seal.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from typing import Any

from sqlalchemy import select, text

from bench.common import env_for, rolefit, save, scratch_database
from service.domain import audit, audit_seals
from service.infra.database import Database
from service.models import AuditEvent

EVENTS = """
INSERT INTO audit_events (occurred_at, actor, api_key_id, action, resource_type, resource_id,
                          request_id, status, outcome)
SELECT now() - make_interval(secs => :n - i), 'api', 'key_' || (i % 50), 'read', 'candidate',
       md5(i::text), md5((i * 7)::text), 200, 'success'
FROM generate_series(1, :n) AS i
"""


def _timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _floor(database: Database) -> None:
    columns = [getattr(AuditEvent, name) for name in audit_seals.SEALED_COLUMNS]
    with database.engine.connect() as connection:
        rows = connection.execution_options(stream_results=True, yield_per=5000).execute(
            select(*columns).order_by(AuditEvent.id)
        )
        for _ in rows:
            pass


def _seal_and_verify(database: Database) -> tuple[float, float]:
    with database.engine.begin() as connection:
        # Every round seals everything again: the old seals go, past their triggers.
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text("DELETE FROM audit_seals"))
    with database.session() as session:
        sealing = _timed(lambda: audit_seals.seal(session))
        session.commit()
    with database.session() as session:
        verifying = _timed(lambda: audit_seals.verify(session))
    return sealing, verifying


def _writer_latencies(database: Database, *, sealing: bool, seconds: float = 2.0) -> list[float]:
    actor = audit.Actor("cli:bench")
    stop, latencies = threading.Event(), []
    autocommit = database.engine.execution_options(isolation_level="AUTOCOMMIT")

    def write() -> None:
        with autocommit.connect() as connection:
            while not stop.is_set():
                row = audit.event(actor, "read", "candidate", "bench")
                started = time.perf_counter()
                connection.execute(
                    text(
                        "INSERT INTO audit_events (occurred_at, actor, action, resource_type,"
                        " resource_id, outcome) VALUES (:occurred_at, :actor, :action,"
                        " :resource_type, :resource_id, :outcome)"
                    ),
                    row,
                )
                latencies.append(time.perf_counter() - started)

    writer = threading.Thread(target=write)
    writer.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sealing:
            with database.session() as session:
                audit_seals.seal(session)
                session.commit()
        time.sleep(0.2)
    stop.set()
    writer.join()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with scratch_database("rolefit_bench_seals") as url:
        rolefit(env_for(url), "db", "upgrade")
        database = Database(url, statement_timeout_ms=0)
        with database.engine.begin() as connection:
            connection.execute(text(EVENTS), {"n": args.events})
            connection.execute(text("ANALYZE audit_events"))
        floors, seals, verifies = [], [], []
        for _ in range(args.rounds):
            floors.append(_timed(lambda: _floor(database)))
            sealing, verifying = _seal_and_verify(database)
            seals.append(sealing)
            verifies.append(verifying)
        floor, seal, verify = (statistics.median(x) for x in (floors, seals, verifies))
        n = args.events
        print(f"{n} events, median of {args.rounds} rounds")
        print(f"  floor (stream the rows): {floor:.2f} s ({n / floor:,.0f} events/s)")
        print(f"  seal:   {seal:.2f} s ({n / seal:,.0f} events/s), {seal / floor:.2f}x the floor")
        print(f"  verify: {verify:.2f} s ({n / verify:,.0f} events/s), {verify / floor:.2f}x")
        quiet = _writer_latencies(database, sealing=False)
        busy = _writer_latencies(database, sealing=True)
        ms = [(statistics.median(x) * 1000, max(x) * 1000, len(x)) for x in (quiet, busy)]
        print(
            f"  writer, one event a transaction: p50 {ms[0][0]:.2f} ms, max {ms[0][1]:.2f} ms"
            f" ({ms[0][2]} inserts) without seals; p50 {ms[1][0]:.2f} ms, max {ms[1][1]:.2f} ms"
            f" ({ms[1][2]} inserts) sealing every 200 ms"
        )
        database.dispose()
        path = save(
            "audit_seals",
            {
                "events": n,
                "rounds": args.rounds,
                "floor_s": floors,
                "seal_s": seals,
                "verify_s": verifies,
                "writer_quiet_ms": ms[0],
                "writer_sealing_ms": ms[1],
            },
        )
        print(f"saved {path}")


if __name__ == "__main__":
    main()
