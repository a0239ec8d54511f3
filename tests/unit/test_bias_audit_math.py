"""The arithmetic of a bias audit against an independent, straightforward implementation.

``reference_report`` below is written from accountability.md alone, person by person: the
median with ``statistics.median``, rates as fractions of lists, Fisher's test by enumerating
every table with the same margins and its hypergeometric probability from ``math.comb``. The
service's :func:`compute_report` gets only the aggregates (as SQL would give them); both must
agree on every field, for random populations with many ties, empty categories, all-unknown
dimensions and medians equal to the maximum.
"""

from __future__ import annotations

import math
import statistics
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.domain import bias_audits
from service.domain.bias_audits import Aggregates, Cell, compute_report, fisher_exact

SEXES = ["male", "female"]
RACES = [
    "hispanic-or-latino",
    "white",
    "black-or-african-american",
    "native-hawaiian-or-other-pacific-islander",
    "asian",
    "american-indian-or-alaska-native",
    "two-or-more-races",
]

Person = tuple[int, bool, str | None, str | None]  # score in hundredths, selected, sex, race


# --------------------------------------------------------------------------- the reference


def reference_fisher(k1: int, n1: int, k2: int, n2: int) -> Fraction:
    """Every 2x2 table with these margins; sum those no more probable than the observed."""
    total, selected = n1 + n2, k1 + k2

    def probability(x: int) -> Fraction:
        return Fraction(math.comb(n1, x) * math.comb(n2, selected - x), math.comb(total, selected))

    observed = probability(k1)
    tables = [x for x in range(0, n1 + 1) if 0 <= selected - x <= n2]
    return sum((probability(x) for x in tables if probability(x) <= observed), Fraction(0))


def _category_of(dimension: str, sex: str | None, race: str | None) -> str | None:
    sex = sex if sex in SEXES else None
    race = race if race in RACES else None
    if dimension == "sex":
        return sex
    if dimension == "race_ethnicity":
        return race
    return f"{sex}:{race}" if sex and race else None


def reference_report(people: list[Person], exclude: bool) -> dict[str, Any]:
    scores = [Fraction(score, 100) for score, _, _, _ in people]
    median = Fraction(statistics.median(scores)) if scores else None
    above = [median is not None and s > median for s in scores]
    names = {
        "sex": SEXES,
        "race_ethnicity": RACES,
        "sex_race_ethnicity": [f"{s}:{r}" for s in SEXES for r in RACES],
    }
    dimensions = []
    for dimension, categories in names.items():
        members = {c: [] for c in categories}
        unknown = 0
        for index, (_, _, sex, race) in enumerate(people):
            c = _category_of(dimension, sex, race)
            if c is None:
                unknown += 1
            else:
                members[c].append(index)
        rows = {}
        for c in categories:
            n = len(members[c])
            k = sum(above[i] for i in members[c])
            s = sum(people[i][1] for i in members[c])
            rows[c] = {
                "n": n,
                "k": k,
                "s": s,
                "excluded": exclude
                and bool(people)
                and Fraction(n, len(people)) < Fraction(2, 100),
            }
        result = {"dimension": dimension, "unknown": unknown, "categories": {}}
        for measure, count in (("scoring", "k"), ("selection", "s")):
            eligible = [c for c in categories if not rows[c]["excluded"] and rows[c]["n"] > 0]
            rates = {c: Fraction(rows[c][count], rows[c]["n"]) for c in eligible}
            top = max(rates.values(), default=None)
            benchmark = None
            if top:
                benchmark = next(c for c in categories if c in rates and rates[c] == top)
            result[f"benchmark_{measure}"] = benchmark
            for c in categories:
                row = result["categories"].setdefault(c, {"n": rows[c]["n"]})
                n = rows[c]["n"]
                row[count] = rows[c][count]
                row[f"{measure}_rate"] = Fraction(rows[c][count], n) if n else None
                ratio = rates[c] / top if top and c in rates else None
                row[f"{measure}_ratio"] = ratio
                row[f"{measure}_flag"] = None if ratio is None else ratio < Fraction(4, 5)
                row[f"{measure}_p"] = (
                    reference_fisher(
                        rows[c][count], n, rows[benchmark][count], rows[benchmark]["n"]
                    )
                    if ratio is not None and c != benchmark
                    else None
                )
                row["excluded"] = rows[c]["excluded"]
                row["low_n"] = n < 30
        dimensions.append(result)
    return {
        "population": len(people),
        "median": median,
        "ties": sum(1 for s in scores if s == median),
        "share_above": Fraction(sum(above), len(people)) if people else None,
        "dimensions": dimensions,
    }


