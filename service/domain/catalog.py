"""The catalog: taxonomy and current role profiles, cached per process, never stale.

Almost every request needs the competency names and the current role profiles, and they change
rarely. Every change to them replaces the token in ``catalog_state`` in the same transaction
(:mod:`service.models.catalog`); readers get the token for free with authentication (or from
the key cache's listener, :mod:`service.infra.key_cache`) and reuse the catalog cached for that
token (:mod:`service.infra.catalog_cache`), or build a new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import ScalarSelect, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from service.domain import scoring
from service.domain.taxonomy import Taxonomy, load_taxonomy
from service.infra.catalog_cache import TokenCache
from service.models import CatalogState, Competency, Responsibility, Role, RoleVersion
from service.models.catalog import STATE_ID


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


_cache: TokenCache[Catalog] = TokenCache(limit=8)


def token_query() -> ScalarSelect[str]:
    """A scalar subquery for the current token, to embed in another query."""
    return select(CatalogState.token).where(CatalogState.id == STATE_ID).scalar_subquery()


def token_sql() -> str:
    """The token's SELECT as PostgreSQL text, for the key cache's listener to read it."""
    statement = select(CatalogState.token).where(CatalogState.id == STATE_ID)
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def _read_token(session: Session) -> str | None:
    return session.scalar(select(CatalogState.token).where(CatalogState.id == STATE_ID))


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


def cached(database_key: str, token: str | None) -> Catalog | None:
    """The catalog cached for the database ``database_key`` (``str(engine.url)``) in the state
    ``token``, if any: what almost every request needs, without opening a session."""
    return _cache.get(database_key, token)


def current(session: Session, token: str | None = None) -> Catalog:
    """The catalog as the database has it now.

    ``token`` is the token the caller already read in this request (with authentication); when
    omitted it is read here. A catalog is cached only when the token read before building it
    equals the token read after, so a concurrent change can never be cached under the old one.
    """
    url = str(session.get_bind().engine.url)
    if token is None:
        token = _read_token(session)
    found = _cache.get(url, token)
    if found is not None:
        return found
    for _attempt in range(3):
        before = _read_token(session)
        built = _build(session, before)
        if before is not None and _read_token(session) == before:
            _cache.put(url, before, built)
            return built
    return built
