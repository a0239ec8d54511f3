"""Webhook delivery (events.md, "Delivery"): fan-out, claims with a lease, outcomes, signing.

The worker (:mod:`service.worker.main`) runs these in a loop, each in its own transaction:

1. :func:`fan_out` turns committed events, in seq order, into one ``deliveries`` row for every
   enabled endpoint subscribed to the event's type (a ``webhook.test`` event: its one endpoint),
   and advances the ``fanned_out`` cursor in the same transaction. One fan-out at a time: the
   cursor row is locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: a second worker skips it and
   goes on delivering). An endpoint receives the events made from its registration on.
2. :func:`claim` takes due pending deliveries (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
   concurrent workers never take the same row) and leases them: ``leased_by`` a token of this
   claim, ``next_attempt_at`` pushed to the lease's end. A worker killed mid-delivery loses
   nothing: when the lease runs out the delivery is due again and another worker sends it
   again (at least once; a receiver dedupes on ``webhook-id``).
3. The worker POSTs each, signed at send time (:func:`signed_headers`, Standard Webhooks with
   the ``standardwebhooks`` package; during a rotation both secrets sign).
4. :func:`record` stores the outcomes, each only while the delivery is still leased by that
   claim: a 2xx delivers; a failure schedules the next attempt (5 s, 5 min, 30 min, 2 h, 5 h,
   10 h, 14 h, 20 h, 24 h, up to 10 % later), or gives up after the last; 429/503 retry after
   their ``Retry-After`` (at most 1 h); 410 disables the endpoint at once; an endpoint that
   has failed without a single success for 5 days is disabled. One ``delivery_attempts`` row
   per attempt, never the payload.

Times are the workers' clocks (UTC): keep the machines' clocks synchronised (NTP); a skew only
shifts when a lease runs out.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from service.domain.events import cursor_value, type_matches
from service.infra.bulk import bulk_insert
from service.infra.ids import uuid7
from service.infra.orm import utcnow
from service.infra.secrets import SecretBox, SecretKeyMissing
from service.models import Delivery, DeliveryAttempt, Event, OutboxCursor, WebhookEndpoint

# Seconds to wait after the 1st, 2nd, ... failed attempt; after the last one, give up.
SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
MAX_ATTEMPTS = len(SCHEDULE) + 1
JITTER = 0.10
RETRY_AFTER_CAP = 3600.0
LEASE_SECONDS = 60
DISABLE_AFTER = timedelta(days=5)
FANNED_OUT = "fanned_out"

REASON_GONE = "the endpoint answered 410 Gone"
REASON_FAILING = "every delivery failed for 5 days"
ERROR_DISABLED = "not sent: the endpoint is disabled"


def _rfc3339(value: datetime) -> str:
    """As the API shows timestamps (service.api.jsonio.rfc3339): UTC, to the second, Z."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def event_payload(event: Event) -> dict[str, Any]:
    """The event as the feed shows it and as a webhook's body carries it."""
    return {
        "id": event.id,
        "type": event.type,
        "created_at": _rfc3339(event.created_at),
        "seq": event.seq,
        "subject": {"type": event.subject_type, "id": event.subject_id},
        "data": event.data,
    }


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# --------------------------------------------------------------------------- fan-out


