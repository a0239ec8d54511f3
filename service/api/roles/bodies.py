"""Response bodies of /v1/roles, in the shape :class:`.schemas.RoleSchema` documents."""

from __future__ import annotations

from typing import Any

from service.api.jsonio import rfc3339
from service.models import Role, RoleVersion


def role_body(role: Role, version: RoleVersion, keys: dict[int, str]) -> dict[str, Any]:
    """``role`` at ``version``; ``keys`` names competencies by id."""
    return {
        "title": version.title,
        "summary": version.summary,
        "focus": version.focus,
        "responsibilities": [
            {
                "competency": keys[r.competency_id],
                "importance": r.importance,
                "level": r.level,
                "must_have": r.must_have,
                "rationale": r.rationale,
            }
            for r in version.responsibilities
        ],
        "key": role.key,
        "version": version.version,
        "created_at": rfc3339(role.created_at),
        "updated_at": rfc3339(version.created_at),
    }
