"""The catalog: taxonomy and current role profiles, cached per process, never stale.

Almost every request needs the competency names and the current role profiles, and they change
rarely. Every change to them replaces the token in ``catalog_state`` in the same transaction
(:func:`changed`); readers get the token for free with authentication and reuse the cached
catalog built for that token, or build a new one. Tokens are random, never reused, so a cache
entry can never be mistaken for another state of the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import ScalarSelect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.domain import scoring
from service.domain.competencies import Taxonomy, load_taxonomy
from service.models import CatalogState, Competency, Responsibility, Role, RoleVersion

_STATE_ID = 1
_CACHE_LIMIT = 8


@dataclass(frozen=True)
class RoleProfile:
    """A role's current version as the scoring model needs it."""

    role_id: int
    key: str
    version: int
    responsibilities: tuple[scoring.Responsibility, ...]
    # Month index for which every stored match of the role was last recomputed.
    scored_month: int


@dataclass(frozen=True)
class Catalog:
    token: str | None
    taxonomy: Taxonomy
    categories: Mapping[str, str]
    roles: Mapping[str, RoleProfile]  # by key, in key order

    def profiles(self, keys: list[str] | None = None) -> list[RoleProfile]:
        """Current profiles of every role (or of ``keys`` that exist), ordered by key."""
        if keys is None:
            return list(self.roles.values())
        return [self.roles[k] for k in sorted(set(keys)) if k in self.roles]


_cache: dict[tuple[str, str], Catalog] = {}


def token_query() -> ScalarSelect[str]:
    """A scalar subquery for the current token, to embed in another query."""
    return select(CatalogState.token).where(CatalogState.id == _STATE_ID).scalar_subquery()


def changed(session: Session) -> None:
    """Mark the catalog changed, in the caller's transaction (every worker reloads it)."""
    token = uuid.uuid4().hex
    dialect_insert = (
        postgresql.insert if session.get_bind().dialect.name == "postgresql" else (sqlite.insert)
    )
    # An upsert: two first writers on a fresh database must not collide on the missing row.
    statement = dialect_insert(CatalogState).values(id=_STATE_ID, token=token)
    session.execute(statement.on_conflict_do_update(index_elements=["id"], set_={"token": token}))


def _read_token(session: Session) -> str | None:
    return session.scalar(select(CatalogState.token).where(CatalogState.id == _STATE_ID))


def _build(session: Session, token: str | None) -> Catalog:
    taxonomy = load_taxonomy(session)
    categories = dict(session.execute(select(Competency.key, Competency.category)).all())
    rows = session.execute(
        select(Role.id, Role.key, Role.current_version, Role.scored_month, RoleVersion.id)
        .join(
            RoleVersion,
            (RoleVersion.role_id == Role.id) & (RoleVersion.version == Role.current_version),
        )
        .order_by(Role.key)
    ).all()
    grouped: dict[int, list[scoring.Responsibility]] = {row[4]: [] for row in rows}
    for version_id, key, importance, level, must_have in session.execute(
        select(
            Responsibility.role_version_id,
            Competency.key,
            Responsibility.importance,
            Responsibility.level,
            Responsibility.must_have,
        )
        .join(Competency, Competency.id == Responsibility.competency_id)
        .where(Responsibility.role_version_id.in_(list(grouped)))
        .order_by(Responsibility.role_version_id, Responsibility.position)
    ):
        grouped[version_id].append(scoring.Responsibility(key, importance, level, must_have))
    roles = {
        key: RoleProfile(role_id, key, version, tuple(grouped[version_id]), scored_month)
        for role_id, key, version, scored_month, version_id in rows
    }
    return Catalog(token, taxonomy, categories, roles)


def cached(url: str, token: str | None) -> Catalog | None:
    """The catalog cached for the database at ``url`` (as ``str(engine.url)``) in the state
    ``token``, if any: what almost every request needs, without opening a session."""
    return _cache.get((url, token)) if token is not None else None


def current(session: Session, token: str | None = None) -> Catalog:
    """The catalog as the database has it now.

    ``token`` is the token the caller already read in this request (with authentication); when
    omitted it is read here. A catalog is cached only when the token read before building it
    equals the token read after, so a concurrent change can never be cached under the old one.
    """
    url = str(session.get_bind().engine.url)
    if token is None:
        token = _read_token(session)
    if token is not None and (url, token) in _cache:
        return _cache[(url, token)]
    for _attempt in range(3):
        before = _read_token(session)
        built = _build(session, before)
        if before is not None and _read_token(session) == before:
            if len(_cache) >= _CACHE_LIMIT:
                _cache.clear()
            _cache[(url, before)] = built
            return built
    return built
