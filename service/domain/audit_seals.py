"""Sealed checkpoints over the audit trail: ``rolefit audit seal`` and ``rolefit audit verify``.

:func:`seal` (run from cron) takes every event not yet sealed, up to the committed horizon
(:func:`service.infra.tamper_guard.committed_horizon`: the highest id below which every event
has committed, so an event the buffered writer or a long request commits late, with an earlier
``occurred_at`` or a lower id, is never skipped nor later mistaken for an insertion), and
stores one :class:`~service.models.AuditSeal`: the range's first and last id, its count, a
SHA-256 over the canonical line (:func:`canonical_line`) of each of its events in id order,
the previous seal's chain hash, and a chain hash over all of that. With nothing new it stores
nothing.

:func:`verify` recomputes every seal in order and stops at the first one that no longer
matches, saying how: the seal itself was edited, the chain is broken (a seal removed or
replaced), or its range has fewer rows (deleted), more rows (inserted) or the same number with
other content (edited) than when it was sealed. It also counts the events after the last seal.

Every column of an event is sealed: nothing rewrites audit events, erasure included (they hold
ids only). What this proves and what it does not, README "Tamper evidence": someone who can
write to the database can recompute every seal after editing; only a chain hash kept elsewhere
(``verify --anchor``) catches that, and the removal of the newest seals with their events.

Cost: none per request; sealing and verifying read the events once, streamed in id order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service.infra.orm import utcnow
from service.infra.tamper_guard import committed_horizon
from service.models import AuditEvent, AuditSeal

GENESIS = "0" * 64
"""The ``previous_sha256`` of the first seal."""

SEALED_COLUMNS: tuple[str, ...] = (
    "id",
    "occurred_at",
    "actor",
    "api_key_id",
    "action",
    "resource_type",
    "resource_id",
    "request_id",
    "status",
    "outcome",
)
"""Every column of ``audit_events``, in the order of the canonical line."""

_STREAM = 5000


def canonical_line(values: Sequence[Any]) -> bytes:
    """One event as sealed: a compact JSON array of :data:`SEALED_COLUMNS`, times in UTC ISO
    8601 to the microsecond, UTF-8, ending in a newline."""
    out = [v.isoformat(timespec="microseconds") if isinstance(v, datetime) else v for v in values]
    return (json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _chain(
    previous: str, first: int, last: int, count: int, events_sha256: str, sealed_at: datetime
) -> str:
    fields = [previous, first, last, count, events_sha256, sealed_at.isoformat("T", "microseconds")]
    return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class RangeDigest:
    """What a range of events hashes to, as stored in a seal."""

    count: int
    first: int | None
    last: int | None
    sha256: str


def _digest(session: Session, after: int, up_to: int | None) -> RangeDigest:
    """The events with ``after < id <= up_to`` (no upper bound with None), read in id order."""
    columns = [getattr(AuditEvent, name) for name in SEALED_COLUMNS]
    query = sa.select(*columns).where(AuditEvent.id > after).order_by(AuditEvent.id)
    if up_to is not None:
        query = query.where(AuditEvent.id <= up_to)
    rows: Iterable[Any] = session.execute(
        query, execution_options={"yield_per": _STREAM, "stream_results": True}
    )
    digest, count, first, last = hashlib.sha256(), 0, None, None
    for row in rows:
        digest.update(canonical_line(row))
        count += 1
        first = row.id if first is None else first
        last = row.id
    return RangeDigest(count, first, last, digest.hexdigest())


def _last_seal(session: Session) -> AuditSeal | None:
    return session.scalars(sa.select(AuditSeal).order_by(AuditSeal.id.desc()).limit(1)).first()


def seal(session: Session, *, now: datetime | None = None) -> AuditSeal | None:
    """Seal every committed event after the last seal in one new seal; None when there is none.

    The seal is added and flushed; the caller commits. Two sealers at once: the second one's
    flush fails on the unique ``previous_sha256`` (an IntegrityError), and nothing is stored
    twice.
    """
    last = _last_seal(session)
    after = last.last_event_id if last is not None else 0
    horizon = committed_horizon(session.get_bind().engine)
    if horizon is None or horizon <= after:
        return None
    found = _digest(session, after, horizon)
    if found.count == 0 or found.first is None or found.last is None:
        return None
    previous = last.chain_sha256 if last is not None else GENESIS
    sealed_at = now or utcnow()
    chain = _chain(previous, found.first, found.last, found.count, found.sha256, sealed_at)
    new = AuditSeal(
        first_event_id=found.first,
        last_event_id=found.last,
        event_count=found.count,
        events_sha256=found.sha256,
        previous_sha256=previous,
        chain_sha256=chain,
        sealed_at=sealed_at,
    )
    session.add(new)
    session.flush()
    return new


@dataclass(frozen=True)
class Mismatch:
    """The first seal that no longer matches, and how."""

    seal_id: int
    first_event_id: int
    last_event_id: int
    problem: str

    def __str__(self) -> str:
        return (
            f"seal {self.seal_id} (events {self.first_event_id}..{self.last_event_id}): "
            f"{self.problem}"
        )


@dataclass(frozen=True)
class Verification:
    """What :func:`verify` found. ``ok`` when every seal matched (and the anchor, if given, is
    one of them)."""

    seals: int
    events: int
    mismatch: Mismatch | None
    head_sha256: str | None
    unsealed: int
    unsealed_since: datetime | None
    anchor_found: bool | None

    @property
    def ok(self) -> bool:
        return self.mismatch is None and self.anchor_found is not False


def _range_problem(stored: AuditSeal, found: RangeDigest) -> str | None:
    if found.count < stored.event_count:
        missing = stored.event_count - found.count
        return f"{missing} event(s) fewer than sealed: deleted"
    if found.count > stored.event_count:
        extra = found.count - stored.event_count
        return f"{extra} event(s) more than sealed: inserted"
    if (found.sha256, found.first, found.last) != (
        stored.events_sha256,
        stored.first_event_id,
        stored.last_event_id,
    ):
        return "as many events as sealed, but their content differs: edited (or replaced)"
    return None


def verify(session: Session, *, anchor: str | None = None) -> Verification:
    """Recompute every seal in order; stop at the first that no longer matches.

    ``anchor`` is a chain hash kept outside the database (printed by ``seal``): when given, it
    must be one of the seals' chain hashes, or the verification fails.
    """
    previous, after, events, checked, head = GENESIS, 0, 0, 0, None
    anchor_found = None if anchor is None else False
    for stored in session.scalars(sa.select(AuditSeal).order_by(AuditSeal.id)):
        checked += 1
        problem = None
        if stored.previous_sha256 != previous:
            problem = "chain broken: its previous hash is not the chain hash of the seal before"
        elif stored.chain_sha256 != _chain(
            stored.previous_sha256,
            stored.first_event_id,
            stored.last_event_id,
            stored.event_count,
            stored.events_sha256,
            stored.sealed_at,
        ):
            problem = "the seal's own fields were changed (its chain hash does not match)"
        else:
            problem = _range_problem(stored, _digest(session, after, stored.last_event_id))
        if problem is not None:
            mismatch = Mismatch(stored.id, after + 1, stored.last_event_id, problem)
            return Verification(checked - 1, events, mismatch, head, 0, None, anchor_found)
        if anchor is not None and stored.chain_sha256 == anchor:
            anchor_found = True
        previous, after, head = stored.chain_sha256, stored.last_event_id, stored.chain_sha256
        events += stored.event_count
    unsealed, since = session.execute(
        sa.select(sa.func.count(), sa.func.min(AuditEvent.occurred_at)).where(AuditEvent.id > after)
    ).one()
    return Verification(checked, events, None, head, int(unsealed), since, anchor_found)
