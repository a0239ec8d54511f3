"""Events (events.md): every change recorded in the outbox by the use case that makes it.

A use case calls :func:`emit` (or :func:`emit_rows` for a batch, :func:`emit_from_select` for a
set-based change such as a role's rescoring) in its own transaction; the events commit with the
change or not at all. Payloads are thin: ids, keys, statuses, stages, scores and bands, never a
name, a contact field, a note or demographics (a test searches every payload).

Ordering: an event's ``seq`` is given when its transaction is about to commit (a
``before_commit`` listener): the ``seq`` cursor row is locked and advanced by the number of the
transaction's events, which are numbered in the order they were emitted. The lock is held until
the commit, so seqs increase in commit order: a reader who has seen seq N will never later find
an event with a lower seq (with seqs taken at insert time, a transaction that took seq 7 and
committed after one that took seq 8 would be skipped by a reader already past 8). The lock is
taken last, after every other lock of the transaction, so it cannot close a deadlock; the cost is
that transactions writing events commit one at a time (a few hundred microseconds each).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event as orm_event
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.domain.errors import NotFound
from service.infra.bulk import among, bulk_insert, chunked, rows_to_join
from service.infra.ids import event_id
from service.infra.orm import utcnow
from service.models import Delivery, DeliveryAttempt, Event, OutboxCursor

EVENT_TYPES = (
    "candidate.created",
    "candidate.updated",
    "candidate.erased",
    "match.band_changed",
    "role.created",
    "role.updated",
    "job.created",
    "job.updated",
    "job.status_changed",
    "application.created",
    "application.stage_changed",
    "application.rejected",
    "application.unrejected",
    "application.hired",
    "application.unhired",
    "webhook.test",
)
# Each family as a pattern (``application.*`` for every application event).
FAMILIES = tuple(sorted({t.split(".", 1)[0] + ".*" for t in EVENT_TYPES}))
# What an endpoint can subscribe to and the feed filter by: types and families (webhook.test
# goes to the one endpoint it tests, whatever it subscribed to).
TYPE_PATTERNS = tuple(t for t in (*EVENT_TYPES, *FAMILIES) if not t.startswith("webhook."))
# A transition's kind -> its event's type.
TRANSITION_EVENTS = {
    "created": "application.created",
    "moved": "application.stage_changed",
    "rejected": "application.rejected",
    "unrejected": "application.unrejected",
    "hired": "application.hired",
    "unhired": "application.unhired",
}

# session.info key: the ids of the events this transaction wrote without a seq. Numbering them
# by id, rather than finding them by ``seq IS NULL``, keeps the commit's work proportional to
# its own events: the partial index on unsequenced events keeps an entry for every event until
# VACUUM reaches it, and walking those under the seq lock cost 3-4 ms per commit at 200,000
# events, which made every write wait (a headline PATCH at 50 req/s, one client; bench.pipeline).
_PENDING = "rolefit.outbox.pending"


def emit(
    session: Session,
    type: str,
    subject: tuple[str, Any],
    data: dict[str, Any],
    *,
    endpoint_id: uuid.UUID | None = None,
) -> str:
    """Record one event of ``type`` about ``subject`` (resource type, id) in this transaction;
    its id."""
    return emit_rows(session, [(type, subject, data)], endpoint_id=endpoint_id)[0]


def emit_rows(
    session: Session,
    rows: Iterable[tuple[str, tuple[str, Any], dict[str, Any]]],
    *,
    endpoint_id: uuid.UUID | None = None,
) -> list[str]:
    """Record many events (type, subject, data) in one multi-row insert (COPY on PostgreSQL);
    their ids."""
    now = utcnow()
    values: list[dict[str, Any]] = [
        {
            "id": event_id(),
            "seq": None,
            "type": type,
            "subject_type": subject[0],
            "subject_id": str(subject[1]),
            "data": data,
            "endpoint_id": endpoint_id,
            "created_at": now,
        }
        for type, subject, data in rows
    ]
    if values:
        bulk_insert(session, Event, values)
        session.info.setdefault(_PENDING, []).extend(v["id"] for v in values)
    return [str(v["id"]) for v in values]


def emit_from_select(session: Session, rows: sa.Select[Any]) -> int:
    """Record the events ``rows`` selects, set-based and numbered as they are written; how many.

    ``rows`` gives the columns (id, type, subject_type, subject_id, data, created_at, seq): ids
    made in SQL with :func:`sql_event_id`, payloads with :func:`sql_json_object`, and the seq
    column :func:`sql_seq` (the rows' order). Numbering at insert takes the ``seq`` lock now
    rather than at the commit (a second pass over tens of thousands of new rows cost as much
    as writing them: bench.outbox), so call this last among the transaction's writes to rows
    that others lock (a role's rescoring does): the lock must not be waited on while it is held.
    """
    base = _lock_seq(session)
    columns = ["id", "type", "subject_type", "subject_id", "data", "created_at", "seq"]
    result = cast(
        sa.CursorResult[Any],
        session.execute(
            sa.insert(cast(sa.Table, Event.__table__)).from_select(columns, rows),
            {"seq_base": base},
            execution_options={"preserve_rowcount": True},
        ),
    )
    written = max(result.rowcount, 0)
    if written:
        _advance(session, "seq", written)
    return written


def sql_seq(*order_by: Any) -> sa.ColumnElement[int]:
    """The seq of each row of :func:`emit_from_select`, in the order of ``order_by``."""
    return sa.bindparam("seq_base", type_=sa.BigInteger) + func.row_number().over(order_by=order_by)


def _lock_seq(session: Session) -> int:
    """The ``seq`` cursor's value, its row locked until the transaction ends."""
    return _advance(session, "seq", 0)  # creates the row at 0 if missing, and locks it


def sql_event_id(dialect: str) -> sa.ColumnElement[str]:
    """A new event id made by the database: ``evt_`` and 32 random hex digits."""
    if dialect == "postgresql":
        return sa.literal("evt_") + func.replace(sa.cast(func.gen_random_uuid(), sa.Text), "-", "")
    return sa.literal("evt_") + func.lower(func.hex(func.randomblob(16)))


def sql_json_object(dialect: str, pairs: dict[str, Any]) -> sa.ColumnElement[Any]:
    """A JSON object built by the database from ``pairs`` (name -> SQL expression; a dict
    nests). Booleans need :func:`sql_json_bool` on SQLite, which has no boolean type."""
    arguments: list[Any] = []
    for name, value in pairs.items():
        arguments.append(sa.literal(name))
        arguments.append(sql_json_object(dialect, value) if isinstance(value, dict) else value)
    if dialect == "postgresql":
        return func.json_build_object(*arguments)
    return func.json_object(*arguments)


def sql_uuid(dialect: str) -> sa.ColumnElement[Any]:
    """A new random UUID made by the database, as a Uuid column stores it."""
    if dialect == "postgresql":
        return func.gen_random_uuid()
    return func.lower(func.hex(func.randomblob(16)))  # SQLite keeps 32 hex digits


def sql_uuid_text(dialect: str, column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """A UUID column as its usual text (SQLite keeps 32 hex digits without dashes)."""
    if dialect == "postgresql":
        return sa.cast(column, sa.Text)
    h = func.lower(sa.cast(column, sa.Text))
    parts = [
        func.substr(h, start, length)
        for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
    ]
    joined: sa.ColumnElement[Any] = parts[0]
    for part in parts[1:]:
        joined = joined + "-" + part
    return joined


def sql_json_bool(dialect: str, value: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    """A boolean column as a JSON ``true`` or ``false`` in :func:`sql_json_object`."""
    if dialect == "postgresql":
        return value
    return sa.case((value, func.json("true")), else_=func.json("false"))


@orm_event.listens_for(Session, "before_commit")
def _number_pending_events(session: Session) -> None:
    """Give this transaction's events their seqs, last thing before the commit (see the
    module docstring). Savepoints are left alone: the lock waits for the real commit. Ids of
    events a rolled-back savepoint or transaction wrote are not found and take no seq."""
    if session.in_nested_transaction():
        return
    emitted = session.info.pop(_PENDING, None)
    if not emitted:
        return
    session.flush()
    # Found by id alone, not with ``seq IS NULL``: the unique index on seq keeps an entry for
    # the unnumbered first version of every event until VACUUM, and PostgreSQL read it through
    # that index (201,078 entries at 200,000 events); without fresh statistics it scanned the
    # whole table instead, once per commit (a billion rows read by a million-candidate load).
    dialect = session.get_bind().dialect.name
    pending = sorted(
        id for chunk in chunked(emitted, 1000) for id in session.scalars(_existing(dialect, chunk))
    )
    if not pending:
        return
    first = _advance(session, "seq", len(pending)) - len(pending) + 1
    seqs = {id: first + offset for offset, id in enumerate(pending)}  # in id order
    for chunk in chunked(pending, 1000):  # one statement per thousand: a batch's 500 in one
        numbered = rows_to_join(
            session,
            "numbered",
            [sa.column("id", sa.String), sa.column("seq", sa.BigInteger)],
            [(id, seqs[id]) for id in chunk],
        )
        session.execute(
            sa.update(Event)
            .where(Event.id == numbered.c.id)
            .values(seq=numbered.c.seq)
            .execution_options(synchronize_session=False)
        )


def _existing(dialect: str, ids: Sequence[str]) -> sa.Select[Any]:
    """Those of ``ids`` that are stored (an event of a rolled-back savepoint is not)."""
    return select(Event.id).where(among(dialect, Event.id, ids))


@orm_event.listens_for(Session, "after_rollback")
def _forget_pending_events(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _advance(session: Session, name: str, by: int) -> int:
    """Add ``by`` to the cursor ``name`` (created at 0 when missing), row-locked until the
    transaction ends; its new value."""
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = cast(sa.Table, OutboxCursor.__table__)
    insert = module.insert(table).values(name=name, value=by)
    statement = insert.on_conflict_do_update(
        index_elements=["name"], set_={"value": table.c.value + by}
    ).returning(table.c.value)
    return int(session.execute(statement).scalar_one())


def cursor_value(session: Session, name: str) -> int:
    """The cursor ``name`` (0 before its first use)."""
    return int(session.scalar(select(OutboxCursor.value).where(OutboxCursor.name == name)) or 0)


# --------------------------------------------------------------------------- reading


def type_matches(patterns: Sequence[str], type: str) -> bool:
    """Whether ``type`` is one of ``patterns``, where ``application.*`` stands for every type
    of that family."""
    family = type.split(".", 1)[0]
    return any(p == type or p == f"{family}.*" for p in patterns)


def type_condition(patterns: Sequence[str]) -> sa.ColumnElement[bool]:
    """:func:`type_matches` in SQL."""
    exact = [p for p in patterns if not p.endswith(".*")]
    families = [p[:-1] for p in patterns if p.endswith(".*")]  # "application."
    conditions: list[sa.ColumnElement[bool]] = []
    if exact:
        conditions.append(Event.type.in_(exact))
    conditions.extend(Event.type.startswith(family, autoescape=True) for family in families)
    return sa.or_(*conditions)


def feed(
    session: Session,
    *,
    limit: int,
    after_seq: int | None = None,
    types: Sequence[str] | None = None,
    subject_id: str | None = None,
) -> list[Event]:
    """Committed events oldest first (by seq), strictly after ``after_seq``; the ones made for
    one endpoint (``webhook.test``) are not in the feed."""
    query = (
        select(Event)
        .where(Event.seq.is_not(None), Event.endpoint_id.is_(None))
        .order_by(Event.seq)
        .limit(limit)
    )
    if after_seq is not None:
        query = query.where(Event.seq > after_seq)
    if types:
        query = query.where(type_condition(types))
    if subject_id is not None:
        query = query.where(Event.subject_id == subject_id)
    return list(session.scalars(query))


def get_event(session: Session, id: str) -> Event:
    found = session.get(Event, id)
    if found is None or found.seq is None or found.endpoint_id is not None:
        raise NotFound(f"no event {id}")
    return found


# --------------------------------------------------------------------------- keeping


def redact_subjects(session: Session, subject_type: str, subject_ids: Sequence[Any]) -> None:
    """Part of erasure: the person's events (about them, or about their applications) keep
    their type, time and subject and lose their payload: a source's external id can name a
    person elsewhere, and an application's payload links it to them."""
    for start in range(0, len(subject_ids), 500):
        chunk = [str(i) for i in subject_ids[start : start + 500]]
        session.execute(
            sa.update(Event)
            .where(Event.subject_type == subject_type, Event.subject_id.in_(chunk))
            .values(data={})
            .execution_options(synchronize_session=False)
        )


def purge(session: Session, before: datetime) -> int:
    """Delete the events created before ``before`` (retention); how many. Their deliveries
    go with them."""
    old = select(Event.id).where(Event.created_at < before)
    deliveries = select(Delivery.id).where(Delivery.event_id.in_(old))
    # Explicit deletes, not the foreign keys' cascades: SQLite enforces those only on demand.
    session.execute(sa.delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(deliveries)))
    session.execute(sa.delete(Delivery).where(Delivery.event_id.in_(old)))
    result = cast(
        sa.CursorResult[Any],
        session.execute(sa.delete(Event).where(Event.created_at < before)),
    )
    return max(result.rowcount, 0)
