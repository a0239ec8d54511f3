"""The catalog's state token, and the one place that replaces it.

Workers cache the catalog (competencies, aliases, current role profiles) keyed by this token and
read the token with each request's authentication query, or, when the key is in the worker's key
cache, from the cache's listener, which follows every new token on :data:`CATALOG_CHANNEL`
(:mod:`service.infra.key_cache`): a change made through any worker or instance is seen by all of
them as soon as its notification arrives (by this worker at once), at no extra round trip.

Every flush that writes a row of a catalog table (a competency or alias, a role, a version or
responsibility, a role's ``scored_month``) replaces the token in the same transaction: the
:func:`_catalog_written` listener below, registered on every Session as the models are
imported. No use case has to remember to do it. Tokens are random and never reused, so a cache
entry cannot be mistaken for another state of the database, and a rolled-back token is never
seen by anyone.
"""

from __future__ import annotations

import uuid
from itertools import chain
from typing import Any

from sqlalchemy import Connection, String, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.infra.key_cache import CATALOG_CHANNEL, announce
from service.infra.orm import Base

STATE_ID = 1
CATALOG_TABLES = frozenset(
    {"competencies", "competency_aliases", "roles", "role_versions", "responsibilities"}
)


class CatalogState(Base):
    __tablename__ = "catalog_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32))


def replace_token(connection: Connection) -> str:
    """Give the catalog a new token, in the transaction of ``connection``; returns it."""
    token = uuid.uuid4().hex
    dialect_insert: Any = (
        postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    )
    # An upsert: two first writers on a fresh database must not collide on the missing row.
    statement = dialect_insert(CatalogState).values(id=STATE_ID, token=token)
    connection.execute(
        statement.on_conflict_do_update(index_elements=["id"], set_={"token": token})
    )
    return token


@event.listens_for(Session, "after_flush")
def _catalog_written(session: Session, _context: Any) -> None:
    """Replace the token when this flush wrote any row of a catalog table."""
    written = chain(
        session.new, session.deleted, (o for o in session.dirty if session.is_modified(o))
    )
    if any(getattr(obj, "__tablename__", None) in CATALOG_TABLES for obj in written):
        announce(session, CATALOG_CHANNEL, replace_token(session.connection()))
