"""Response bodies of /v1/competencies, as :class:`.schemas.CompetencySchema` documents them."""

from __future__ import annotations

from typing import Any

from service.api.jsonio import rfc3339
from service.models import Competency


def competency_body(competency: Competency) -> dict[str, Any]:
    return {
        "key": competency.key,
        "name": competency.name,
        "category": competency.category,
        "description": competency.description,
        "aliases": [a.alias for a in competency.aliases],
        "created_at": rfc3339(competency.created_at),
        "updated_at": rfc3339(competency.updated_at),
    }
