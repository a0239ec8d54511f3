"""What the outbox costs the write paths: the candidate batch import and a role's rescoring.

Run: ``.venv/bin/python -m bench.outbox [--candidates 100000] [--rounds 3]``

On a scratch PostgreSQL database with N demo candidates and no webhook endpoint, in this
process, through the domain's own use cases (the HTTP path is the same with or without events,
so it is left out: it would only dilute the difference):

- ingest: ``candidates.create_many`` of 10 batches of 500 candidates with 12 records each, one
  transaction a batch: candidates/s;
- rescore: ``roles.add_version`` of tpm, which rescores all N candidates and writes one
  ``match.band_changed`` event per band change: seconds, for a typical edit (one importance
  moved by one: few candidates change band) and a sweeping one (every must-have dropped, then
  restored: most candidates change band).

Each is measured with events (as deployed) and without (the outbox's writes replaced by
nothing: no events, no band comparison), alternating, ``--rounds`` times; the medians and
their ratio are printed against issue 12's budget (at most 15 % slower).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select, text

from bench.common import env_for, rolefit, save, scratch_database
from service.domain import candidates, events, matching, roles
from service.domain.builtin import builtin_data
from service.infra.database import Database
from service.models import Competency, Event, Role

BUDGET = 1.15
BATCH = 500
BATCHES = 10


class _NoPrevious:
    """Stands in for the band comparison of a rescoring when events are off."""

    def __init__(self, *_args: Any) -> None:
        pass

    def __enter__(self) -> _NoPrevious:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def record_changes(self, _now: Any) -> int:
        return 0


@contextlib.contextmanager
def events_off() -> Iterator[None]:
    """The write paths as they were before the outbox: nothing emitted, no bands compared."""
    saved = (events.emit_rows, events.emit_from_select, matching._PreviousBands)
    events.emit_rows = lambda _session, rows, **_k: ["" for _ in rows]  # type: ignore[assignment]
    events.emit_from_select = lambda *_a, **_k: 0  # type: ignore[assignment]
    matching._PreviousBands = _NoPrevious  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        events.emit_rows, events.emit_from_select, matching._PreviousBands = saved  # type: ignore[misc]


_KEYS: list[str] = []
_BUILTIN_TPM = next(r for r in builtin_data()["roles"] if r["key"] == "tpm")["responsibilities"]


def records(index: int) -> list[dict[str, Any]]:
    """Up to 12 records of the built-in competencies, varied by ``index``."""
    return [
        {"competency": _KEYS[(index + k) % len(_KEYS)], "level": 1 + (index + k) % 5}
        for k in range(min(12, len(_KEYS)))
    ]


def ingest(database: Database, start: int) -> float:
    """Candidates/s over BATCHES batches of BATCH candidates."""
    began = time.perf_counter()
    for batch in range(BATCHES):
        items = [
            (i, {"name": f"Bench {start + batch * BATCH + i}", "competencies": records(i)})
            for i in range(BATCH)
        ]
        with database.session() as session:
            outcome = candidates.create_many(session, items)
            assert not outcome.failed, outcome.failed
            session.commit()
    return BATCH * BATCHES / (time.perf_counter() - began)


def rescore(database: Database, scenario: str, flip: bool) -> float:
    """Seconds for a new version of tpm, which rescores every candidate.

    ``typical``: one responsibility's importance moves by one (few candidates change band);
    ``sweeping``: every must-have dropped (``flip``) or restored, which moves most candidates
    across bands (a band-change event each).
    """
    with database.session() as session:
        role = session.scalars(select(Role).where(Role.key == "tpm")).one()
        current = roles.get_version(session, role, role.current_version)
        keys = dict(session.execute(select(Competency.id, Competency.key)).all())
        builtin = {r["competency"]: r for r in _BUILTIN_TPM}
        responsibilities = []
        for index, r in enumerate(current.responsibilities):
            item = {
                "competency": keys[r.competency_id],
                "importance": r.importance,
                "level": r.level,
                "must_have": r.must_have,
                "rationale": r.rationale,
            }
            if scenario == "sweeping":
                item["must_have"] = (
                    False if flip else bool(builtin[item["competency"]].get("must_have", False))
                )
            elif index == 0:
                base = int(builtin[item["competency"]]["importance"])
                item["importance"] = (
                    base + 1 if flip and base < 5 else max(1, base - 1) if flip else base
                )
            responsibilities.append(item)
        draft = roles.RoleDraft(
            title=current.title,
            summary=current.summary,
            focus=current.focus,
            responsibilities=responsibilities,
        )
        began = time.perf_counter()
        roles.add_version(session, role, role.current_version, draft, None)
        session.commit()
        return time.perf_counter() - began


def vacuum(database: Database) -> None:
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE matches, events"))


def _band_events(database: Database) -> int:
    with database.session() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Event).where(Event.type == "match.band_changed")
            )
            or 0
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with scratch_database("rolefit_bench_outbox") as url:
        env = env_for(url)
        rolefit(env, "db", "upgrade")
        started = time.perf_counter()
        rolefit(env, "demo", "--candidates", str(args.candidates))
        print(f"demo load: {args.candidates:,} candidates in {time.perf_counter() - started:.0f} s")
        database = Database(url, statement_timeout_ms=0)
        with database.session() as session:
            _KEYS.extend(sorted(session.scalars(select(Competency.key))))
        rates: dict[str, list[float]] = {"on": [], "off": []}
        times: dict[str, dict[str, list[float]]] = {
            scenario: {"on": [], "off": []} for scenario in ("typical", "sweeping")
        }
        offset = 0
        flip = True
        vacuum(database)
        for round_ in range(args.rounds):
            # ABBA order, and the tables vacuumed before each measurement: a rescoring leaves
            # N dead rows behind, which would make whichever runs later slower.
            for mode in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
                with contextlib.ExitStack() as stack:
                    if mode == "off":
                        stack.enter_context(events_off())
                    rates[mode].append(ingest(database, offset))
                    offset += BATCH * BATCHES
                    for scenario in ("typical", "sweeping"):
                        for direction in (flip, not flip):
                            vacuum(database)
                            times[scenario][mode].append(rescore(database, scenario, direction))
        band_events = _band_events(database)
        database.dispose()
    ingest_on, ingest_off = statistics.median(rates["on"]), statistics.median(rates["off"])
    rescores = {
        scenario: {
            "events_s": round(statistics.median(t["on"]), 2),
            "none_s": round(statistics.median(t["off"]), 2),
            "slowdown": round(statistics.median(t["on"]) / statistics.median(t["off"]), 3),
        }
        for scenario, t in times.items()
    }
    results = {
        "candidates": args.candidates,
        "ingest_per_s": {"events": round(ingest_on), "none": round(ingest_off)},
        "ingest_slowdown": round(ingest_off / ingest_on, 3),
        "rescore": rescores,
        "band_change_events": int(band_events or 0),
        "rounds": {"ingest": rates, "rescore": times},
    }
    print(
        f"ingest: {ingest_on:,.0f} candidates/s with events, {ingest_off:,.0f} without: "
        f"{results['ingest_slowdown']:.3f}x (budget {BUDGET})"
    )
    for scenario, r in rescores.items():
        print(
            f"rescore of {args.candidates:,}, {scenario} version: {r['events_s']:.2f} s with "
            f"events, {r['none_s']:.2f} s without: {r['slowdown']:.3f}x (budget {BUDGET})"
        )
    print(f"{results['band_change_events']:,} band-change events written in all")
    print(f"saved {save('outbox', results)}")


if __name__ == "__main__":
    main()