def _lock_cursor(session: Session) -> int | None:
    """The ``fanned_out`` cursor's value, its row locked until the transaction ends; None when
    another transaction holds it (it is fanning out)."""
    query = select(OutboxCursor.value).where(OutboxCursor.name == FANNED_OUT)
    if _is_postgresql(session):
        query = query.with_for_update(skip_locked=True)
    value = session.scalar(query)
    if value is not None:
        return int(value)
    if session.scalar(select(func.count()).where(OutboxCursor.name == FANNED_OUT)):
        return None  # there, and locked by another worker
    module: Any = postgresql if _is_postgresql(session) else sqlite
    session.execute(
        module.insert(OutboxCursor.__table__)
        .values(name=FANNED_OUT, value=0)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    value = session.scalar(query)
    return None if value is None else int(value)


def fan_out(session: Session, *, batch_size: int = 1000) -> int:
    """Turn the next ``batch_size`` events past the cursor into deliveries; how many events
    were fanned out (0: none waiting, or another worker is at it). The caller commits."""
    # A look without a lock first: most turns of the loop find nothing new, and a row lock
    # would make even those write transactions.
    known = select(OutboxCursor.value).where(OutboxCursor.name == FANNED_OUT).scalar_subquery()
    waiting = select(Event.id).where(Event.seq > func.coalesce(known, 0)).limit(1)
    if session.scalar(waiting) is None:
        return 0
    position = _lock_cursor(session)
    if position is None:
        return 0
    events = session.execute(
        select(Event.id, Event.seq, Event.type, Event.endpoint_id, Event.created_at)
        .where(Event.seq > position)
        .order_by(Event.seq)
        .limit(batch_size)
    ).all()
    if not events:
        return 0
    endpoints = session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.event_types, WebhookEndpoint.created_at).where(
            WebhookEndpoint.enabled.is_(True)
        )
    ).all()
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for event in events:
        if event.endpoint_id is not None:
            targets = [event.endpoint_id]
        else:
            targets = [
                e.id
                for e in endpoints
                if e.created_at <= event.created_at and type_matches(e.event_types, event.type)
            ]
        rows.extend(
            {
                "id": uuid7(),
                "event_id": event.id,
                "endpoint_id": target,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for target in targets
        )
    if rows:
        module: Any = postgresql if _is_postgresql(session) else sqlite
        # A recover may have made some already: those stay as they are.
        session.execute(module.insert(Delivery.__table__).on_conflict_do_nothing(), rows)
    session.execute(
        sa.update(OutboxCursor)
        .where(OutboxCursor.name == FANNED_OUT)
        .values(value=int(events[-1].seq))
        .execution_options(synchronize_session=False)
    )
    return len(events)


# --------------------------------------------------------------------------- claiming


@dataclass(frozen=True)
class Claimed:
    """A leased delivery, ready to send: its body and the signers of its endpoint."""

    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: str
    event_type: str
    attempt: int  # the number of the attempt about to be made, from 1
    url: str
    body: bytes
    signers: tuple[Webhook, ...] = field(repr=False)
    endpoint_failing: bool = False  # in a run of failures when claimed: a success ends it


def signed_headers(claimed: Claimed, at: datetime, user_agent: str) -> dict[str, str]:
    """The Standard Webhooks headers for sending ``claimed`` at ``at``: one signature per
    current secret, space-separated."""
    text = claimed.body.decode()
    signatures = " ".join(s.sign(claimed.event_id, at, text) for s in claimed.signers)
    return {
        "webhook-id": claimed.event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": user_agent,
    }


def _signers(box: SecretBox, endpoint: WebhookEndpoint, now: datetime) -> tuple[Webhook, ...]:
    signers = [Webhook(box.open(endpoint.secret_encrypted))]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires is not None and expires > now:
        signers.append(Webhook(box.open(endpoint.previous_secret_encrypted)))
    return tuple(signers)


def claim(
    session: Session,
    *,
    token: str,
    limit: int,
    box: SecretBox,
    lease_seconds: float = LEASE_SECONDS,
    now: datetime | None = None,
    on_problem: Callable[[uuid.UUID, str], None] | None = None,
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries to ``token`` (unique per claim) and make them
    ready to send. A delivery whose endpoint was disabled meanwhile is not sent: it fails
    (except a ``webhook.test``, so a receiver can be tried before re-enabling it). The caller
    commits before sending.

    An endpoint whose secret does not open with this worker's key (a wrong
    ``ROLEFIT_SECRET_KEY``) is reported to ``on_problem`` and its deliveries stay leased: they
    are tried again when the lease runs out, never failed for the worker's mistake."""
    now = now or utcnow()
    until = now + timedelta(seconds=lease_seconds)
    due = (
        select(Delivery.id)
        .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
    )
    if _is_postgresql(session):
        due = due.with_for_update(skip_locked=True)
    leased = session.execute(
        sa.update(Delivery)
        .where(Delivery.id.in_(due.scalar_subquery()))
        .values(leased_by=token, leased_until=until, next_attempt_at=until)
        .returning(Delivery.id, Delivery.event_id, Delivery.endpoint_id, Delivery.attempts)
        .execution_options(synchronize_session=False)
    ).all()
    if not leased:
        return []
    events = {
        e.id: e for e in session.scalars(select(Event).where(Event.id.in_({r[1] for r in leased})))
    }
    endpoints = {
        e.id: e
        for e in session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.id.in_({r[2] for r in leased}))
        )
    }
    bodies: dict[str, bytes] = {}
    signers: dict[uuid.UUID, tuple[Webhook, ...]] = {}
    ready: list[Claimed] = []
    not_sent: list[uuid.UUID] = []
    for delivery_id, event_id, endpoint_id, attempts in leased:
        event, endpoint = events.get(event_id), endpoints.get(endpoint_id)
        if event is None or endpoint is None:
            continue  # deleted meanwhile (retention, DELETE): its row goes with it
        if not endpoint.enabled and event.type != "webhook.test":
            not_sent.append(delivery_id)
            continue
        if event_id not in bodies:
            bodies[event_id] = orjson.dumps(event_payload(event))
        if endpoint_id not in signers:
            try:
                signers[endpoint_id] = _signers(box, endpoint, now)
            except SecretKeyMissing as error:
                signers[endpoint_id] = ()
                if on_problem is not None:
                    on_problem(endpoint_id, str(error))
        if not signers[endpoint_id]:
            continue
        ready.append(
            Claimed(
                delivery_id=delivery_id,
                endpoint_id=endpoint_id,
                event_id=event_id,
                event_type=event.type,
                attempt=attempts + 1,
                url=endpoint.url,
                body=bodies[event_id],
                signers=signers[endpoint_id],
                endpoint_failing=endpoint.failing_since is not None,
            )
        )
    if not_sent:
        _fail_unsent(session, Delivery.id.in_(not_sent))
    return ready


