"""Role profiles: creation, immutable versions, and the scoring view of a version."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db import utcnow
from service.domain import scoring
from service.domain.competencies import invalid_if, load_taxonomy, resolve_names
from service.domain.errors import Conflict, Invalid, NotFound, PreconditionFailed
from service.models import Competency, Responsibility, Role, RoleVersion

MAX_RESPONSIBILITIES = 100


@dataclass(frozen=True)
class RoleDraft:
    """The writable part of a role version, as the API or the built-in data gives it."""

    title: str
    summary: str
    focus: str
    responsibilities: Sequence[dict[str, Any]]


def _build_version(
    session: Session, role: Role, version: int, draft: RoleDraft, by_key: str | None
) -> RoleVersion:
    if not draft.responsibilities:
        raise Invalid(
            "a role needs at least one responsibility",
            {"responsibilities": ["at least one responsibility is required"]},
        )
    if len(draft.responsibilities) > MAX_RESPONSIBILITIES:
        raise Invalid(
            "too many responsibilities", {"responsibilities": [f"at most {MAX_RESPONSIBILITIES}"]}
        )
    taxonomy = load_taxonomy(session)
    resolved, errors = resolve_names(
        taxonomy, [r["competency"] for r in draft.responsibilities], "responsibilities"
    )
    invalid_if(errors)
    return RoleVersion(
        role=role,
        version=version,
        title=draft.title,
        summary=draft.summary,
        focus=draft.focus,
        created_at=utcnow(),
        created_by_key_id=by_key,
        responsibilities=[
            Responsibility(
                position=position,
                competency_id=competency_id,
                importance=item["importance"],
                level=item["level"],
                must_have=item.get("must_have", False),
                rationale=item.get("rationale", ""),
            )
            for position, ((competency_id, _), item) in enumerate(
                zip(resolved, draft.responsibilities, strict=True)
            )
        ],
    )


def get_role(session: Session, key: str) -> Role:
    role = session.scalar(select(Role).where(Role.key == key))
    if role is None:
        raise NotFound(f"no role {key!r}")
    return role


def get_version(session: Session, role: Role, version: int) -> RoleVersion:
    found = session.scalar(
        select(RoleVersion).where(RoleVersion.role_id == role.id, RoleVersion.version == version)
    )
    if found is None:
        raise NotFound(f"role {role.key!r} has no version {version}")
    return found


def current_version(session: Session, role: Role) -> RoleVersion:
    return get_version(session, role, role.current_version)


def create_role(session: Session, key: str, draft: RoleDraft, by_key: str | None) -> RoleVersion:
    """Create a role at version 1."""
    if session.scalar(select(Role.id).where(Role.key == key)) is not None:
        raise Conflict(f"role {key!r} already exists")
    now = utcnow()
    role = Role(key=key, current_version=1, created_at=now, updated_at=now)
    version = _build_version(session, role, 1, draft, by_key)
    session.add_all([role, version])
    session.flush()
    return version


def add_version(
    session: Session, role: Role, expected_version: int, draft: RoleDraft, by_key: str | None
) -> RoleVersion:
    """Write version n+1 if the role is still at ``expected_version`` (else 412, nothing written).

    The role row's ``current_version`` is the optimistic lock: of two PUTs racing from the same
    version, the second one's UPDATE matches no row and fails.
    """
    if role.current_version != expected_version:
        raise PreconditionFailed(
            f"role {role.key!r} is at version {role.current_version}, not {expected_version}"
        )
    new = _build_version(session, role, expected_version + 1, draft, by_key)
    session.add(new)
    role.current_version = expected_version + 1
    role.updated_at = utcnow()
    session.flush()
    return new


def scoring_view(session: Session, version: RoleVersion) -> tuple[scoring.Responsibility, ...]:
    """A version's responsibilities as the scoring model's plain data."""
    keys = dict(
        session.execute(
            select(Competency.id, Competency.key).where(
                Competency.id.in_([r.competency_id for r in version.responsibilities])
            )
        ).all()
    )
    return tuple(
        scoring.Responsibility(
            competency=keys[r.competency_id],
            importance=r.importance,
            level=r.level,
            must_have=r.must_have,
        )
        for r in version.responsibilities
    )


@dataclass(frozen=True)
class RoleProfile:
    """A role's current version as the scoring model needs it."""

    role_id: int
    key: str
    version: int
    responsibilities: tuple[scoring.Responsibility, ...]


# Role versions are immutable, so their responsibilities can be cached by version id in every
# process without ever going stale; only "which version is current" is read per request.
_RESPONSIBILITIES_CACHE: dict[int, tuple[scoring.Responsibility, ...]] = {}
_CACHE_LIMIT = 10_000


def _responsibilities(session: Session, version_ids: list[int]) -> None:
    missing = [v for v in version_ids if v not in _RESPONSIBILITIES_CACHE]
    if not missing:
        return
    if len(_RESPONSIBILITIES_CACHE) > _CACHE_LIMIT:
        _RESPONSIBILITIES_CACHE.clear()
    rows = session.execute(
        select(
            Responsibility.role_version_id,
            Competency.key,
            Responsibility.importance,
            Responsibility.level,
            Responsibility.must_have,
        )
        .join(Competency, Competency.id == Responsibility.competency_id)
        .where(Responsibility.role_version_id.in_(missing))
        .order_by(Responsibility.role_version_id, Responsibility.position)
    )
    grouped: dict[int, list[scoring.Responsibility]] = {v: [] for v in missing}
    for version_id, key, importance, level, must_have in rows:
        grouped[version_id].append(scoring.Responsibility(key, importance, level, must_have))
    for version_id, items in grouped.items():
        _RESPONSIBILITIES_CACHE[version_id] = tuple(items)


def current_profiles(session: Session, keys: Sequence[str] | None = None) -> list[RoleProfile]:
    """Every role (or those named) at its current version, ordered by key."""
    query = (
        select(Role.id, Role.key, Role.current_version, RoleVersion.id)
        .join(
            RoleVersion,
            (RoleVersion.role_id == Role.id) & (RoleVersion.version == Role.current_version),
        )
        .order_by(Role.key)
    )
    if keys is not None:
        query = query.where(Role.key.in_(list(keys)))
    rows = session.execute(query).all()
    _responsibilities(session, [row[3] for row in rows])
    return [
        RoleProfile(role_id, key, version, _RESPONSIBILITIES_CACHE[version_id])
        for role_id, key, version, version_id in rows
    ]
