"""The catalog's state token, and the one place that replaces it.

Workers cache the catalog (competencies, aliases, current role profiles) keyed by this token and
read the token with each request's authentication query, so a change made through any worker
or instance is seen by all of them on their next request, at no extra round trip.

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

from service.infra.orm import Base

STATE_ID = 1
CATALOG_TABLES = frozenset(
    {"competencies", "competency_aliases", "roles", "role_versions", "responsibilities"}
)


class CatalogState(Base):
    __tablename__ = "catalog_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32))


def replace_token(connection: Connection) -> None:
    """Give the catalog a new token, in the transaction of ``connection``."""
    token = uuid.uuid4().hex
    dialect_insert: Any = (
        postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    )
    # An upsert: two first writers on a fresh database must not collide on the missing row.
    statement = dialect_insert(CatalogState).values(id=STATE_ID, token=token)
    connection.execute(
        statement.on_conflict_do_update(index_elements=["id"], set_={"token": token})
    )


@event.listens_for(Session, "after_flush")
def _catalog_written(session: Session, _context: Any) -> None:
    """Replace the token when this flush wrote any row of a catalog table."""
    written = chain(
        session.new, session.deleted, (o for o in session.dirty if session.is_modified(o))
    )
    if any(getattr(obj, "__tablename__", None) in CATALOG_TABLES for obj in written):
        replace_token(session.connection())
