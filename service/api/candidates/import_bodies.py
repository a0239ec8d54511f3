"""Response body of POST /v1/candidates/import, in the shape :mod:`.import_schemas` documents."""

from __future__ import annotations

from typing import Any

from service.domain.candidate_import import ImportResult
from service.domain.resume_import import Evidence, MappedRecord


def _evidence(found: Evidence) -> dict[str, Any]:
    return {"path": found.path, "text": found.text, "term": found.term}


def _mapped(record: MappedRecord) -> dict[str, Any]:
    level = record.level
    return {
        "competency": record.competency,
        "level": level.level,
        "years": record.years,
        "last_used": None if record.last_used is None else str(record.last_used),
        "evidence": record.evidence,
        "level_from": {
            "level": level.level,
            "rule": level.rule,
            "path": level.path,
            "text": level.text,
        },
        "skills": [_evidence(e) for e in record.skills],
        "work": [_evidence(e) for e in record.work],
    }


def import_body(
    result: ImportResult, candidate: dict[str, Any] | None, *, show_contact: bool
) -> dict[str, Any]:
    """The answer of an import; ``candidate`` is the stored candidate's body (None on a dry
    run); contact fields of the profile only when ``show_contact``."""
    profile = result.mapping.profile
    profile_body: dict[str, Any] = {"name": profile.name, "headline": profile.headline}
    if show_contact:
        profile_body |= {"email": profile.email, "phone": profile.phone}
    profile_body["years_experience"] = profile.years_experience
    return {
        "outcome": result.outcome,
        "candidate": candidate,
        "replaces": None if result.replaces is None else str(result.replaces),
        "profile": profile_body,
        "mapping": [_mapped(r) for r in result.mapping.records],
        "unmapped": [
            {
                "path": u.path,
                "text": u.text,
                "suggestions": [
                    {"competency": s.competency, "term": s.term} for s in u.suggestions
                ],
            }
            for u in result.mapping.unmapped
        ],
        "ignored": [{"path": i.path, "reason": i.reason} for i in result.ignored],
    }
