"""The one door through the history's guards, and the audit trail's committed horizon.

On PostgreSQL, migration 0009 puts triggers on ``audit_events``, ``transitions`` and
``audit_seals`` that refuse every UPDATE, DELETE and TRUNCATE, with one exception: inside a
transaction that went through :func:`allow_history_rewrite` with the reason ``erasure``, an
UPDATE of ``transitions`` that only clears ``note`` passes (erasure anonymises the person's
transitions, pipeline.md). Nothing rewrites or deletes audit events or seals: they hold ids only
(no personal data), so erasure and retention leave them alone. SQLite has no such triggers (it is
the single-user, embedded default): there the seals (:mod:`service.domain.audit_seals`) are the
only evidence.

The allowance is a transaction-scoped setting (``set_config(..., true)``, as ``SET LOCAL``):
it ends with the transaction (commit, rollback, or a rolled-back savepoint) and the context
manager clears it as soon as the erasure's statements are done, so nothing else in the same
transaction rides on it. It does not protect against the database owner, who can disable
triggers; the seals are there for that. A later migration that has to rewrite these rows does
it between ``ALTER TABLE ... DISABLE TRIGGER`` and ``ENABLE TRIGGER`` in its own transaction.

:func:`committed_horizon` is what sealing needs from the driver: the highest audit event id such
that every event with a lower or equal id has been committed (see its docstring).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

SETTING = "rolefit.history_rewrite"
"""The transaction-scoped setting the triggers read (``current_setting(SETTING, true)``)."""

Reason = Literal["erasure"]


@contextmanager
def allow_history_rewrite(session: Session, reason: Reason) -> Iterator[None]:
    """Let the statements run inside this block pass the history's triggers for ``reason``.

    Costs two round trips on PostgreSQL (set, then clear); nothing on SQLite. On an error the
    setting is not cleared by hand: the failed transaction or savepoint takes it with it.
    """
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    session.execute(sa.select(sa.func.set_config(SETTING, reason, True)))
    yield
    session.execute(sa.select(sa.func.set_config(SETTING, "", True)))


class HorizonBusy(Exception):
    """The audit trail's writers did not let the seal's lock through in time; try later."""


def committed_horizon(
    engine: Engine, *, lock_timeout_ms: int = 500, attempts: int = 10
) -> int | None:
    """The highest ``audit_events.id`` at or below which every event is committed, or None
    when there is no event.

    Ids are taken from a sequence when a row is inserted, but transactions commit in any order:
    the buffered writer's batch or a request's change can commit id 100 after id 101 is visible.
    Sealing up to the highest visible id would then leave 100 outside every seal, or make
    ``verify`` call it an inserted row. So, on PostgreSQL, in a short transaction of its own,
    this takes ``LOCK TABLE audit_events IN SHARE MODE``: it is granted once every transaction
    that inserted an event (each holds ROW EXCLUSIVE until it ends, and takes it before its
    ids are drawn) has committed or rolled back, and while it is held no new insert starts.
    The highest id read under it is final; the lock is released at once (one SELECT).

    The price, once per seal: writers of the audit trail (the buffered writer's thread, a write
    request's ``audit.record``) wait for the lock's queue, at most ``lock_timeout_ms`` per
    attempt; an attempt that times out is retried after a pause, up to ``attempts`` times, then
    :class:`HorizonBusy` is raised. The role running it needs UPDATE, DELETE or TRUNCATE
    privilege on the table for that lock mode (the owner has them).

    On SQLite one writer runs at a time and a new row's id is one more than the highest
    committed one, so every uncommitted id is above the highest visible id: that is the horizon.
    """
    highest = sa.text("SELECT max(id) FROM audit_events")
    if engine.dialect.name != "postgresql":
        with engine.connect() as connection:
            return _id(connection.scalar(highest))
    for attempt in range(attempts):
        try:
            with engine.begin() as connection:
                connection.execute(sa.text(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}"))
                connection.execute(sa.text("LOCK TABLE audit_events IN SHARE MODE"))
                return _id(connection.scalar(highest))
        except sa.exc.OperationalError as error:
            if getattr(error.orig, "sqlstate", None) != "55P03":  # lock_not_available
                raise
            time.sleep(min(2.0, 0.1 * 2**attempt))
    raise HorizonBusy(
        f"audit_events stayed locked by writers for {attempts} attempts of {lock_timeout_ms} ms"
    )


def _id(value: Any) -> int | None:
    return None if value is None else int(value)
