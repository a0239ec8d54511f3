"""The taxonomy as name resolution sees it: every way to name a competency, to its key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain.errors import Invalid
from service.domain.text import closest, normalize_name
from service.models import Competency, CompetencyAlias


@dataclass(frozen=True)
class Taxonomy:
    """Every way to name a competency, normalized, mapped to (id, canonical key)."""

    by_name: dict[str, tuple[int, str]]
    key_by_id: dict[int, str]

    def resolve(self, name: str) -> tuple[int, str] | None:
        return self.by_name.get(normalize_name(name))

    def suggestions(self, name: str, n: int = 3) -> list[str]:
        """The closest competencies, as keys (with the alias that was close, when it was one)."""
        shown: list[str] = []
        seen: set[int] = set()
        for near in closest(name, self.by_name, n=n * 3):
            competency_id, key = self.by_name[near]
            if competency_id in seen:
                continue
            seen.add(competency_id)
            shown.append(key if near == key else f"{key} ({near!r})")
            if len(shown) == n:
                break
        return shown


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


def invalid_if(errors: dict[str, list[str]]) -> None:
    """Raise one 422 carrying every collected field error."""
    if errors:
        raise Invalid("some competencies are unknown or repeated", errors)
