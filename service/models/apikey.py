"""API keys: stored as a lookup prefix and a SHA-256 hash, never as the secret.

Workers cache verified keys (:mod:`service.infra.key_cache`). Every flush that changes or
deletes a key (a revocation, its scopes) announces the key's id on the cache's channel in the
same transaction: the :func:`_keys_written` listener below, registered on every Session, so no
use case has to remember it. Core statements on the table (the last-use timestamp's) announce
nothing: they change nothing authentication decides.
"""

from __future__ import annotations

from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import String, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.infra.key_cache import KEYS_CHANNEL, announce
from service.infra.orm import Base, UTCDateTime, utcnow


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    preset: Mapped[str] = mapped_column(String(32))
    scopes: Mapped[str] = mapped_column(String(500))  # space-separated
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


@event.listens_for(Session, "after_flush")
def _keys_written(session: Session, _context: Any) -> None:
    """Announce every key this flush changed or deleted (a new key is in no cache yet)."""
    written = chain(session.deleted, (o for o in session.dirty if session.is_modified(o)))
    for key_id in sorted({o.id for o in written if isinstance(o, ApiKey)}):
        announce(session, KEYS_CHANNEL, key_id)
