"""Which of two roles a candidate leans to, and why (pure, standard library only).

Both roles are scored with :func:`service.domain.scoring.score`. The candidate *leans* to the
higher-scoring role when the margin is at least :data:`LEANING_MARGIN_HUNDREDTHS` (5.00 points),
otherwise the result is ``"balanced"``.

The *differentiators* are the competencies whose weight (importance / total importance of the
role) differs between the two roles, the biggest difference first. For each, ``effect`` is the
competency's contribution to role a's score minus its contribution to role b's score (the
apportioned hundredths shown in the breakdowns), so a positive effect pushed the candidate towards
role a; over *all* competencies the effects add up exactly to ``score_a - score_b``. ``aspect``
names which of the seed article's three key differences the competency belongs to (technical
depth, scope, stakeholder interaction), from its category.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from service.domain.scoring import (
    BreakdownRow,
    MatchResult,
    Month,
    Record,
    Responsibility,
    score,
)

__all__ = [
    "ASPECT_BY_CATEGORY",
    "BALANCED",
    "LEANING_MARGIN_HUNDREDTHS",
    "Differentiator",
    "FitResult",
    "fit",
]

BALANCED = "balanced"
"""The leaning when neither role wins by the margin."""

LEANING_MARGIN_HUNDREDTHS = 500
"""Smallest score difference (in hundredths, i.e. 5.00 points) that makes a leaning."""

ASPECT_BY_CATEGORY: dict[str, str] = {
    "technical": "technical depth",
    "strategy": "scope",
    "business": "scope",
    "delivery": "scope",
    "collaboration": "stakeholder interaction",
    "communication": "stakeholder interaction",
}
"""Competency category -> the key difference between the roles it speaks to."""


@dataclass(frozen=True, slots=True)
class Differentiator:
    """A competency weighted differently by the two roles, and which way it pushed.

    Weights and coverages are presentation floats rounded to 4 decimals; ``coverage_a`` /
    ``coverage_b`` are ``None`` when that role does not list the competency. ``effect`` is in score
    points (``effect_hundredths / 100``); ``favours`` is the role it pushed towards, ``None`` when
    it pushed neither way.
    """

    competency: str
    weight_a: float
    weight_b: float
    candidate_coverage: float
    coverage_a: float | None
    coverage_b: float | None
    effect: float
    effect_hundredths: int
    favours: str | None
    aspect: str | None


@dataclass(frozen=True, slots=True)
class FitResult:
    """The comparison of one candidate against two roles."""

    role_a: str
    role_b: str
    leaning: str
    margin: float
    margin_hundredths: int
    scores: Mapping[str, MatchResult]
    differentiators: tuple[Differentiator, ...]


def _round4(value: Fraction) -> float:
    """A non-negative fraction rounded half up to 4 decimals, as a float."""
    scaled = value * 10000
    return ((2 * scaled.numerator + scaled.denominator) // (2 * scaled.denominator)) / 10000


def _weights(responsibilities: Sequence[Responsibility]) -> dict[str, Fraction]:
    total = sum(r.importance for r in responsibilities)
    return {r.competency: Fraction(r.importance, total) for r in responsibilities}


def fit(
    role_a: str,
    resp_a: Sequence[Responsibility],
    role_b: str,
    resp_b: Sequence[Responsibility],
    records: Iterable[Record],
    *,
    as_of: Month,
    categories: Mapping[str, str] | None = None,
    limit: int = 5,
) -> FitResult:
    """Compare a candidate's records against two roles.

    ``categories`` maps competency keys to their category (for ``aspect``); ``limit`` caps the
    number of differentiators (0 for none). Raises ``ValueError`` when the two role keys are
    equal, ``limit`` is negative, or either role is invalid for :func:`~scoring.score`.
    """
    if role_a == role_b:
        raise ValueError("fit compares two different roles")
    if limit < 0:
        raise ValueError("limit must not be negative")
    records = tuple(records)
    result_a = score(resp_a, records, as_of=as_of)
    result_b = score(resp_b, records, as_of=as_of)

    diff = result_a.score_hundredths - result_b.score_hundredths
    margin = abs(diff)
    leaning = role_a if diff > 0 else role_b
    if margin < LEANING_MARGIN_HUNDREDTHS:
        leaning = BALANCED

    weights_a, weights_b = _weights(resp_a), _weights(resp_b)
    rows_a = {row.competency: row for row in result_a.breakdown}
    rows_b = {row.competency: row for row in result_b.breakdown}
    competencies = sorted(
        (c for c in weights_a.keys() | weights_b.keys() if weights_a.get(c) != weights_b.get(c)),
        key=lambda c: (-abs(weights_a.get(c, Fraction(0)) - weights_b.get(c, Fraction(0))), c),
    )

    category_of: Mapping[str, str] = categories or {}
    differentiators: list[Differentiator] = []
    for competency in competencies[:limit]:
        w_a = weights_a.get(competency, Fraction(0))
        w_b = weights_b.get(competency, Fraction(0))
        row_a, row_b = rows_a.get(competency), rows_b.get(competency)
        effect = _contribution(row_a) - _contribution(row_b)
        heavier = row_a if w_a >= w_b else row_b  # the role weighting it more lists it
        category = category_of.get(competency)
        differentiators.append(
            Differentiator(
                competency=competency,
                weight_a=_round4(w_a),
                weight_b=_round4(w_b),
                candidate_coverage=0.0 if heavier is None else heavier.coverage,
                coverage_a=None if row_a is None else row_a.coverage,
                coverage_b=None if row_b is None else row_b.coverage,
                effect=effect / 100,
                effect_hundredths=effect,
                favours=role_a if effect > 0 else role_b if effect < 0 else None,
                aspect=None if category is None else ASPECT_BY_CATEGORY.get(category),
            )
        )

    return FitResult(
        role_a=role_a,
        role_b=role_b,
        leaning=leaning,
        margin=margin / 100,
        margin_hundredths=margin,
        scores={role_a: result_a, role_b: result_b},
        differentiators=tuple(differentiators),
    )


def _contribution(row: BreakdownRow | None) -> int:
    return 0 if row is None else row.contribution_hundredths
