"""The competency taxonomy: create, change, and resolve free-text names to canonical keys."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db import utcnow
from service.domain.errors import Conflict, Invalid, NotFound
from service.domain.text import closest, normalize_name
from service.models import Competency, CompetencyAlias


@dataclass(frozen=True)
class Taxonomy:
    """Every way to name a competency, normalized, mapped to (id, canonical key)."""

    by_name: dict[str, tuple[int, str]]
    key_by_id: dict[int, str]

    def resolve(self, name: str) -> tuple[int, str] | None:
        return self.by_name.get(normalize_name(name))

    def suggestions(self, name: str) -> list[str]:
        return closest(name, self.by_name)


def load_taxonomy(session: Session) -> Taxonomy:
    """One round trip for keys, one for aliases; the taxonomy is small (tens to hundreds)."""
    by_name: dict[str, tuple[int, str]] = {}
    key_by_id: dict[int, str] = {}
    for cid, key in session.execute(select(Competency.id, Competency.key)):
        by_name[normalize_name(key)] = (cid, key)
        key_by_id[cid] = key
    for cid, normalized in session.execute(
        select(CompetencyAlias.competency_id, CompetencyAlias.normalized)
    ):
        by_name.setdefault(normalized, (cid, key_by_id[cid]))
    return Taxonomy(by_name, key_by_id)


def resolve_names(
    taxonomy: Taxonomy, names: Sequence[str], field: str
) -> tuple[list[tuple[int, str]], dict[str, list[str]]]:
    """Resolve each name; return the resolved pairs and per-index errors for unknown names.

    ``field`` is the error path prefix, e.g. ``competencies`` gives ``competencies.3.competency``.
    Naming one competency twice (even through two aliases) is an error too.
    """
    resolved: list[tuple[int, str]] = []
    errors: dict[str, list[str]] = {}
    seen: dict[int, int] = {}
    for index, name in enumerate(names):
        hit = taxonomy.resolve(name)
        path = f"{field}.{index}.competency"
        if hit is None:
            hint = taxonomy.suggestions(name)
            message = f"unknown competency {name!r}"
            if hint:
                message += "; closest known: " + ", ".join(hint)
            errors[path] = [message]
            continue
        if hit[0] in seen:
            errors[path] = [f"{hit[1]!r} is already listed at index {seen[hit[0]]}"]
            continue
        seen[hit[0]] = index
        resolved.append(hit)
    return resolved, errors


def get_competency(session: Session, key: str) -> Competency:
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
    if session.scalar(
        select(CompetencyAlias.id).where(CompetencyAlias.normalized == normalize_name(key))
    ):
        raise Conflict(f"{key!r} is already an alias of another competency")
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
    """Apply a PATCH; ``aliases``, when given, replaces the whole list."""
    if "aliases" in changes:
        aliases = changes.pop("aliases")
        assert isinstance(aliases, list)
        cleaned = _check_aliases(session, competency.key, aliases, owner_id=competency.id)
        competency.aliases.clear()
        session.flush()
        competency.aliases.extend(
            CompetencyAlias(alias=a, normalized=n, position=i) for i, (a, n) in enumerate(cleaned)
        )
    for field, value in changes.items():
        setattr(competency, field, value)
    competency.updated_at = utcnow()
    session.flush()


def invalid_if(errors: dict[str, list[str]]) -> None:
    """Raise one 422 carrying every collected field error."""
    if errors:
        raise Invalid("some competencies are unknown or repeated", errors)
