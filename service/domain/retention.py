"""Retention: erase candidates nobody has touched for a given time, except those on legal hold.

``rolefit retention run --older-than DAYS`` calls :func:`run`. A candidate is *untouched* when
its ``updated_at`` (any change through the API: profile, records, legal hold) is older than the
cutoff. Each one is erased through :func:`service.domain.candidates.erase_candidate`, the same
path as ``DELETE /v1/candidates/{id}`` (tombstone included), and an ``erase`` audit event with
the job as actor is recorded in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from service.domain import audit
from service.domain.candidates import erase_candidate
from service.infra.orm import utcnow
from service.models import Candidate

RETENTION_ACTOR = "cli:retention"
CHUNK = 200


@dataclass
class RetentionReport:
    """What a run did (or, with ``dry_run``, would do)."""

    cutoff: datetime
    dry_run: bool
    run_id: str
    erased: list[tuple[uuid.UUID, datetime]] = field(default_factory=list)
    held: int = 0


def _expired(cutoff: datetime) -> sa.ColumnElement[bool]:
    return Candidate.updated_at < cutoff


def run(
    session: Session,
    *,
    older_than: timedelta,
    dry_run: bool = False,
    now: datetime | None = None,
    on_erased: Callable[[uuid.UUID, datetime], None] | None = None,
    on_chunk: Callable[[], None] | None = None,
) -> RetentionReport:
    """Erase (or list, with ``dry_run``) every candidate untouched since ``now - older_than``.

    Candidates are taken in chunks of :data:`CHUNK`; ``on_chunk`` (the caller's commit) runs
    after each, so a long run keeps its transactions short. Each chunk is re-read under a row
    lock (PostgreSQL) with the same conditions, so a candidate changed or put on hold since the
    run started is left alone.
    """
    cutoff = (now or utcnow()) - older_than
    report = RetentionReport(cutoff=cutoff, dry_run=dry_run, run_id=f"retention-{uuid.uuid4().hex}")
    actor = audit.Actor(RETENTION_ACTOR, request_id=report.run_id)
    report.held = int(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(Candidate)
            .where(_expired(cutoff), Candidate.legal_hold.is_(True))
        )
        or 0
    )
    due = list(
        session.execute(
            sa.select(Candidate.id, Candidate.updated_at)
            .where(_expired(cutoff), Candidate.legal_hold.is_(False))
            .order_by(Candidate.updated_at, Candidate.id)
        ).all()
    )
    if dry_run:
        for candidate_id, updated_at in due:
            report.erased.append((candidate_id, updated_at))
            if on_erased is not None:
                on_erased(candidate_id, updated_at)
        return report
    for start in range(0, len(due), CHUNK):
        chunk = [candidate_id for candidate_id, _ in due[start : start + CHUNK]]
        still_due = session.execute(
            sa.select(Candidate.id, Candidate.updated_at)
            .where(Candidate.id.in_(chunk), _expired(cutoff), Candidate.legal_hold.is_(False))
            .order_by(Candidate.updated_at, Candidate.id)
            .with_for_update()
        ).all()
        erased = list(still_due)
        for candidate_id, _updated_at in erased:
            erase_candidate(session, candidate_id, actor=RETENTION_ACTOR)
        audit.record(session, [audit.event(actor, "erase", "candidate", cid) for cid, _ in erased])
        if on_chunk is not None:
            on_chunk()
        # Reported once committed: what is printed has happened.
        for candidate_id, updated_at in erased:
            report.erased.append((candidate_id, updated_at))
            if on_erased is not None:
                on_erased(candidate_id, updated_at)
    return report
