"""Unit tests of ``service.domain.fit``: which of two roles a candidate leans to, and why."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.api.matching import bodies
from service.domain.catalog import RoleProfile
from service.domain.fit import ASPECT_BY_CATEGORY, BALANCED, FitResult, fit
from service.domain.scoring import EVIDENCE_KINDS, Month, Record, Responsibility, score

AS_OF = Month(2026, 6)

# The built-in taxonomy and profiles of service/data/builtin.yaml:
# competency -> (category, tpm (importance, level, must_have), tmp (importance, level, must_have))
BUILT_IN: dict[str, tuple[str, tuple[int, int, bool], tuple[int, int, bool]]] = {
    "technical-depth": ("technical", (5, 4, True), (3, 2, False)),
    "engineering-collaboration": ("collaboration", (5, 4, False), (3, 3, False)),
    "technical-requirements": ("technical", (5, 4, False), (2, 2, False)),
    "project-lifecycle": ("delivery", (5, 4, False), (3, 3, False)),
    "stakeholder-communication": ("communication", (4, 3, False), (4, 4, False)),
    "program-oversight": ("delivery", (2, 2, False), (5, 4, False)),
    "cross-functional-engagement": ("collaboration", (2, 2, False), (5, 4, False)),
    "strategic-alignment": ("strategy", (2, 2, False), (5, 4, True)),
    "business-acumen": ("business", (1, 2, False), (4, 3, False)),
    "change-management": ("strategy", (1, 1, False), (4, 3, False)),
}
CATEGORIES = {key: category for key, (category, _, _) in BUILT_IN.items()}
TPM = tuple(Responsibility(k, *tpm) for k, (_, tpm, _) in BUILT_IN.items())
TMP = tuple(Responsibility(k, *tmp) for k, (_, _, tmp) in BUILT_IN.items())

TPM_LIKE = [  # deep technical, close to engineering, little strategy
    Record("technical-depth", 5, "assessment"),
    Record("technical-requirements", 4, "work-sample"),
    Record("engineering-collaboration", 4, "assessment"),
    Record("project-lifecycle", 4, "interview"),
    Record("stakeholder-communication", 3, "interview"),
    Record("strategic-alignment", 1, "self"),
]
TMP_LIKE = [  # strategy, cross-functional and business, light on technical depth
    Record("strategic-alignment", 4, "assessment"),
    Record("cross-functional-engagement", 4, "work-sample"),
    Record("program-oversight", 4, "interview"),
    Record("business-acumen", 3, "assessment"),
    Record("change-management", 3, "reference"),
    Record("stakeholder-communication", 4, "assessment"),
    Record("technical-depth", 2, "interview"),
    Record("project-lifecycle", 3, "self"),
]


def fit_builtin(records: list[Record], limit: int = 5) -> FitResult:
    return fit("tpm", TPM, "tmp", TMP, records, as_of=AS_OF, categories=CATEGORIES, limit=limit)


def test_a_tpm_like_candidate_leans_tpm() -> None:
    result = fit_builtin(TPM_LIKE)
    # tpm, sum I = 32: sum I c = 5 + 5 + 5 + 5 x 0.9 + 4 x (2.7 / 3) + 2 x (0.7 / 2) = 23.8,
    #   score 2380 / 32 = 74.375 -> 74.38 (half up)
    # tmp, sum I = 38: sum I c = 3 + 3 + 2 + 3 + 4 x (2.7 / 4) + 5 x (0.7 / 4) = 14.575,
    #   score 1457.5 / 38 = 38.355.. -> 38.36
    assert result.scores["tpm"].score_hundredths == 7438
    assert result.scores["tmp"].score_hundredths == 3836
    assert result.scores["tmp"].band == "not-qualified"  # strategic-alignment is a tmp must-have
    assert result.leaning == "tpm"
    assert result.margin == 36.02
    assert result.margin_hundredths == 3602
    top = result.differentiators[0]
    assert top.competency == "technical-requirements"  # 5/32 vs 2/38: the widest gap
    assert top.aspect == "technical depth"
    assert top.favours == "tpm"
    assert top.effect > 0
    assert top.candidate_coverage == 1.0
    assert {d.aspect for d in result.differentiators} >= {
        "technical depth",
        "stakeholder interaction",
    }


def test_a_tmp_like_candidate_leans_tmp() -> None:
    result = fit_builtin(TMP_LIKE)
    assert result.scores["tmp"].score_hundredths == 8026  # worked out in test_scoring
    assert result.scores["tpm"].band == "not-qualified"  # technical-depth 1.8 < 4
    assert result.leaning == "tmp"
    assert result.margin >= 5
    business = next(d for d in result.differentiators if d.competency == "business-acumen")
    assert business.favours == "tmp"
    assert business.aspect == "scope"
    assert business.effect < 0
    assert business.candidate_coverage == 1.0  # under tmp, which weights it more (4/38 > 1/32)
    assert business.coverage_a == 1.0
    assert business.coverage_b == 1.0


@pytest.mark.parametrize(
    "records",
    [
        [Record(k, 5, "assessment") for k in BUILT_IN],  # 100 and 100
        [Record(k, 3, "interview") for k in BUILT_IN],  # 78.44 and 80.07
        [],  # 0 and 0
    ],
    ids=["everything", "even-practitioner", "nothing"],
)
def test_an_even_candidate_is_balanced(records: list[Record]) -> None:
    result = fit_builtin(records)
    assert result.leaning == BALANCED
    assert result.margin < 5


def test_the_leaning_threshold_is_5_points_inclusive() -> None:
    # one responsibility each: role a scores level / 5, role b scores 0.
    a = [Responsibility("x", 1, 5)]
    b = [Responsibility("y", 1, 5)]
    just = fit("a", a, "b", b, [Record("x", 1, "self", Month(2010, 1))], as_of=AS_OF)
    # 1 x 0.7 x 0.5 = 0.35 of 5 -> 7.00 points
    assert just.margin_hundredths == 700
    assert just.leaning == "a"
    c = [Responsibility("x", 1, 5), *(Responsibility(f"z{i}", 5, 1) for i in range(3))]
    # 0.35 / 5 x 1 / 16 -> 0.4375 points: balanced
    close = fit("c", c, "b", b, [Record("x", 1, "self", Month(2010, 1))], as_of=AS_OF)
    assert close.margin_hundredths == 44
    assert close.leaning == BALANCED
    # exactly 5.00 points: a 1-of-4 importance row covered at 0.2 -> 100 x 1 x 0.2 / 4 = 5.00
    d = [Responsibility("x", 1, 5), Responsibility("w", 3, 1)]
    exact = fit("d", d, "b", b, [Record("x", 1, "assessment")], as_of=AS_OF)
    assert exact.margin_hundredths == 500
    assert exact.margin == 5.0
    assert exact.leaning == "d"
    reverse = fit("b", b, "d", d, [Record("x", 1, "assessment")], as_of=AS_OF)
    assert reverse.leaning == "d"


def test_differentiators_are_ordered_by_weight_gap_then_key() -> None:
    result = fit_builtin(TPM_LIKE, limit=10)
    gaps = {
        k: abs(Fraction(tpm[0], 32) - Fraction(tmp[0], 38)) for k, (_, tpm, tmp) in BUILT_IN.items()
    }
    expected = sorted(gaps, key=lambda k: (-gaps[k], k))
    assert [d.competency for d in result.differentiators] == expected
    # 5/32 - 2/38 is the widest gap, then the three 5/32 vs 3/38 ties in key order
    assert expected[:4] == [
        "technical-requirements",
        "engineering-collaboration",
        "project-lifecycle",
        "technical-depth",
    ]
    first = result.differentiators[0]
    assert first.weight_a == 0.1563  # 5/32 = 0.15625, half up
    assert first.weight_b == 0.0526  # 2/38 = 0.052631..


def test_default_limit_is_5_and_limit_is_respected() -> None:
    assert len(fit("tpm", TPM, "tmp", TMP, TPM_LIKE, as_of=AS_OF).differentiators) == 5
    assert len(fit_builtin(TPM_LIKE, limit=2).differentiators) == 2
    assert fit_builtin(TPM_LIKE, limit=0).differentiators == ()
    assert len(fit_builtin(TPM_LIKE, limit=50).differentiators) == 10


def test_aspects_follow_the_seed_articles_three_differences() -> None:
    result = fit_builtin(TMP_LIKE, limit=10)
    aspects = {d.competency: d.aspect for d in result.differentiators}
    assert aspects == {
        "technical-depth": "technical depth",
        "technical-requirements": "technical depth",
        "engineering-collaboration": "stakeholder interaction",
        "cross-functional-engagement": "stakeholder interaction",
        "stakeholder-communication": "stakeholder interaction",
        "project-lifecycle": "scope",
        "program-oversight": "scope",
        "strategic-alignment": "scope",
        "business-acumen": "scope",
        "change-management": "scope",
    }
    assert set(ASPECT_BY_CATEGORY.values()) == {
        "technical depth",
        "scope",
        "stakeholder interaction",
    }


def test_aspect_is_none_without_or_with_an_unknown_category() -> None:
    plain = fit("tpm", TPM, "tmp", TMP, TPM_LIKE, as_of=AS_OF)
    assert all(d.aspect is None for d in plain.differentiators)
    odd = fit(
        "tpm", TPM, "tmp", TMP, TPM_LIKE, as_of=AS_OF, categories=dict.fromkeys(BUILT_IN, "other")
    )
    assert all(d.aspect is None for d in odd.differentiators)


def test_competencies_in_one_role_only_and_equal_weights() -> None:
    a = [Responsibility("shared", 2, 3), Responsibility("only-a", 2, 3)]
    b = [Responsibility("shared", 1, 3), Responsibility("only-b", 1, 3)]
    result = fit("a", a, "b", b, [Record("only-a", 3, "assessment")], as_of=AS_OF)
    # weights: shared 1/2 vs 1/2 (equal: left out); only-a 1/2 vs 0; only-b 0 vs 1/2
    assert [d.competency for d in result.differentiators] == ["only-a", "only-b"]
    only_a, only_b = result.differentiators
    assert (only_a.weight_a, only_a.weight_b) == (0.5, 0.0)
    assert only_a.coverage_b is None
    assert only_a.coverage_a == 1.0
    assert only_a.candidate_coverage == 1.0
    assert only_a.effect == 50.0
    assert only_a.favours == "a"
    assert only_b.coverage_a is None
    assert only_b.coverage_b == 0.0
    assert only_b.effect == 0.0
    assert only_b.favours is None
    assert result.leaning == "a"
    assert result.margin == 50.0


def test_invalid_calls_are_rejected() -> None:
    with pytest.raises(ValueError, match="two different roles"):
        fit("tpm", TPM, "tpm", TMP, [], as_of=AS_OF)
    with pytest.raises(ValueError, match="limit"):
        fit("tpm", TPM, "tmp", TMP, [], as_of=AS_OF, limit=-1)
    with pytest.raises(ValueError, match="at least one"):
        fit("tpm", TPM, "x", [], [], as_of=AS_OF)


def test_the_api_body_has_the_fit_shape() -> None:
    profiles = {
        "tpm": RoleProfile(1, "tpm", 1, TPM, AS_OF.index),
        "tmp": RoleProfile(2, "tmp", 1, TMP, AS_OF.index),
    }
    now = datetime(2026, 6, 1, tzinfo=UTC)
    result = fit_builtin(TPM_LIKE)
    data = bodies.fit_body(uuid.uuid4(), result, profiles, AS_OF, now, "digest")
    assert data["leaning"] == "tpm"
    assert data["margin"] == 36.02
    assert set(data["scores"]) == {"tpm", "tmp"}
    assert {"competency", "weight_a", "weight_b", "candidate_coverage", "effect"} <= set(
        data["differentiators"][0]
    )


records_strategy = st.lists(
    st.builds(
        Record,
        st.sampled_from(list(BUILT_IN)),
        st.integers(0, 5),
        st.sampled_from(EVIDENCE_KINDS),
        st.none() | st.builds(Month, st.integers(2010, 2026), st.integers(1, 12)),
    ),
    max_size=12,
)


@given(records_strategy)
def test_fit_is_consistent_with_the_two_scores(records: list[Record]) -> None:
    result = fit_builtin(records, limit=10)
    a = score(TPM, records, as_of=AS_OF)
    b = score(TMP, records, as_of=AS_OF)
    assert result.scores == {"tpm": a, "tmp": b}
    diff = a.score_hundredths - b.score_hundredths
    assert result.margin_hundredths == abs(diff)
    assert result.margin == abs(diff) / 100
    if abs(diff) < 500:
        assert result.leaning == BALANCED
    else:
        assert result.leaning == ("tpm" if diff > 0 else "tmp")
    # no two built-in weights are equal, so all ten competencies are listed and their effects
    # (the differences of the shown contributions) add up to the score difference exactly
    assert len(result.differentiators) == 10
    assert sum(d.effect_hundredths for d in result.differentiators) == diff
    for d in result.differentiators:
        assert d.favours == ("tpm" if d.effect > 0 else "tmp" if d.effect < 0 else None)
        assert 0.0 <= d.candidate_coverage <= 1.0
        heavier = d.coverage_a if d.weight_a >= d.weight_b else d.coverage_b
        assert d.candidate_coverage == heavier


@given(records_strategy)
def test_swapping_the_roles_mirrors_the_result(records: list[Record]) -> None:
    ab = fit_builtin(records)
    ba = fit("tmp", TMP, "tpm", TPM, records, as_of=AS_OF, categories=CATEGORIES)
    assert ab.leaning == ba.leaning
    assert ab.margin == ba.margin
    assert [d.competency for d in ab.differentiators] == [d.competency for d in ba.differentiators]
    for x, y in zip(ab.differentiators, ba.differentiators, strict=True):
        assert x.effect_hundredths == -y.effect_hundredths
        assert x.favours == y.favours
        assert (x.weight_a, x.weight_b) == (y.weight_b, y.weight_a)