def release(session: Session, token: str, ids: Sequence[uuid.UUID]) -> None:
    """Hand back deliveries claimed with ``token`` and not sent (a worker stopping): due at
    once, for any worker. The caller commits."""
    session.execute(
        sa.update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.leased_by == token, Delivery.status == "pending")
        .values(leased_by=None, leased_until=None, next_attempt_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _fail_unsent(session: Session, where: sa.ColumnElement[bool]) -> None:
    session.execute(
        sa.update(Delivery)
        .where(where, Delivery.status == "pending")
        .values(status="failed", last_error=ERROR_DISABLED, leased_by=None, leased_until=None)
        .execution_options(synchronize_session=False)
    )


# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Outcome:
    """What one attempt of a claimed delivery came to (the HTTP client's answer)."""

    claimed: Claimed
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration: float  # seconds
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Recorded:
    """How an outcome was stored: ``delivered``, ``retry``, ``failed`` (given up), ``gone``
    (410: endpoint disabled) or ``stale`` (the lease was lost: another worker has it)."""

    outcome: Outcome
    result: str
    next_attempt_at: datetime | None


def next_delay(attempt: int, retry_after: float | None, rng: random.Random | None = None) -> float:
    """Seconds before the attempt after failed attempt number ``attempt`` (from 1)."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), RETRY_AFTER_CAP)
    base = SCHEDULE[min(attempt, len(SCHEDULE)) - 1]
    return base * (1 + (rng or random).uniform(0, JITTER))


def record(
    session: Session,
    token: str,
    outcomes: Sequence[Outcome],
    *,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> list[Recorded]:
    """Store ``outcomes`` of deliveries claimed with ``token``; each tells how. The caller
    commits.

    Successes (nearly all of them) are stored set-based, one UPDATE per status code, so a
    batch costs a few statements whatever its size; failures one row each; the attempt log in
    one COPY on PostgreSQL."""
    if not outcomes:
        return []
    now = now or utcnow()
    mine: set[uuid.UUID] = set()
    successes: dict[int, list[uuid.UUID]] = {}
    for outcome in outcomes:
        if outcome.ok:
            successes.setdefault(cast(int, outcome.status_code), []).append(
                outcome.claimed.delivery_id
            )
    for code, ids in successes.items():
        mine.update(
            session.scalars(
                sa.update(Delivery)
                .where(
                    Delivery.id.in_(ids), Delivery.leased_by == token, Delivery.status == "pending"
                )
                .values(
                    status="delivered",
                    attempts=Delivery.attempts + 1,
                    last_status_code=code,
                    last_error=None,
                    delivered_at=now,
                    next_attempt_at=now,
                    leased_by=None,
                    leased_until=None,
                )
                .returning(Delivery.id)
                .execution_options(synchronize_session=False)
            )
        )
    failures = [o for o in outcomes if not o.ok]
    if failures:
        query = select(Delivery.id).where(
            Delivery.id.in_([o.claimed.delivery_id for o in failures]),
            Delivery.leased_by == token,
            Delivery.status == "pending",
        )
        if _is_postgresql(session):
            query = query.with_for_update()
        mine.update(session.scalars(query))
    updates: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    recorded: list[Recorded] = []
    succeeded: set[uuid.UUID] = set()
    recovered: set[uuid.UUID] = set()  # succeeded, and were failing when claimed
    failed_at: dict[uuid.UUID, datetime] = {}
    gone: set[uuid.UUID] = set()
    for outcome in outcomes:
        claimed = outcome.claimed
        if claimed.delivery_id not in mine:
            recorded.append(Recorded(outcome, "stale", None))
            continue
        next_at: datetime | None = None
        error = (outcome.error or "")[:500] or None
        if outcome.ok:
            result = "delivered"
            succeeded.add(claimed.endpoint_id)
            if claimed.endpoint_failing:
                recovered.add(claimed.endpoint_id)
        else:
            if outcome.status_code == 410:
                result, status, error = "gone", "failed", REASON_GONE
                gone.add(claimed.endpoint_id)
            elif claimed.attempt >= MAX_ATTEMPTS:
                result, status = "failed", "failed"
            else:
                result, status = "retry", "pending"
                delay = next_delay(claimed.attempt, outcome.retry_after, rng)
                next_at = outcome.attempted_at + timedelta(seconds=delay)
            first = failed_at.get(claimed.endpoint_id)
            if first is None or outcome.attempted_at < first:
                failed_at[claimed.endpoint_id] = outcome.attempted_at
            updates.append(
                {
                    "b_id": claimed.delivery_id,
                    "status": status,
                    "attempts": claimed.attempt,
                    "last_status_code": outcome.status_code,
                    "last_error": error,
                    "next_attempt_at": next_at or now,
                }
            )
        attempts.append(
            {
                "id": uuid7(),
                "delivery_id": claimed.delivery_id,
                "endpoint_id": claimed.endpoint_id,
                "event_id": claimed.event_id,
                "event_type": claimed.event_type,
                "attempt": claimed.attempt,
                "attempted_at": outcome.attempted_at,
                "status_code": outcome.status_code,
                "error": error,
                "duration_ms": round(outcome.duration * 1000),
                "next_attempt_at": next_at,
            }
        )
        recorded.append(Recorded(outcome, result, next_at))
    if updates:
        table = cast(sa.Table, Delivery.__table__)
        session.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("b_id"))
            .values(
                status=sa.bindparam("status"),
                attempts=sa.bindparam("attempts"),
                last_status_code=sa.bindparam("last_status_code"),
                last_error=sa.bindparam("last_error"),
                next_attempt_at=sa.bindparam("next_attempt_at"),
                leased_by=None,
                leased_until=None,
            ),
            updates,
        )
    if attempts:
        bulk_insert(session, DeliveryAttempt, attempts)
    _update_endpoints(session, succeeded, recovered, failed_at, gone, now)
    return recorded


def _update_endpoints(
    session: Session,
    succeeded: set[uuid.UUID],
    recovered: set[uuid.UUID],
    failed_at: dict[uuid.UUID, datetime],
    gone: set[uuid.UUID],
    now: datetime,
) -> None:
    """A success ends an endpoint's run of failures; a failure starts one (if none is
    running); 5 days of it, or a 410, disable the endpoint. Only the endpoints that were
    failing when claimed are touched on success (a run that another worker started since is
    ended by the next success claimed after it)."""
    if recovered:
        session.execute(
            sa.update(WebhookEndpoint)
            .where(WebhookEndpoint.id.in_(recovered), WebhookEndpoint.failing_since.is_not(None))
            .values(failing_since=None)
            .execution_options(synchronize_session=False)
        )
    failing = {e: at for e, at in failed_at.items() if e not in succeeded}
    for endpoint_id, at in failing.items():
        session.execute(
            sa.update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_(None))
            .values(failing_since=at)
            .execution_options(synchronize_session=False)
        )
    if failing:
        _disable(
            session,
            WebhookEndpoint.id.in_(failing)
            & (WebhookEndpoint.failing_since <= now - DISABLE_AFTER),
            REASON_FAILING,
            now,
        )
    if gone:
        _disable(session, WebhookEndpoint.id.in_(gone), REASON_GONE, now)


def _disable(session: Session, where: sa.ColumnElement[bool], reason: str, now: datetime) -> None:
    """Disable the enabled endpoints ``where`` says; their pending deliveries are not sent
    (``recover`` replays them once the receiver is fixed)."""
    disabled = list(
        session.scalars(
            sa.update(WebhookEndpoint)
            .where(where, WebhookEndpoint.enabled.is_(True))
            .values(
                enabled=False,
                disabled_reason=reason,
                updated_at=now,
                row_version=WebhookEndpoint.row_version + 1,
            )
            .returning(WebhookEndpoint.id)
            .execution_options(synchronize_session=False)
        )
    )
    if disabled:
        test_events = select(Event.id).where(Event.type == "webhook.test")
        _fail_unsent(
            session,
            Delivery.endpoint_id.in_(disabled) & Delivery.event_id.not_in(test_events),
        )


# --------------------------------------------------------------------------- metrics


def backlog(session: Session, now: datetime | None = None) -> tuple[int, float]:
    """The outbox backlog: how many deliveries wait (pending ones, plus the events not yet
    fanned out made since the oldest enabled endpoint's registration), and the age in seconds
    of the oldest event among them (0 when none)."""
    now = now or utcnow()
    count, oldest = session.execute(
        select(func.count(), func.min(Event.created_at))
        .select_from(Delivery)
        .join(Event, Event.id == Delivery.event_id)
        .where(Delivery.status == "pending")
    ).one()
    count = int(count or 0)
    since = session.scalar(
        select(func.min(WebhookEndpoint.created_at)).where(WebhookEndpoint.enabled.is_(True))
    )
    if since is not None:
        position = cursor_value(session, FANNED_OUT)
        waiting, first = session.execute(
            select(func.count(), func.min(Event.created_at)).where(
                Event.seq > position,
                (Event.created_at >= since) | Event.endpoint_id.is_not(None),
            )
        ).one()
        count += int(waiting or 0)
        if first is not None and (oldest is None or first < oldest):
            oldest = first
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return count, age