def aggregates_of(people: list[Person]) -> Aggregates:
    """What the SQL hands over: the median (doubled, in hundredths) and per-answer-pair counts."""
    ordered = sorted(score for score, _, _, _ in people)
    n = len(ordered)
    if not n:
        return Aggregates(0, None, ())
    twice = 2 * ordered[n // 2] if n % 2 else ordered[n // 2 - 1] + ordered[n // 2]
    cells: dict[tuple[str | None, str | None], list[int]] = {}
    for score, selected, sex, race in people:
        cell = cells.setdefault((sex, race), [0, 0, 0, 0])
        cell[0] += 1
        cell[1] += 2 * score > twice
        cell[2] += 2 * score == twice
        cell[3] += selected
    return Aggregates(n, twice, tuple(Cell(s, r, *counts) for (s, r), counts in cells.items()))


def _close(value: float | None, exact: Fraction | None, decimals: int = 4) -> bool:
    if exact is None:
        return value is None
    return value is not None and value == round(float(exact), decimals)


def _p_close(value: float | None, exact: Fraction | None) -> bool:
    if exact is None:
        return value is None
    return value is not None and math.isclose(value, float(exact), rel_tol=1e-3, abs_tol=1e-12)


def assert_same(people: list[Person], exclude: bool) -> None:
    got = compute_report(aggregates_of(people), exclude_small_categories=exclude)
    want = reference_report(people, exclude)
    assert got["population"] == want["population"]
    assert _close(got["median"], want["median"], 3)
    assert got["ties_at_median"] == want["ties"]
    assert _close(got["share_above"], want["share_above"])
    for dimension, expected in zip(got["dimensions"], want["dimensions"], strict=True):
        assert dimension["dimension"] == expected["dimension"]
        assert dimension["unknown"] == expected["unknown"]
        assert dimension["benchmark_scoring"] == expected["benchmark_scoring"]
        assert dimension["benchmark_selection"] == expected["benchmark_selection"]
        assert [c["category"] for c in dimension["categories"]] == list(expected["categories"])
        for row in dimension["categories"]:
            ref = expected["categories"][row["category"]]
            assert (row["n"], row["scored_above"], row["selected"]) == (
                ref["n"],
                ref["k"],
                ref["s"],
            )
            assert row["excluded"] == ref["excluded"] and row["low_n"] == ref["low_n"]
            for measure in ("scoring", "selection"):
                assert _close(row[f"{measure}_rate"], ref[f"{measure}_rate"])
                assert _close(row[f"{measure}_impact_ratio"], ref[f"{measure}_ratio"])
                assert row[f"four_fifths_flag_{measure}"] == ref[f"{measure}_flag"]
                assert _p_close(row[f"fisher_p_{measure}"], ref[f"{measure}_p"])


# --------------------------------------------------------------------------- strategies

# Few distinct scores, so that ties (and ties at the median) are the rule, not the exception.
SCORES = st.sampled_from([0, 1500, 4000, 5000, 5050, 6000, 7000, 7000, 8000, 10000])
SEX_ANSWERS = st.sampled_from([*SEXES, "declined", None])
RACE_ANSWERS = st.sampled_from([*RACES, "declined", None])
PEOPLE = st.lists(st.tuples(SCORES, st.booleans(), SEX_ANSWERS, RACE_ANSWERS), max_size=80)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people=PEOPLE, exclude=st.booleans())
def test_reports_match_the_reference(people: list[Person], exclude: bool) -> None:
    assert_same(people, exclude)


