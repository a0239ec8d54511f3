"""The model card (EU AI Act, Art. 13: information for deployers): the scoring model as data.

Every number here is read, when the card is built, from the objects the scoring code itself
uses (:mod:`service.domain.scoring`, :mod:`service.domain.fit`), or computed by calling its
functions (the recency table comes from ``scoring.recency_tenths``): never a second copy, so
the card cannot drift from the model (``tests/api/test_bias_audits.py`` changes the constants
and watches the card follow). The words (intended use, limits) are the model's documentation.
"""

from __future__ import annotations

from typing import Any

from service.domain import bias_audits, fit, scoring

FORMULA = (
    "For each responsibility r of the role (importance I, required level R) and the "
    "candidate's record for that competency (level L): effective level E = L x "
    "confidence(evidence) x recency(last_used), 0 without a record; coverage c = min(E / R, 1), "
    "so a surplus on one responsibility never makes up for another; score = 100 x sum(I c) / "
    "sum(I), rounded half up to hundredths, exact in integers. must_haves_met: E >= R for every "
    "must-have; a candidate who misses one keeps the score, is banded not-qualified and ranks "
    "below everyone who meets them all."
)
PROPERTIES = (
    "the score is between 0 and 100",
    "meeting every required level gives 100; no relevant record gives 0",
    "raising any candidate level never lowers any score",
    "a missing responsibility costs in proportion to its importance",
    "the breakdown's contributions add up exactly to the score",
    "the same inputs (model version, role version, records, month) give the same score and "
    "inputs_hash",
    "no protected characteristic is an input: self-identification is stored apart and no "
    "scoring, matching or ranking code can read it",
)
INTENDED_USE = "ranks candidates for human review; never rejects anyone by itself"
KNOWN_LIMITS = (
    "levels are reported by the candidate or the recruiter (evidence `self` is discounted, "
    "not verified)",
    "no résumé parsing: only the competency records given are scored",
    "the role profile's importances and levels are the employer's judgement",
    "recency is by month of last use only",
)
READING_A_BREAKDOWN = (
    "One row per responsibility: `candidate_level` as recorded, `effective_level` after "
    "confidence and recency, `coverage` = min(effective / required, 1), `contribution` = the "
    "points this row adds (rows add up to the score), `met` whether the required level is "
    "reached, `surplus` beyond it (never counted). A low score with a high surplus elsewhere "
    "means the profile is uneven, not weak."
)
OVERSIGHT = (
    "rolefit never changes an application's status by itself: every reject, move and hire is "
    "a request by an API key, recorded with its actor, note and the match snapshot shown",
    "a reject with reason missing-must-have for a candidate whose must-haves are met is "
    "refused (409)",
)


def _recency_table() -> list[dict[str, Any]]:
    """Recency by age in months, by asking ``scoring.recency_tenths`` (steps of the factor)."""
    as_of = scoring.Month(2500, 12)
    table: list[dict[str, Any]] = []
    age = 0
    while age <= 1200:  # a century: any model whose recency still changes then is a bug
        tenths = scoring.recency_tenths(scoring.Month.from_index(as_of.index - age), as_of)
        if table and table[-1]["factor"] == tenths / 10:
            table[-1]["to_months"] = age
        else:
            if table and tenths / 10 == scoring.MIN_RECENCY_TENTHS / 10:
                table.append({"from_months": age, "to_months": None, "factor": tenths / 10})
                return table
            table.append({"from_months": age, "to_months": age, "factor": tenths / 10})
        age += 1
    table[-1]["to_months"] = None
    return table


def model_card() -> dict[str, Any]:
    """The card, built now from the scoring module's objects."""
    bands = [
        {"band": name, "min_score": lowest / 100, "needs_must_haves": True}
        for name, lowest in scoring.BAND_THRESHOLDS_HUNDREDTHS
    ]
    bands.append({"band": "not-qualified", "min_score": 0.0, "needs_must_haves": False})
    return {
        "model_version": scoring.MODEL_VERSION,
        "formula": FORMULA,
        "constants": {
            "confidence_by_evidence": {
                kind: tenths / 10 for kind, tenths in scoring.EVIDENCE_CONFIDENCE_TENTHS.items()
            },
            "default_evidence": scoring.DEFAULT_EVIDENCE,
            "recent_months": scoring.RECENT_MONTHS,
            "minimum_recency": scoring.MIN_RECENCY_TENTHS / 10,
            "recency_by_age": _recency_table(),
            "unknown_last_used_counts_as_recent": scoring.recency_tenths(
                None, scoring.Month(2500, 12)
            )
            == 10,
            "bands": bands,
            "candidate_levels": [scoring.MIN_LEVEL, scoring.MAX_LEVEL],
            "required_levels": [scoring.MIN_REQUIRED_LEVEL, scoring.MAX_REQUIRED_LEVEL],
            "importances": [scoring.MIN_IMPORTANCE, scoring.MAX_IMPORTANCE],
            "fit_leaning_margin": fit.LEANING_MARGIN_HUNDREDTHS / 100,
        },
        "properties": list(PROPERTIES),
        "intended_use": INTENDED_USE,
        "known_limits": list(KNOWN_LIMITS),
        "reading_a_breakdown": READING_A_BREAKDOWN,
        "human_oversight": list(OVERSIGHT),
        "bias_audit_method_version": bias_audits.METHOD_VERSION,
    }
