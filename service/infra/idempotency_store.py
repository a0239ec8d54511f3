"""Where ``Idempotency-Key`` claims and their stored responses live: ``idempotency_records``.

A claim is taken in its own short transaction (so a concurrent retry sees it at once and is told
the first request is in flight); the response is stored by :func:`complete` in the *request's*
transaction, so an acknowledged write and its replayable response commit together or not at all.
The HTTP side (which requests, fingerprints, replay headers) is
:mod:`service.api.unit_of_work`'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from service.infra.orm import utcnow
from service.models import IdempotencyRecord

# A claim older than this whose request never finished (worker killed, database gone) is
# abandoned: the next retry takes it over. Longer than gunicorn's worker timeout.
ABANDONED_AFTER = timedelta(seconds=35)


@dataclass(frozen=True)
class Claimed:
    """This request holds the key: run it, then :func:`complete` or :func:`release`."""

    record_id: int


@dataclass(frozen=True)
class Stored:
    """The key's first request finished: replay its response."""

    status: int
    body: str
    headers: dict[str, str]


class InFlight(Exception):
    """The key's first request is still running (or the claim could not be taken)."""


class OtherRequest(Exception):
    """The key was used with a different request (method, path or body)."""


def claim(
    sessions: sessionmaker[Session], key_id: str, key: str, fingerprint: str, ttl: timedelta
) -> Claimed | Stored:
    """Claim ``key`` of API key ``key_id`` for a request with ``fingerprint``.

    Raises :class:`OtherRequest` when the key belongs to another request, :class:`InFlight`
    while its first request runs. An expired record is replaced; an abandoned claim is taken over.
    """
    for _attempt in range(3):
        now = utcnow()
        with sessions() as session:
            record = session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.api_key_id == key_id, IdempotencyRecord.key == key
                )
            )
            if record is None:
                record = IdempotencyRecord(
                    api_key_id=key_id,
                    key=key,
                    fingerprint=fingerprint,
                    created_at=now,
                    expires_at=now + ttl,
                )
                session.add(record)
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    continue  # another request claimed it first: look again
                return Claimed(record.id)
            if record.expires_at <= now:
                session.delete(record)
                session.commit()
                continue
            if record.fingerprint != fingerprint:
                raise OtherRequest
            if record.response_status is not None:
                return Stored(
                    record.response_status,
                    record.response_body or "",
                    json.loads(record.response_headers or "{}"),
                )
            if now - record.created_at < ABANDONED_AFTER:
                raise InFlight
            if _take_over(session, record.id, record.created_at, now):
                return Claimed(record.id)
    raise InFlight


def _take_over(session: Session, record_id: int, created_at: datetime, now: datetime) -> bool:
    taken = session.execute(  # type: ignore[attr-defined]
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.id == record_id,
            IdempotencyRecord.created_at == created_at,
            IdempotencyRecord.response_status.is_(None),
        )
        .values(created_at=now)
    ).rowcount
    session.commit()
    return bool(taken)


def complete(
    session: Session, record_id: int, status: int, body: str, headers: dict[str, str]
) -> None:
    """Store the response of a claimed request, in the request's own transaction."""
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == record_id)
        .values(response_status=status, response_body=body, response_headers=json.dumps(headers))
    )


def release(sessions: sessionmaker[Session], record_id: int) -> None:
    """Forget a claim whose request failed, so that a retry runs it again.

    Only while it holds no response: if the commit did happen and only its acknowledgement was
    lost, the stored response stays, and the retry replays it instead of writing twice.
    """
    with sessions() as session:
        session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.id == record_id, IdempotencyRecord.response_status.is_(None)
            )
        )
        session.commit()


def purge_expired(session: Session) -> int:
    """Delete records past their expiry; returns how many (``rolefit maintenance`` runs it)."""
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