@settings(max_examples=100, deadline=None)
@given(
    people=st.lists(
        st.tuples(SCORES, st.booleans(), st.sampled_from(["declined", None]), RACE_ANSWERS),
        max_size=40,
    )
)
def test_an_all_unknown_dimension(people: list[Person]) -> None:
    assert_same(people, False)
    report = compute_report(aggregates_of(people), exclude_small_categories=False)
    sex = report["dimensions"][0]
    assert sex["unknown"] == len(people) and sex["benchmark_scoring"] is None
    assert all(c["n"] == 0 and c["scoring_rate"] is None for c in sex["categories"])


@settings(max_examples=100, deadline=None)
@given(
    top=st.integers(min_value=1, max_value=10000),
    lower=st.lists(st.integers(min_value=0, max_value=9999), max_size=10),
    at_top=st.integers(min_value=11, max_value=30),
    answers=st.lists(st.tuples(SEX_ANSWERS, RACE_ANSWERS), min_size=41, max_size=41),
)
def test_a_median_equal_to_the_maximum(
    top: int, lower: list[int], at_top: int, answers: list[tuple[Any, Any]]
) -> None:
    scores = [top] * at_top + [min(s, top - 1) for s in lower]
    people = [(s, i % 2 == 0, *answers[i]) for i, s in enumerate(scores)]
    assert_same(people, True)
    report = compute_report(aggregates_of(people), exclude_small_categories=False)
    assert report["median"] == round(top / 100, 3) and report["share_above"] == 0.0
    assert all(c["scored_above"] == 0 for d in report["dimensions"] for c in d["categories"])


def test_empty_population() -> None:
    assert_same([], False)
    assert_same([], True)


# --------------------------------------------------------------------------- Fisher


@settings(max_examples=400, deadline=None)
@given(
    n1=st.integers(min_value=0, max_value=40),
    n2=st.integers(min_value=0, max_value=40),
    data=st.data(),
)
def test_fisher_matches_the_reference(n1: int, n2: int, data: st.DataObject) -> None:
    k1 = data.draw(st.integers(min_value=0, max_value=n1))
    k2 = data.draw(st.integers(min_value=0, max_value=n2))
    assert bias_audits.fisher_exact_fraction(k1, n1, k2, n2) == reference_fisher(k1, n1, k2, n2)
    assert math.isclose(fisher_exact(k1, n1, k2, n2), float(reference_fisher(k1, n1, k2, n2)))


@settings(max_examples=150, deadline=None)
@given(
    n1=st.integers(min_value=1, max_value=1500),
    n2=st.integers(min_value=1, max_value=1500),
    data=st.data(),
)
def test_the_logarithmic_path_agrees_with_the_exact_one(
    n1: int, n2: int, data: st.DataObject
) -> None:
    """Large tables take logarithms; where both paths can run, they agree to 1e-6."""
    k1 = data.draw(st.integers(min_value=0, max_value=n1))
    k2 = data.draw(st.integers(min_value=0, max_value=n2))
    exact = float(bias_audits.fisher_exact_fraction(k1, n1, k2, n2))
    approximate = bias_audits._fisher_logarithmic(k1, n1, k2, n2)
    assert math.isclose(approximate, exact, rel_tol=1e-6, abs_tol=1e-15)


def test_the_worked_example_p_value_and_known_values() -> None:
    # accountability.md: selection males 4/9 against females 6/10, p = 0.656.
    assert round(fisher_exact(4, 9, 6, 10), 3) == 0.656
    # R: fisher.test(matrix(c(3, 1, 1, 3), 2)) gives p = 0.4857; and a table with no choice.
    assert round(fisher_exact(3, 4, 1, 4), 4) == 0.4857
    assert fisher_exact(0, 5, 0, 5) == 1.0
    assert fisher_exact(0, 0, 3, 7) == 1.0
    with pytest.raises(ValueError, match="counts"):
        fisher_exact(5, 4, 0, 1)


def test_a_large_table_is_fast_and_sane() -> None:
    import time

    started = time.perf_counter()
    p = fisher_exact(20000, 40000, 20500, 40000)
    assert time.perf_counter() - started < 0.5
    assert 0.0001 < p < 0.002
    assert fisher_exact(20000, 40000, 20000, 40000) == 1.0
