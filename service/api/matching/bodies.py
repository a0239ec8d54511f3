"""Response bodies of the matching endpoints, in the shapes their schemas document.

Built directly as JSON-ready dicts (the schemas in :mod:`.schemas` are the documentation, and
schemathesis checks every response against them): dumping a match with its breakdown through
marshmallow would cost more than the rest of the request on these hot read paths.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from service.api.jsonio import rfc3339
from service.domain import fit, scoring
from service.domain.catalog import RoleProfile


def breakdown_row(row: scoring.BreakdownRow) -> dict[str, Any]:
    return {
        "competency": row.competency,
        "importance": row.importance,
        "required_level": row.required_level,
        "candidate_level": row.candidate_level,
        "effective_level": row.effective_level,
        "coverage": row.coverage,
        "contribution": row.contribution,
        "must_have": row.must_have,
        "met": row.met,
        "evidence": row.evidence,
        "confidence": row.confidence,
        "recency": row.recency,
        "surplus": row.surplus,
    }


def match_body(
    profile: RoleProfile,
    result: scoring.MatchResult,
    as_of: scoring.Month,
    now: datetime,
    records_digest: str,
) -> dict[str, Any]:
    """One role's explained score (``Match``)."""
    return {
        "role": profile.key,
        "role_version": profile.version,
        "model_version": result.model_version,
        "score": result.score,
        "band": result.band,
        "must_haves_met": result.must_haves_met,
        "breakdown": [breakdown_row(row) for row in result.breakdown],
        "inputs_hash": scoring.inputs_hash(profile.key, profile.version, records_digest, as_of),
        "as_of": str(as_of),
        "computed_at": rfc3339(now),
    }


def matches_body(
    scored: Sequence[tuple[RoleProfile, scoring.MatchResult]],
    as_of: scoring.Month,
    now: datetime,
    records_digest: str,
) -> list[dict[str, Any]]:
    return [match_body(p, result, as_of, now, records_digest) for p, result in scored]


def fit_body(
    candidate_id: uuid.UUID,
    result: fit.FitResult,
    profiles: dict[str, RoleProfile],
    as_of: scoring.Month,
    now: datetime,
    records_digest: str,
) -> dict[str, Any]:
    """The TPM-or-TMP comparison (``Fit``)."""
    return {
        "candidate_id": str(candidate_id),
        "roles": [result.role_a, result.role_b],
        "leaning": result.leaning,
        "margin": result.margin,
        "scores": {key: m.score for key, m in result.scores.items()},
        "matches": {
            key: match_body(profiles[key], m, as_of, now, records_digest)
            for key, m in result.scores.items()
        },
        "differentiators": [
            {
                "competency": d.competency,
                "aspect": d.aspect,
                "weight_a": d.weight_a,
                "weight_b": d.weight_b,
                "candidate_coverage": d.candidate_coverage,
                "coverage_a": d.coverage_a,
                "coverage_b": d.coverage_b,
                "effect": d.effect,
                "favours": d.favours,
            }
            for d in result.differentiators
        ],
    }


def ranking_items(rows: Sequence[Any]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Ranking page items (``RankingItem``) from :func:`service.domain.rankings.page` rows, and
    each candidate's rank key (for the cursor)."""
    items: list[dict[str, Any]] = []
    rank_keys: dict[str, int] = {}
    stamps: dict[datetime, str] = {}
    for candidate_uuid, name, headline, score, band, met, version, model, computed, rank in rows:
        candidate_id = str(candidate_uuid)
        rank_keys[candidate_id] = rank
        # Rows rescored together share computed_at: format each distinct value once.
        stamp = stamps.get(computed) or stamps.setdefault(computed, rfc3339(computed))
        items.append(
            {
                "candidate": {"id": candidate_id, "name": name, "headline": headline},
                "score": score / 100,
                "band": band,
                "must_haves_met": met,
                "role_version": version,
                "model_version": model,
                "computed_at": stamp,
            }
        )
    return items, rank_keys
