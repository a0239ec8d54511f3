"""Role profiles: creation and immutable versions.

:func:`create_role` and :func:`add_version` are the only ways a role's current version comes to
be (the API, the built-in loader and scripts all call them), and each rescores every candidate
against it before returning, through :func:`_rescore`: a role that exists is always scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain import catalog, events, matching
from service.domain.competencies import KEY_PATTERN
from service.domain.errors import Conflict, Invalid, NotFound, PreconditionFailed
from service.domain.taxonomy import invalid_if, resolve_names
from service.infra.orm import utcnow
from service.models import Responsibility, Role, RoleVersion

MAX_RESPONSIBILITIES = 100
MAX_VERSION = 2**31 - 1  # a larger number in a URL cannot be a version (nor a SQL integer)


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
    taxonomy = catalog.current(session).taxonomy
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
    if not KEY_PATTERN.fullmatch(key):
        raise NotFound(f"no role {key!r}")
    role = session.scalar(select(Role).where(Role.key == key))
    if role is None:
        raise NotFound(f"no role {key!r}")
    return role


def get_version(session: Session, role: Role, version: int) -> RoleVersion:
    if not 1 <= version <= MAX_VERSION:
        raise NotFound(f"role {role.key!r} has no version {version}")
    found = session.scalar(
        select(RoleVersion).where(RoleVersion.role_id == role.id, RoleVersion.version == version)
    )
    if found is None:
        raise NotFound(f"role {role.key!r} has no version {version}")
    return found


def create_role(session: Session, key: str, draft: RoleDraft, by_key: str | None) -> RoleVersion:
    """Create a role at version 1 and score every candidate against it."""
    if session.scalar(select(Role.id).where(Role.key == key)) is not None:
        raise Conflict(f"role {key!r} already exists")
    now = utcnow()
    role = Role(key=key, current_version=1, created_at=now, updated_at=now)
    version = _build_version(session, role, 1, draft, by_key)
    session.add_all([role, version])
    session.flush()
    _rescore(session, role, "role.created")
    return version


def add_version(
    session: Session, role: Role, expected_version: int, draft: RoleDraft, by_key: str | None
) -> RoleVersion:
    """Write version n+1 if the role is still at ``expected_version`` (else 412, nothing written),
    and rescore every candidate against it.

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
    _rescore(session, role, "role.updated")
    return new


def _rescore(session: Session, role: Role, event_type: str) -> None:
    """A role's current version changed: every stored match of the role follows it, in this
    transaction, so no reader ever sees a score of a version that is no longer current; the
    candidates whose band changed get their events, and the role its own."""
    rescored = matching.rescore_role(session, role.id)
    events.emit(
        session,
        event_type,
        ("role", role.key),
        {
            "role": role.key,
            "version": role.current_version,
            "rescored": rescored.written,
            "band_changes": rescored.band_changes,
        },
    )
