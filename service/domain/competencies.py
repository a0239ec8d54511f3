"""The competency taxonomy: list, create and change competencies and their aliases.

Resolving free-text names to keys is :mod:`service.domain.taxonomy`'s; every change here
replaces the catalog token in the same transaction (:mod:`service.models.catalog`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from service.domain.errors import Conflict, NotFound
from service.domain.text import normalize_name
from service.infra.orm import utcnow
from service.models import Competency, CompetencyAlias


def contains_pattern(text: str) -> str:
    """A LIKE pattern (escape ``\\``) matching ``text`` anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_competencies(
    session: Session,
    *,
    limit: int,
    after: str | None = None,
    category: str | None = None,
    q: str | None = None,
) -> list[Competency]:
    """Up to ``limit`` competencies ordered by key, after the key ``after``.

    ``q`` is a case- and spacing-insensitive substring of the key, the name or an alias.
    """
    query = select(Competency).order_by(Competency.key).limit(limit)
    if category is not None:
        query = query.where(Competency.category == category)
    if q is not None:
        needle = contains_pattern(normalize_name(q))
        aliased = select(CompetencyAlias.competency_id).where(
            CompetencyAlias.normalized.like(needle, escape="\\")
        )
        query = query.where(
            or_(
                Competency.key.like(needle, escape="\\"),
                func.lower(Competency.name).like(needle, escape="\\"),
                Competency.id.in_(aliased),
            )
        )
    if after is not None:
        query = query.where(Competency.key > after)
    return list(session.scalars(query))


# Keys are slugs (the API's contract); anything else cannot name a row, and is not sent to the
# database, where a NUL or an overlong value would be an error rather than "not found".
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,63}$")


def get_competency(session: Session, key: str) -> Competency:
    if not KEY_PATTERN.fullmatch(key):
        raise NotFound(f"no competency {key!r}")
    competency = session.scalar(select(Competency).where(Competency.key == key))
    if competency is None:
        raise NotFound(f"no competency {key!r}")
    return competency


def _check_aliases(
    session: Session, competency_key: str, aliases: Iterable[str], owner_id: int | None
) -> list[tuple[str, str]]:
    """Clean and normalize aliases; a clash with another competency is a 409 naming it."""
    cleaned: list[tuple[str, str]] = []
    seen: set[str] = set()
    for alias in aliases:
        display = " ".join(alias.split())
        normalized = normalize_name(alias)
        if normalized in seen or normalized == normalize_name(competency_key):
            continue
        seen.add(normalized)
        cleaned.append((display, normalized))
    if not cleaned:
        return cleaned
    names = [n for _, n in cleaned]
    query = (
        select(CompetencyAlias.alias, Competency.key)
        .join(Competency)
        .where(CompetencyAlias.normalized.in_(names))
    )
    if owner_id is not None:
        query = query.where(Competency.id != owner_id)
    clash = session.execute(query.limit(1)).first()
    if clash is None:
        clash_key = session.scalar(select(Competency.key).where(Competency.key.in_(names)).limit(1))
        if clash_key is not None:
            raise Conflict(
                f"alias {clash_key!r} is the key of competency {clash_key!r}", owner=clash_key
            )
        return cleaned
    raise Conflict(
        f"alias {clash.alias!r} already belongs to competency {clash.key!r}", owner=clash.key
    )


def create_competency(
    session: Session,
    *,
    key: str,
    name: str,
    category: str,
    description: str = "",
    aliases: Sequence[str] = (),
) -> Competency:
    if session.scalar(select(Competency.id).where(Competency.key == key)) is not None:
        raise Conflict(f"competency {key!r} already exists", owner=key)
    owner = session.scalar(
        select(Competency.key)
        .join(CompetencyAlias)
        .where(CompetencyAlias.normalized == normalize_name(key))
    )
    if owner is not None:
        raise Conflict(f"{key!r} is already an alias of competency {owner!r}", owner=owner)
    cleaned = _check_aliases(session, key, aliases, owner_id=None)
    now = utcnow()
    competency = Competency(
        key=key,
        name=name,
        category=category,
        description=description,
        created_at=now,
        updated_at=now,
        aliases=[
            CompetencyAlias(alias=a, normalized=n, position=i) for i, (a, n) in enumerate(cleaned)
        ],
    )
    session.add(competency)
    session.flush()
    return competency


def update_competency(session: Session, competency: Competency, changes: dict[str, object]) -> None:
    """Apply a PATCH; ``aliases``, when given, replaces the whole list.

    The competency row is updated first: its version check (and, on PostgreSQL, its row lock)
    makes a concurrent PATCH from the same ETag fail cleanly before any alias is touched.
    """
    aliases = changes.pop("aliases", None)
    cleaned = None
    if aliases is not None:
        assert isinstance(aliases, list)
        cleaned = _check_aliases(session, competency.key, aliases, owner_id=competency.id)
    for field, value in changes.items():
        setattr(competency, field, value)
    competency.updated_at = utcnow()
    session.flush()
    if cleaned is not None:
        competency.aliases.clear()
        session.flush()
        competency.aliases.extend(
            CompetencyAlias(alias=a, normalized=n, position=i) for i, (a, n) in enumerate(cleaned)
        )
        session.flush()
