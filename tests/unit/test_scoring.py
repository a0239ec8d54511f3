"""Unit tests of the scoring model (``service.domain.scoring``), v1.

The properties of the scoring model (README, "How a score is computed") are checked with
hypothesis against an independent reference that uses exact rationals (``fractions.Fraction``)
and the model's wording (confidence 0.9, recency "minus 0.1 per year"), not the module's integer
tricks. Worked examples are computed by hand in the comments.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.api.matching import bodies
from service.domain.catalog import RoleProfile
from service.domain.scoring import (
    BANDS,
    EVIDENCE_CONFIDENCE_TENTHS,
    EVIDENCE_KINDS,
    MODEL_VERSION,
    MatchResult,
    Month,
    Record,
    Responsibility,
    band_for,
    inputs_hash,
    recency_tenths,
    records_digest,
    score,
)

AS_OF = Month(2026, 6)

# The built-in profiles of service/data/builtin.yaml: competency -> (importance, level, must_have).
TPM_TABLE: dict[str, tuple[int, int, bool]] = {
    "technical-depth": (5, 4, True),
    "engineering-collaboration": (5, 4, False),
    "technical-requirements": (5, 4, False),
    "project-lifecycle": (5, 4, False),
    "stakeholder-communication": (4, 3, False),
    "program-oversight": (2, 2, False),
    "cross-functional-engagement": (2, 2, False),
    "strategic-alignment": (2, 2, False),
    "business-acumen": (1, 2, False),
    "change-management": (1, 1, False),
}
TMP_TABLE: dict[str, tuple[int, int, bool]] = {
    "technical-depth": (3, 2, False),
    "engineering-collaboration": (3, 3, False),
    "technical-requirements": (2, 2, False),
    "project-lifecycle": (3, 3, False),
    "stakeholder-communication": (4, 4, False),
    "program-oversight": (5, 4, False),
    "cross-functional-engagement": (5, 4, False),
    "strategic-alignment": (5, 4, True),
    "business-acumen": (4, 3, False),
    "change-management": (4, 3, False),
}


def profile(table: dict[str, tuple[int, int, bool]]) -> tuple[Responsibility, ...]:
    return tuple(Responsibility(c, i, lvl, must) for c, (i, lvl, must) in table.items())


@pytest.fixture
def tpm() -> tuple[Responsibility, ...]:
    return profile(TPM_TABLE)


@pytest.fixture
def tmp() -> tuple[Responsibility, ...]:
    return profile(TMP_TABLE)


# --------------------------------------------------------------------------- reference model

CONFIDENCE = {
    "assessment": Fraction(1),
    "work-sample": Fraction(1),
    "interview": Fraction(9, 10),
    "reference": Fraction(8, 10),
    "self": Fraction(7, 10),
}


def ref_recency(last_used: Month | None, as_of: Month) -> Fraction:
    """1.0 within the last 3 years (or unknown), then minus 0.1 per started year, at least 0.5."""
    if last_used is None:
        return Fraction(1)
    age = max(0, (as_of.year - last_used.year) * 12 + as_of.month - last_used.month)
    if age <= 36:
        return Fraction(1)
    return max(Fraction(1, 2), 1 - Fraction(math.ceil(Fraction(age - 36, 12)), 10))


def ref_effective(record: Record | None, as_of: Month) -> Fraction:
    if record is None:
        return Fraction(0)
    return record.level * CONFIDENCE[record.evidence] * ref_recency(record.last_used, as_of)


def ref_score(
    resps: Sequence[Responsibility], records: Sequence[Record], as_of: Month
) -> tuple[Fraction, list[Fraction]]:
    """Exact score and exact per-row contributions, in points."""
    best: dict[str, Fraction] = {}
    for rec in records:
        best[rec.competency] = max(best.get(rec.competency, Fraction(0)), ref_effective(rec, as_of))
    total = sum(r.importance for r in resps)
    contributions = [
        100 * r.importance * min(best.get(r.competency, Fraction(0)) / r.level, Fraction(1)) / total
        for r in resps
    ]
    return sum(contributions, Fraction(0)), contributions


def half_up_hundredths(points: Fraction) -> int:
    return math.floor(points * 100 + Fraction(1, 2))


# --------------------------------------------------------------------------- strategies

COMPETENCIES = [f"c{i:02d}" for i in range(12)]

months = st.builds(Month, st.integers(1990, 2030), st.integers(1, 12))
evidence = st.sampled_from(EVIDENCE_KINDS)
importance = st.integers(1, 5)
required = st.integers(1, 5)


@st.composite
def roles(draw: st.DrawFn, min_size: int = 1) -> tuple[Responsibility, ...]:
    keys = draw(st.lists(st.sampled_from(COMPETENCIES), min_size=min_size, max_size=8, unique=True))
    return tuple(
        Responsibility(k, draw(importance), draw(required), draw(st.booleans())) for k in keys
    )


def records_for(keys: Sequence[str]) -> st.SearchStrategy[list[Record]]:
    """Zero or more records (duplicates allowed) for the given competencies."""
    return st.lists(
        st.builds(
            Record,
            st.sampled_from(list(keys)),
            st.integers(0, 5),
            evidence,
            st.none() | months,
        ),
        max_size=12,
    )


@st.composite
def role_and_records(draw: st.DrawFn) -> tuple[tuple[Responsibility, ...], list[Record]]:
    resps = draw(roles())
    return resps, draw(records_for(COMPETENCIES))


def recent_month() -> st.SearchStrategy[Month | None]:
    # within 36 months of AS_OF, or in the future, or unknown: all fully recent
    return st.none() | st.integers(AS_OF.index - 36, AS_OF.index + 24).map(Month.from_index)


def hundredths_sum(result: MatchResult) -> int:
    return sum(row.contribution_hundredths for row in result.breakdown)


# --------------------------------------------------------------------------- properties


@given(role_and_records(), months)
def test_score_is_the_exact_rational_score_rounded_half_up(
    case: tuple[tuple[Responsibility, ...], list[Record]], as_of: Month
) -> None:
    resps, records = case
    result = score(resps, records, as_of=as_of)
    exact, contributions = ref_score(resps, records, as_of)

    assert result.score_hundredths == half_up_hundredths(exact)
    assert 0 <= result.score_hundredths <= 10000
    assert 0.0 <= result.score <= 100.0
    assert result.score == result.score_hundredths / 100
    assert result.model_version == MODEL_VERSION
    assert [row.competency for row in result.breakdown] == [r.competency for r in resps]
    for row, exact_row in zip(result.breakdown, contributions, strict=True):
        # largest remainder: every row is its exact value rounded down or up, never further
        assert math.floor(exact_row * 100) <= row.contribution_hundredths
        assert row.contribution_hundredths <= math.ceil(exact_row * 100)
        assert row.contribution == row.contribution_hundredths / 100


@given(role_and_records(), months)
def test_contributions_add_up_exactly_to_the_score(
    case: tuple[tuple[Responsibility, ...], list[Record]], as_of: Month
) -> None:
    resps, records = case
    result = score(resps, records, as_of=as_of)
    assert hundredths_sum(result) == result.score_hundredths
    assert sum(Decimal(str(row.contribution)) for row in result.breakdown) == Decimal(
        str(result.score)
    )


@given(roles(), st.data())
def test_meeting_every_required_level_with_strong_recent_evidence_gives_100_and_strong(
    resps: tuple[Responsibility, ...], data: st.DataObject
) -> None:
    records = [
        Record(
            r.competency,
            data.draw(st.integers(r.level, 5)),
            data.draw(st.sampled_from(["assessment", "work-sample"])),
            data.draw(recent_month()),
        )
        for r in resps
    ]
    result = score(resps, records, as_of=AS_OF)
    assert result.score_hundredths == 10000
    assert result.score == 100.0
    assert result.band == "strong"
    assert result.must_haves_met
    assert all(row.met and row.coverage == 1.0 for row in result.breakdown)


@st.composite
def records_meeting(draw: st.DrawFn, keys: Sequence[str]) -> tuple[list[Record], dict[str, int]]:
    """Records of any evidence and age, and for each the highest level they meet (>= 1)."""
    records: list[Record] = []
    meets: dict[str, int] = {}
    for key in keys:
        level = draw(st.integers(2, 5))  # 2 x 0.7 x 0.5 = 0.7 would meet nothing: filter below
        rec = Record(key, level, draw(evidence), draw(st.none() | months))
        e = ref_effective(rec, AS_OF)
        if e < 1:
            rec = replace(rec, level=5, evidence="assessment", last_used=None)
            e = Fraction(5)
        records.append(rec)
        meets[key] = min(5, math.floor(e))
    return records, meets


@given(st.lists(st.sampled_from(COMPETENCIES), min_size=1, max_size=8, unique=True), st.data())
def test_meeting_every_required_level_gives_100_whatever_the_evidence(
    keys: list[str], data: st.DataObject
) -> None:
    records, meets = data.draw(records_meeting(keys))
    resps = [
        Responsibility(k, data.draw(importance), data.draw(st.integers(1, meets[k])), True)
        for k in keys
    ]
    result = score(resps, records, as_of=AS_OF)
    assert result.score_hundredths == 10000
    assert result.band == "strong"
    assert result.must_haves_met


@given(roles(), st.lists(st.sampled_from(COMPETENCIES), max_size=6), months)
def test_no_relevant_record_gives_0(
    resps: tuple[Responsibility, ...], zero_level_keys: list[str], as_of: Month
) -> None:
    unrelated = [Record(f"other-{i}", 5, "assessment") for i in range(3)]
    zero = [Record(k, 0, "assessment") for k in zero_level_keys]  # a level-0 record is "none"
    result = score(resps, [*unrelated, *zero], as_of=as_of)
    assert result.score_hundredths == 0
    assert all(row.contribution_hundredths == 0 for row in result.breakdown)
    for row in result.breakdown:
        assert row.candidate_level == (0 if row.competency in zero_level_keys else None)
    expected_band = "not-qualified" if any(r.must_have for r in resps) else "weak"
    assert result.band == expected_band


def _improve(record: Record, data: st.DataObject) -> Record:
    """The same record with a level, evidence or recency no worse (and usually better)."""
    level = data.draw(st.integers(record.level, 5))
    stronger = [
        kind
        for kind in EVIDENCE_KINDS
        if EVIDENCE_CONFIDENCE_TENTHS[kind] >= EVIDENCE_CONFIDENCE_TENTHS[record.evidence]
    ]
    kind = data.draw(st.sampled_from(stronger))
    if record.last_used is None:
        last_used: Month | None = None
    else:
        later = st.integers(record.last_used.index, 2999 * 12 + 11).map(Month.from_index)
        last_used = data.draw(st.none() | later)
    return Record(record.competency, level, kind, last_used)


@given(role_and_records(), months, st.data())
def test_improving_a_record_never_lowers_the_score(
    case: tuple[tuple[Responsibility, ...], list[Record]], as_of: Month, data: st.DataObject
) -> None:
    resps, records = case
    before = score(resps, records, as_of=as_of)
    if records:
        i = data.draw(st.integers(0, len(records) - 1))
        better = [*records[:i], _improve(records[i], data), *records[i + 1 :]]
    else:  # a new record can only add
        better = [Record(resps[0].competency, data.draw(st.integers(0, 5)), data.draw(evidence))]
    after = score(resps, better, as_of=as_of)
    assert after.score_hundredths >= before.score_hundredths
    for old, new in zip(before.breakdown, after.breakdown, strict=True):
        assert new.capped_hundredths >= old.capped_hundredths
    if before.must_haves_met:
        assert after.must_haves_met


@pytest.mark.parametrize("field", ["level", "evidence", "last_used"])
def test_each_improvement_alone_raises_a_partial_score(field: str) -> None:
    resps = [Responsibility("x", 3, 5)]
    old = Record("x", 3, "self", Month(2018, 6))  # 3 x 0.7 x 0.7 = 1.47 of 5
    new = {
        "level": replace(old, level=4),
        "evidence": replace(old, evidence="interview"),
        "last_used": replace(old, last_used=Month(2025, 1)),
    }[field]
    assert (
        score(resps, [new], as_of=AS_OF).score_hundredths
        > score(resps, [old], as_of=AS_OF).score_hundredths
    )


@given(roles(min_size=0), st.data(), st.integers(1, 5), st.integers(1, 5))
def test_a_missing_importance_5_responsibility_costs_more_than_a_missing_importance_1(
    others: tuple[Responsibility, ...], data: st.DataObject, level5: int, level1: int
) -> None:
    resps = [
        *(r for r in others if r.competency not in {"heavy", "light"}),
        Responsibility("heavy", 5, level5),
        Responsibility("light", 1, level1),
    ]
    base = data.draw(records_for([r.competency for r in resps]))
    base = [r for r in base if r.competency not in {"heavy", "light"}]
    full = {
        "heavy": Record("heavy", 5, "assessment"),
        "light": Record("light", 5, "assessment"),
    }
    without_heavy = score(resps, [*base, full["light"]], as_of=AS_OF)
    without_light = score(resps, [*base, full["heavy"]], as_of=AS_OF)
    everything = score(resps, [*base, *full.values()], as_of=AS_OF)
    cost_heavy = everything.score_hundredths - without_heavy.score_hundredths
    cost_light = everything.score_hundredths - without_light.score_hundredths
    assert cost_heavy > cost_light > 0


@given(role_and_records(), months, st.randoms(use_true_random=False))
def test_same_inputs_give_the_same_result_and_digest_whatever_the_record_order(
    case: tuple[tuple[Responsibility, ...], list[Record]], as_of: Month, rnd: random.Random
) -> None:
    resps, records = case
    shuffled = list(records)
    rnd.shuffle(shuffled)
    first = score(resps, records, as_of=as_of)
    assert score(resps, records, as_of=as_of) == first
    assert score(resps, shuffled, as_of=as_of) == first
    assert score(resps, tuple(reversed(records)), as_of=as_of) == first
    assert score(resps, iter(records), as_of=as_of) == first  # any iterable
    digest = records_digest(records)
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert records_digest(shuffled) == digest
    assert records_digest(iter(records)) == digest


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_records_digest_is_the_sha256_of_the_canonical_json() -> None:
    records = [
        Record("technical-depth", 4, "assessment", Month(2024, 3)),
        Record("business-acumen", 2),  # evidence self, last_used unknown
    ]
    expected = '[["business-acumen",2,"self",null],["technical-depth",4,"assessment","2024-03"]]'
    assert records_digest(records) == _sha256(expected)
    assert records_digest([]) == _sha256("[]")


def test_records_digest_escapes_non_ascii_competency_keys() -> None:
    assert records_digest([Record("gestión", 1)]) == _sha256('[["gesti\\u00f3n",1,"self",null]]')


@given(records_for(COMPETENCIES), st.data())
def test_records_digest_covers_every_record_and_every_field(
    records: list[Record], data: st.DataObject
) -> None:
    digest = records_digest(records)
    # Every record counts, also one no role lists.
    assert records_digest([*records, Record("unrelated", 0)]) != digest
    if not records:
        return
    index = data.draw(st.integers(0, len(records) - 1))
    target = records[index]
    changed = data.draw(
        st.sampled_from(
            [
                replace(target, level=(target.level + 1) % 6),
                replace(
                    target,
                    evidence=EVIDENCE_KINDS[
                        (EVIDENCE_KINDS.index(target.evidence) + 1) % len(EVIDENCE_KINDS)
                    ],
                ),
                replace(
                    target,
                    last_used=Month(2000, 1) if target.last_used != Month(2000, 1) else None,
                ),
            ]
        )
    )
    assert records_digest([*records[:index], changed, *records[index + 1 :]]) != digest


def test_inputs_hash_is_the_sha256_of_the_documented_string() -> None:
    digest = records_digest([Record("technical-depth", 3)])
    expected = _sha256(f"{MODEL_VERSION}|tpm|3|2026-06|{digest}")
    assert inputs_hash("tpm", 3, digest, Month(2026, 6)) == expected
    assert inputs_hash("tpm", 3, digest, Month(2026, 6)) == expected  # deterministic


def test_inputs_hash_tracks_each_of_its_inputs() -> None:
    digest = records_digest([Record("technical-depth", 3)])
    base = inputs_hash("tpm", 3, digest, Month(2026, 6))
    assert inputs_hash("tmp", 3, digest, Month(2026, 6)) != base
    assert inputs_hash("tpm", 4, digest, Month(2026, 6)) != base
    assert inputs_hash("tpm", 3, records_digest([]), Month(2026, 6)) != base
    assert inputs_hash("tpm", 3, digest, Month(2026, 7)) != base


@given(role_and_records(), months, st.data())
def test_a_missed_must_have_makes_not_qualified_but_keeps_the_score(
    case: tuple[tuple[Responsibility, ...], list[Record]], as_of: Month, data: st.DataObject
) -> None:
    resps, records = case
    plain = [replace(r, must_have=False) for r in resps]
    without = score(plain, records, as_of=as_of)
    missed = [row.competency for row in without.breakdown if not row.met]
    flagged = set(data.draw(st.lists(st.sampled_from(missed), unique=True))) if missed else set()
    met = [row.competency for row in without.breakdown if row.met]
    flagged |= set(data.draw(st.lists(st.sampled_from(met), unique=True))) if met else set()
    with_flags = [replace(r, must_have=r.competency in flagged) for r in resps]
    result = score(with_flags, records, as_of=as_of)

    assert result.score_hundredths == without.score_hundredths
    assert [row.contribution_hundredths for row in result.breakdown] == [
        row.contribution_hundredths for row in without.breakdown
    ]
    misses_one = any(c in missed for c in flagged)
    assert result.must_haves_met is not misses_one
    if misses_one:
        assert result.band == "not-qualified"
    else:
        assert result.band == without.band == band_for(result.score_hundredths, True)


@given(role_and_records(), months)
def test_surplus_is_reported_but_never_scored(
    case: tuple[tuple[Responsibility, ...], list[Record]], as_of: Month
) -> None:
    resps, records = case
    result = score(resps, records, as_of=as_of)
    for row in result.breakdown:
        assert row.surplus == max(0, row.effective_hundredths - 100 * row.required_level) / 100
        assert row.capped_hundredths == min(row.effective_hundredths, 100 * row.required_level)
        assert 0.0 <= row.coverage <= 1.0
        assert row.met is (row.capped_hundredths == 100 * row.required_level)


def test_the_inputs_hold_no_protected_characteristics() -> None:
    # Nothing but competencies, levels, evidence and dates reaches the computation.
    assert [f.name for f in fields(Record)] == ["competency", "level", "evidence", "last_used"]
    assert [f.name for f in fields(Responsibility)] == [
        "competency",
        "importance",
        "level",
        "must_have",
    ]


# --------------------------------------------------------------------------- worked examples


def test_worked_example_tpm(tpm: tuple[Responsibility, ...]) -> None:
    records = [
        Record("technical-depth", 5, "assessment"),
        Record("engineering-collaboration", 4, "interview"),
        Record("technical-requirements", 4),  # evidence defaults to self
        Record("project-lifecycle", 4, "work-sample", Month(2022, 4)),
        Record("stakeholder-communication", 3, "reference", Month(2025, 1)),
        Record("program-oversight", 2, "self"),
        Record("strategic-alignment", 2, "assessment"),
        Record("business-acumen", 1, "self"),
        Record("change-management", 0, "self"),
        Record("some-other-skill", 5, "assessment"),  # not in the role: ignored
    ]
    # competency                   I  R  E                          c      100*I*c/32
    # technical-depth              5  4  5 x 1.0 x 1.0 = 5.0        1      15.625
    # engineering-collaboration    5  4  4 x 0.9 x 1.0 = 3.6        0.9    14.0625
    # technical-requirements       5  4  4 x 0.7 x 1.0 = 2.8        0.7    10.9375
    # project-lifecycle            5  4  4 x 1.0 x 0.8 = 3.2 (*)    0.8    12.5
    # stakeholder-communication    4  3  3 x 0.8 x 1.0 = 2.4        0.8    10
    # program-oversight            2  2  2 x 0.7 x 1.0 = 1.4        0.7     4.375
    # cross-functional-engagement  2  2  no record       = 0        0       0
    # strategic-alignment          2  2  2 x 1.0 x 1.0 = 2.0        1       6.25
    # business-acumen              1  2  1 x 0.7 x 1.0 = 0.7        0.35    1.09375
    # change-management            1  1  0               = 0        0       0
    # (*) 2022-04 -> 2026-06 is 50 months: 14 months past 3 years, 2 started years -> 0.8
    # sum(I) = 32, sum(I c) = 23.95, score = 2395 / 32 = 74.84375 -> 74.84, band good.
    # In hundredths the rows are 1562.5, 1406.25, 1093.75, 1250, 1000, 437.5, 0, 625, 109.375, 0:
    # floors sum to 7482, two hundredths are missing; they go to the largest remainders, .75
    # (technical-requirements) then the .5 tie, won by the earlier row (technical-depth).
    result = score(tpm, records, as_of=AS_OF)
    assert result.score_hundredths == 7484
    assert result.score == 74.84
    assert result.band == "good"
    assert result.must_haves_met  # technical-depth 5.0 >= 4
    assert [row.contribution_hundredths for row in result.breakdown] == [
        1563, 1406, 1094, 1250, 1000, 437, 0, 625, 109, 0,
    ]  # fmt: skip
    rows = {row.competency: row for row in result.breakdown}
    assert rows["technical-depth"].surplus == 1.0
    assert rows["technical-depth"].met
    assert rows["strategic-alignment"].met
    assert not rows["engineering-collaboration"].met
    assert rows["engineering-collaboration"].effective_level == 3.6
    assert rows["engineering-collaboration"].confidence == 0.9
    assert rows["project-lifecycle"].recency == 0.8
    assert rows["business-acumen"].coverage == 0.35
    assert rows["cross-functional-engagement"].candidate_level is None
    assert rows["cross-functional-engagement"].evidence is None
    assert rows["cross-functional-engagement"].confidence is None
    assert rows["cross-functional-engagement"].recency is None
    assert rows["change-management"].candidate_level == 0
    assert rows["change-management"].evidence == "self"


def test_worked_example_tpm_must_have_missed(tpm: tuple[Responsibility, ...]) -> None:
    # Everything met except technical-depth, the must-have: level 5 self = 3.5 < 4 (c = 0.875).
    # sum(I c) = 32 - 5 x 0.125 = 31.375, score = 3137.5 / 32 = 98.046875 -> 98.05
    records = [Record(r.competency, 5, "assessment") for r in tpm[1:]]
    records.append(Record("technical-depth", 5, "self"))
    result = score(tpm, records, as_of=AS_OF)
    assert result.score_hundredths == 9805
    assert not result.must_haves_met
    assert result.band == "not-qualified"


def test_worked_example_tmp(tmp: tuple[Responsibility, ...]) -> None:
    # A strategist without technical depth, for the tmp profile (sum(I) = 38):
    # strategic-alignment 4 assessment 4.0/4 -> 1 x 5 = 5; cross-functional 4 work-sample -> 5;
    # program-oversight 4 interview 3.6/4 = 0.9 x 5 = 4.5; business-acumen 3 assessment -> 4;
    # change-management 3 reference 2.4/3 = 0.8 x 4 = 3.2; stakeholder-communication 4
    # assessment -> 4; technical-depth 2 interview 1.8/2 = 0.9 x 3 = 2.7; project-lifecycle 3
    # self 2.1/3 = 0.7 x 3 = 2.1; the rest 0.
    # sum(I c) = 30.5, score = 3050 / 38 = 80.263... -> 80.26
    records = [
        Record("strategic-alignment", 4, "assessment"),
        Record("cross-functional-engagement", 4, "work-sample"),
        Record("program-oversight", 4, "interview"),
        Record("business-acumen", 3, "assessment"),
        Record("change-management", 3, "reference"),
        Record("stakeholder-communication", 4, "assessment"),
        Record("technical-depth", 2, "interview"),
        Record("project-lifecycle", 3, "self"),
    ]
    result = score(tmp, records, as_of=AS_OF)
    assert result.score_hundredths == 8026
    assert result.band == "strong"
    assert result.must_haves_met
    assert hundredths_sum(result) == 8026


def test_single_row_example() -> None:
    # level 4, interview (0.9), recent: E = 3.6 of 4 -> 90 %
    result = score([Responsibility("x", 3, 4)], [Record("x", 4, "interview")], as_of=AS_OF)
    assert result.score_hundredths == 9000
    assert result.breakdown[0].effective_hundredths == 360
    assert result.band == "strong"


def test_rounding_is_half_up_not_half_even() -> None:
    # One covered importance-1 row among sum(I) = 32: exact 100 / 32 = 3.125 -> 3.13
    # (Python's round(3.125, 2) would give 3.12).
    resps = [Responsibility("hit", 1, 1), *(Responsibility(f"m{i}", 5, 3) for i in range(6))]
    resps.append(Responsibility("miss", 1, 1))
    result = score(resps, [Record("hit", 1, "assessment")], as_of=AS_OF)
    assert result.score_hundredths == 313
    assert result.score == 3.13
    assert result.breakdown[0].contribution_hundredths == 313


def test_largest_remainder_tie_goes_to_the_earlier_row() -> None:
    # Three equal rows, all covered: 33.333... each, 99.99 after flooring; the missing hundredth
    # goes to the first row.
    resps = [Responsibility(k, 2, 3) for k in ("a", "b", "c")]
    result = score(resps, [Record(k, 3, "assessment") for k in "abc"], as_of=AS_OF)
    assert result.score_hundredths == 10000
    assert [row.contribution_hundredths for row in result.breakdown] == [3334, 3333, 3333]
    reordered = score(
        list(reversed(resps)), [Record(k, 3, "assessment") for k in "abc"], as_of=AS_OF
    )
    assert [(r.competency, r.contribution_hundredths) for r in reordered.breakdown] == [
        ("c", 3334),
        ("b", 3333),
        ("a", 3333),
    ]


def test_duplicate_records_use_the_highest_effective_level() -> None:
    resps = [Responsibility("x", 1, 5)]
    weak = Record("x", 5, "self", Month(2010, 1))  # 5 x 0.7 x 0.5 = 1.75
    strong = Record("x", 4, "interview")  # 3.6
    for order in ([weak, strong], [strong, weak]):
        result = score(resps, order, as_of=AS_OF)
        assert result.breakdown[0].effective_hundredths == 360
        assert result.breakdown[0].candidate_level == 4
        assert result.score_hundredths == 7200
    # equal effective levels: the choice is still independent of order
    a = Record("x", 4, "work-sample", None)  # 4.0
    b = Record("x", 5, "reference", None)  # 4.0
    assert score(resps, [a, b], as_of=AS_OF) == score(resps, [b, a], as_of=AS_OF)


@pytest.mark.parametrize(
    ("score_hundredths", "met", "band"),
    [
        (10000, True, "strong"),
        (8000, True, "strong"),
        (7999, True, "good"),
        (6000, True, "good"),
        (5999, True, "partial"),
        (4000, True, "partial"),
        (3999, True, "weak"),
        (0, True, "weak"),
        (10000, False, "not-qualified"),
        (0, False, "not-qualified"),
    ],
)
def test_bands(score_hundredths: int, met: bool, band: str) -> None:
    assert band_for(score_hundredths, met) == band
    assert band in BANDS


def test_bands_tuple() -> None:
    assert BANDS == ("strong", "good", "partial", "weak", "not-qualified")


# --------------------------------------------------------------------------- recency, evidence


@pytest.mark.parametrize(
    ("age_months", "tenths"),
    [
        (0, 10),
        (1, 10),
        (36, 10),
        (37, 9),
        (48, 9),
        (49, 8),
        (60, 8),
        (61, 7),
        (72, 7),
        (73, 6),
        (84, 6),
        (85, 5),
        (96, 5),
        (97, 5),
        (600, 5),
        (-1, 10),  # last_used in the future counts as age 0
        (-30, 10),
    ],
)
def test_recency_table(age_months: int, tenths: int) -> None:
    last_used = Month.from_index(AS_OF.index - age_months)
    assert recency_tenths(last_used, AS_OF) == tenths
    assert ref_recency(last_used, AS_OF) == Fraction(tenths, 10)


def test_recency_unknown_counts_as_recent() -> None:
    assert recency_tenths(None, AS_OF) == 10
    row = score([Responsibility("x", 1, 1)], [Record("x", 1, "assessment")], as_of=AS_OF)
    assert row.breakdown[0].recency == 1.0


def test_recency_in_a_score() -> None:
    # very old: 5 x 1.0 x 0.5 = 2.5 of 5 -> 50 %
    resps = [Responsibility("x", 1, 5)]
    result = score(resps, [Record("x", 5, "assessment", Month(1995, 1))], as_of=AS_OF)
    assert result.breakdown[0].recency == 0.5
    assert result.score_hundredths == 5000


@given(st.none() | months, months)
def test_recency_is_between_half_and_one_and_never_rises_with_age(
    last_used: Month | None, as_of: Month
) -> None:
    tenths = recency_tenths(last_used, as_of)
    assert 5 <= tenths <= 10
    assert Fraction(tenths, 10) == ref_recency(last_used, as_of)
    if last_used is not None and last_used.index > 1900 * 12:
        older = Month.from_index(last_used.index - 1)
        assert recency_tenths(older, as_of) <= tenths


def test_confidence_table() -> None:
    assert EVIDENCE_CONFIDENCE_TENTHS == {
        "assessment": 10,
        "work-sample": 10,
        "interview": 9,
        "reference": 8,
        "self": 7,
    }
    assert EVIDENCE_KINDS == ("assessment", "work-sample", "interview", "reference", "self")
    assert Record("x", 3).evidence == "self"


@pytest.mark.parametrize(
    ("kind", "confidence", "effective"),
    [
        ("assessment", 1.0, 4.0),
        ("work-sample", 1.0, 4.0),
        ("interview", 0.9, 3.6),
        ("reference", 0.8, 3.2),
        ("self", 0.7, 2.8),
    ],
)
def test_confidence_in_a_score(kind: str, confidence: float, effective: float) -> None:
    result = score([Responsibility("x", 1, 5)], [Record("x", 4, kind)], as_of=AS_OF)
    row = result.breakdown[0]
    assert row.confidence == confidence
    assert row.effective_level == effective
    assert result.score_hundredths == round(effective * 2000)  # E / 5 in hundredths


# --------------------------------------------------------------------------- Month


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06", Month(2026, 6)),
        ("2026-06-15", Month(2026, 6)),
        ("2024-02-29", Month(2024, 2)),
        ("1900-01", Month(1900, 1)),
        ("2999-12", Month(2999, 12)),
    ],
)
def test_month_parse_accepts(text: str, expected: Month) -> None:
    assert Month.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026",
        "2026-6",
        "2026-00",
        "2026-13",
        "26-06",
        "2026/06",
        "06-2026",
        " 2026-06",
        "2026-06 ",
        "2026-06\n",
        "2026-06-",
        "2026-06-1",
        "2026-06-00",
        "2026-06-31",
        "2023-02-29",
        "2026-06T00:00",
        "1899-12",
        "3000-01",
        "+2026-06",
        "２０２６-06",  # noqa: RUF001 - full-width digits are not ASCII digits
    ],
)
def test_month_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="month"):
        Month.parse(text)


def test_month_rejects_out_of_range_fields() -> None:
    with pytest.raises(ValueError, match="month"):
        Month(2026, 13)
    with pytest.raises(ValueError, match="year"):
        Month(1899, 12)


def test_month_str_and_index() -> None:
    assert str(Month(2026, 6)) == "2026-06"
    assert str(Month(1900, 1)) == "1900-01"
    assert Month(2026, 6).index == 2026 * 12 + 5
    assert Month(2026, 1).index - Month(2025, 12).index == 1
    assert Month(2025, 12) < Month(2026, 1)


@given(months)
def test_month_round_trips(month: Month) -> None:
    assert Month.parse(str(month)) == month
    assert Month.from_index(month.index) == month


# --------------------------------------------------------------------------- validation


def test_empty_role_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one"):
        score([], [Record("x", 3)], as_of=AS_OF)


def test_a_competency_twice_in_a_role_is_rejected() -> None:
    with pytest.raises(ValueError, match="twice"):
        score([Responsibility("x", 1, 1), Responsibility("x", 2, 2)], [], as_of=AS_OF)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Responsibility("x", 0, 3),
        lambda: Responsibility("x", 6, 3),
        lambda: Responsibility("x", 3, 0),
        lambda: Responsibility("x", 3, 6),
        lambda: Responsibility("", 3, 3),
        lambda: Record("x", -1),
        lambda: Record("x", 6),
        lambda: Record("x", 3, "gut-feeling"),
        lambda: Record("", 3),
    ],
)
def test_out_of_range_inputs_are_rejected(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by field
        make()


def test_non_int_levels_are_rejected() -> None:
    with pytest.raises(TypeError):
        Record("x", True)
    with pytest.raises(TypeError):
        Responsibility("x", 3, 2.5)  # type: ignore[arg-type]


def test_the_api_body_of_a_result_is_json_ready(tpm: tuple[Responsibility, ...]) -> None:
    result = score(tpm, [Record("technical-depth", 4, "interview")], as_of=AS_OF)
    profile = RoleProfile(1, "tpm", 1, tpm, AS_OF.index)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    data = json.loads(json.dumps(bodies.match_body(profile, result, AS_OF, now, "digest")))
    assert data["score"] == result.score
    assert data["model_version"] == MODEL_VERSION
    assert [row["competency"] for row in data["breakdown"]] == list(TPM_TABLE)
    assert {
        "competency",
        "importance",
        "required_level",
        "candidate_level",
        "effective_level",
        "coverage",
        "contribution",
        "must_have",
        "met",
        "evidence",
    } <= set(data["breakdown"][0])
