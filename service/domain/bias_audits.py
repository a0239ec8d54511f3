"""Bias audits (NYC Local Law 144, DCWP rules 6 RCNY 5-300..5-304): scoring and selection rates
and impact ratios by sex, race/ethnicity and their intersection.

The contract is ``accountability.md``; in short, over a population (a role's stored matches, or
a job's applications with the match snapshot taken when they applied):

1. ``median``: the median score of the whole population, unknown categories included (even N:
   the mean of the two middle values). Scored above: ``score > median`` strictly.
2. Per dimension (sex; race/ethnicity; their intersection) and category: ``n``, scored above
   ``k``, ``scoring_rate = k / n``, selected ``s``, ``selection_rate = s / n``. ``unknown``
   counts the people without an answer for the dimension (declined or missing; for the
   intersection, either one).
3. Impact ratio: the rate over the highest rate among the dimension's categories that are not
   excluded (the *benchmark*: the first of those categories, in the contract's order, with the
   highest rate). Null when the category is excluded, has n = 0, or the highest rate is 0.
4. ``exclude_small_categories``: a category with ``n / population < 2 %`` is left out of the
   ratios (listed with its n and rates), with the justification the request gave.
5. Not required by the rule: ``four_fifths_flag_*`` (ratio < 0.8), ``fisher_p_*`` (two-sided
   Fisher exact test of the category against the benchmark), ``low_n`` (n < 30).

Where the work happens: two statements in SQL over the population, one for the median
(PostgreSQL's ``percentile_cont``; on SQLite only the one or two rows around the middle leave
the database, ranked with ``ROW_NUMBER()``) and one that counts per (sex, race/ethnicity)
answer pair: at most 36 rows of counts. Everything after
that (folding the pairs into dimensions, rates, ratios, Fisher's test) is arithmetic on those
counts in plain Python with exact fractions, in :func:`compute_report`, a pure function.

Scores are kept in hundredths (integers), so the median is carried as *twice* the median in
hundredths, an integer: ``score > median`` is ``2 * score > twice_median``, exact on every
backend.

``inputs_hash`` is the SHA-256 of what the numbers were computed from: the request (target,
selection, window, exclusion), the model and role versions, and the aggregates above. Not of
the population's individual rows: for a small population a hash over each person's answers
could be inverted by trying the few possible answers, and the answers must not leave the
service except as the aggregates the report publishes anyway.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from service.domain import matching, scoring
from service.domain.errors import Conflict, Invalid, NotFound
from service.domain.roles import get_role
from service.infra.orm import utcnow
from service.models import (
    Application,
    BiasAudit,
    Candidate,
    Job,
    JobStage,
    Match,
    Role,
    SelfIdentification,
    Transition,
)
from service.models.accountability import RACES_ETHNICITIES, SEXES
from service.models.job import STAGE_KINDS

METHOD_VERSION = "ll144-2023"
"""The method of this module (the DCWP rule as of 2023); stored with every report."""

ROLE_SELECTIONS: tuple[str, ...] = ("must-haves-met", "band-strong", "band-good-or-better")
JOB_SELECTIONS: tuple[str, ...] = (
    *ROLE_SELECTIONS,
    *(f"stage:{kind}" for kind in STAGE_KINDS),
    "hired",
)
SELECTIONS = JOB_SELECTIONS

SMALL_CATEGORY_SHARE = Fraction(2, 100)
"""A category with fewer than this share of the population may be excluded (DCWP 5-301(d))."""
LOW_N = 30
FOUR_FIFTHS = Fraction(4, 5)
RATE_DECIMALS = 4
P_SIGNIFICANT_DIGITS = 4
# Up to this many people in a 2x2 table, Fisher's test is summed in exact integers; above it,
# in logarithms (exact integers grow with the table: C(80000, 40000) has 24,000 digits).
FISHER_EXACT_UP_TO = 2000
# scipy's relative tolerance for "as or less probable than the table observed", for the
# floating-point path only (the exact path compares integers).
_FISHER_RELATIVE_TOLERANCE = 1e-7

SEX = "sex"
RACE_ETHNICITY = "race_ethnicity"
INTERSECTION = "sex_race_ethnicity"
DIMENSIONS: tuple[str, ...] = (SEX, RACE_ETHNICITY, INTERSECTION)
INTERSECTION_CATEGORIES: tuple[str, ...] = tuple(
    f"{s}:{r}" for s in SEXES for r in RACES_ETHNICITIES
)
CATEGORIES: dict[str, tuple[str, ...]] = {
    SEX: ("male", "female"),
    RACE_ETHNICITY: RACES_ETHNICITIES,
    INTERSECTION: INTERSECTION_CATEGORIES,
}


# --------------------------------------------------------------------------- aggregates


@dataclass(frozen=True, slots=True)
class Cell:
    """The counts of the people who gave one pair of answers (``None``: no answer)."""

    sex: str | None
    race_ethnicity: str | None
    n: int
    scored_above: int
    ties_at_median: int
    selected: int


@dataclass(frozen=True, slots=True)
class Aggregates:
    """Everything the report is computed from, as it comes out of SQL."""

    population: int
    twice_median_hundredths: int | None  # None when the population is empty
    cells: tuple[Cell, ...]
    role_version: int | None = None
    model_version: str | None = None


def _category(dimension: str, sex: str | None, race: str | None) -> str | None:
    known_sex = sex if sex in SEXES else None
    known_race = race if race in RACES_ETHNICITIES else None
    if dimension == SEX:
        return known_sex
    if dimension == RACE_ETHNICITY:
        return known_race
    return f"{known_sex}:{known_race}" if known_sex and known_race else None


def _round(value: Fraction | None, decimals: int = RATE_DECIMALS) -> float | None:
    return None if value is None else round(float(value), decimals)


def _significant(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.{P_SIGNIFICANT_DIGITS}g}")


def compute_report(aggregates: Aggregates, *, exclude_small_categories: bool) -> dict[str, Any]:
    """The numbers of a report from its aggregates: pure, exact fractions until presentation.

    Returns ``population``, ``median``, ``ties_at_median``, ``share_above`` and ``dimensions``
    as the API serves them (rates and ratios to 4 decimals, p-values to 4 significant digits;
    every comparison, such as the four-fifths flag, is made on the exact fractions).
    """
    population = aggregates.population
    twice_median = aggregates.twice_median_hundredths
    above = sum(c.scored_above for c in aggregates.cells)
    ties = sum(c.ties_at_median for c in aggregates.cells)
    return {
        "population": population,
        "median": None if twice_median is None else round(twice_median / 200, 3),
        "ties_at_median": ties,
        "share_above": _round(Fraction(above, population)) if population else None,
        "dimensions": [
            _dimension(dimension, aggregates.cells, population, exclude_small_categories)
            for dimension in DIMENSIONS
        ],
    }


@dataclass
class _Counts:
    n: int = 0
    scored_above: int = 0
    selected: int = 0


def _dimension(
    dimension: str, cells: Sequence[Cell], population: int, exclude_small: bool
) -> dict[str, Any]:
    counts = {category: _Counts() for category in CATEGORIES[dimension]}
    unknown = 0
    for cell in cells:
        category = _category(dimension, cell.sex, cell.race_ethnicity)
        if category is None:
            unknown += cell.n
            continue
        counts[category].n += cell.n
        counts[category].scored_above += cell.scored_above
        counts[category].selected += cell.selected

    # 5-301(d): n / population < 2 % may be excluded; 50 n < population says it in integers.
    excluded = {category: exclude_small and 50 * c.n < population for category, c in counts.items()}
    benchmarks: dict[str, str | None] = {}
    highest: dict[str, Fraction] = {}
    for measure, attribute in (("scoring", "scored_above"), ("selection", "selected")):
        best: tuple[Fraction, str] | None = None
        for category, c in counts.items():  # in the contract's order: the first highest wins
            if excluded[category] or c.n == 0:
                continue
            candidate_rate = Fraction(getattr(c, attribute), c.n)
            if best is None or candidate_rate > best[0]:
                best = (candidate_rate, category)
        if best is None or best[0] == 0:
            benchmarks[measure] = None
        else:
            benchmarks[measure], highest[measure] = best[1], best[0]

    categories = []
    for category, c in counts.items():
        row: dict[str, Any] = {"category": category, "n": c.n}
        flags: dict[str, bool | None] = {}
        p_values: dict[str, float | None] = {}
        for measure, attribute in (("scoring", "scored_above"), ("selection", "selected")):
            count = getattr(c, attribute)
            rate = Fraction(count, c.n) if c.n else None
            benchmark = benchmarks[measure]
            ratio: Fraction | None = None
            p_value: float | None = None
            if rate is not None and not excluded[category] and benchmark is not None:
                ratio = rate / highest[measure]
                if category != benchmark:
                    bench = counts[benchmark]
                    p_value = fisher_exact(count, c.n, getattr(bench, attribute), bench.n)
            row[attribute] = count
            row[f"{measure}_rate"] = _round(rate)
            row[f"{measure}_impact_ratio"] = _round(ratio)
            flags[measure] = None if ratio is None else ratio < FOUR_FIFTHS
            p_values[measure] = _significant(p_value)
        row["excluded"] = excluded[category]
        row["low_n"] = c.n < LOW_N
        row["four_fifths_flag_scoring"] = flags["scoring"]
        row["four_fifths_flag_selection"] = flags["selection"]
        row["fisher_p_scoring"] = p_values["scoring"]
        row["fisher_p_selection"] = p_values["selection"]
        categories.append(row)
    return {
        "dimension": dimension,
        "unknown": unknown,
        "benchmark_scoring": benchmarks["scoring"],
        "benchmark_selection": benchmarks["selection"],
        "categories": categories,
    }


# --------------------------------------------------------------------------- Fisher's exact test


def fisher_exact(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided Fisher exact test of ``k1`` of ``n1`` against ``k2`` of ``n2``.

    The p-value is the probability, under the hypergeometric distribution with the table's
    margins, of every table as probable as the one observed or less (the usual two-sided
    definition, as R's ``fisher.test`` and scipy's ``fisher_exact``). Exact integer sums for
    tables of up to :data:`FISHER_EXACT_UP_TO` people, logarithms above.
    """
    if not (0 <= k1 <= n1 and 0 <= k2 <= n2):
        raise ValueError("counts must satisfy 0 <= k <= n")
    if n1 + n2 <= FISHER_EXACT_UP_TO:
        return float(fisher_exact_fraction(k1, n1, k2, n2))
    return _fisher_logarithmic(k1, n1, k2, n2)


def _support(k1: int, n1: int, k2: int, n2: int) -> tuple[int, int, int, int, int]:
    total, column = n1 + n2, k1 + k2
    return total, column, max(0, column - n2), min(n1, column), k1


def fisher_exact_fraction(k1: int, n1: int, k2: int, n2: int) -> Fraction:
    """:func:`fisher_exact` as an exact fraction.

    Each table's probability is ``C(n1, x) C(n2, column - x) / C(total, column)``; the
    numerators are integers, got one from the next with an exact integer recurrence, so "as
    probable or less" is an integer comparison, with no tolerance needed.
    """
    total, column, low, high, observed = _support(k1, n1, k2, n2)
    term = math.comb(n1, low) * math.comb(n2, column - low)
    terms = []
    for x in range(low, high + 1):
        terms.append(term)
        # C(n1, x+1) C(n2, c-x-1) = C(n1, x) C(n2, c-x) (n1-x)(c-x) / ((x+1)(n2-c+x+1))
        if x < high:
            term = term * (n1 - x) * (column - x) // ((x + 1) * (n2 - column + x + 1))
    threshold = terms[observed - low]
    return Fraction(sum(t for t in terms if t <= threshold), math.comb(total, column))


def _fisher_logarithmic(k1: int, n1: int, k2: int, n2: int) -> float:
    """:func:`fisher_exact` for large tables, on log-probabilities from ``lgamma``.

    The distribution is unimodal, so the tables as probable as the observed one or less form
    two tails: the observed one's side from the observed table outwards, and on the other side
    of the mode everything beyond the first table at most as probable (found by bisection).
    Each tail is summed from its inner end outwards until the terms fall below 1e-20 of the
    first one: a few thousand terms at most, whatever the size of the table (46 tests of
    categories of 3,000 to 27,000 people: 45 ms with ``lgamma`` for every term, 7 ms with the
    ratio of consecutive terms).
    """
    total, column, low, high, observed = _support(k1, n1, k2, n2)
    log_denominator = _log_comb(total, column)

    def log_p(x: int) -> float:
        return _log_comb(n1, x) + _log_comb(n2, column - x) - log_denominator

    mode = min(max((column + 1) * (n1 + 1) // (total + 2), low), high)
    limit = log_p(observed) + math.log1p(_FISHER_RELATIVE_TOLERANCE)
    if log_p(mode) <= limit:
        return 1.0
    if observed < mode:
        near, far, step = _first_at_most(log_p, limit, mode, high), observed, -1
    else:
        near, far, step = _first_at_most(log_p, limit, mode, low), observed, 1
    p = _tail(log_p, far, low if step < 0 else high, step, n1, n2, column)
    if near is not None:
        p += _tail(log_p, near, high if step < 0 else low, -step, n1, n2, column)
    return min(1.0, p)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _first_at_most(log_p: Any, limit: float, mode: int, end: int) -> int | None:
    """The table nearest the mode, between it and ``end``, at most as probable as ``limit``."""
    if log_p(end) > limit:
        return None
    inner, outer = mode, end  # log_p(inner) > limit >= log_p(outer); monotone in between
    while abs(outer - inner) > 1:
        middle = (inner + outer) // 2
        if log_p(middle) > limit:
            inner = middle
        else:
            outer = middle
    return outer


def _tail(log_p: Any, start: int, end: int, step: int, n1: int, n2: int, column: int) -> float:
    """Sum of the tables from ``start`` to ``end`` (outwards from the mode): the first from
    ``lgamma``, each next one from the last by the exact ratio of consecutive probabilities,
    until they fall below 1e-20 of the first (they only decrease from there)."""
    term, total, x = 1.0, 0.0, start
    while True:
        total += term
        if x == end or term < 1e-20:
            return math.exp(log_p(start)) * total
        if step > 0:  # p(x+1) / p(x)
            term *= (n1 - x) * (column - x) / ((x + 1) * (n2 - column + x + 1))
        else:  # p(x-1) / p(x)
            term *= x * (n2 - column + x) / ((n1 - x + 1) * (column - x + 1))
        x += step


# --------------------------------------------------------------------------- populations in SQL


@dataclass(frozen=True)
class AuditRequest:
    """A bias audit as asked for: a role or a job, a selection rule, optionally a window."""

    role_key: str | None
    job_id: uuid.UUID | None
    selection: str
    window_from: datetime | None = None
    window_to: datetime | None = None
    exclude_small_categories: bool = False
    justification: str | None = None


def _check(request: AuditRequest) -> None:
    errors: dict[str, list[str]] = {}
    if (request.role_key is None) == (request.job_id is None):
        errors["role"] = ["give exactly one of role and job_id"]
    if request.job_id is None and request.selection not in ROLE_SELECTIONS:
        errors["selection"] = [f"a role audit selects by one of {', '.join(ROLE_SELECTIONS)}"]
    if request.selection not in SELECTIONS:
        errors["selection"] = [f"one of {', '.join(SELECTIONS)}"]
    if request.exclude_small_categories and not (request.justification or "").strip():
        errors["justification"] = ["required when exclude_small_categories is true"]
    if errors:
        raise Invalid("the bias audit request is not valid", errors)


def _role_population(role: Role, request: AuditRequest) -> Select[Any]:
    selected: ColumnElement[bool] = {
        "must-haves-met": Match.must_haves_met.is_(True),
        "band-strong": Match.band == "strong",
        "band-good-or-better": Match.band.in_(("strong", "good")),
    }[request.selection]
    query = (
        select(
            Match.score_hundredths.label("score"),
            case((selected, 1), else_=0).label("selected"),
            Match.candidate_id.label("candidate_id"),
            Match.role_version.label("role_version"),
            Match.model_version.label("model_version"),
        )
        .select_from(Match)
        .where(Match.role_id == role.id)
    )
    if request.window_from is not None or request.window_to is not None:
        query = query.join(Candidate, Candidate.id == Match.candidate_id)
        if request.window_from is not None:
            query = query.where(Candidate.created_at >= request.window_from)
        if request.window_to is not None:
            query = query.where(Candidate.created_at < request.window_to)
    return query


def _stage_threshold(session: Session, job: Job, kind: str) -> int:
    position = session.scalar(
        select(func.min(JobStage.position)).where(
            JobStage.job_id == job.id, JobStage.kind == kind, JobStage.removed_at.is_(None)
        )
    )
    if position is None:  # the job's state, not the request's shape: a conflict
        raise Conflict(f"the job has no current stage of kind {kind!r} to select by")
    return int(position)


def _job_population(session: Session, job: Job, request: AuditRequest) -> Select[Any]:
    """A job's applications (erased ones too: their answers are gone, so they are unknown),
    each with the match snapshot of its ``created`` transition: the score at application."""
    selection = request.selection
    selected: ColumnElement[bool]
    if selection == "hired":
        selected = Application.status == "hired"
    elif selection.startswith("stage:"):
        # Reached a stage of that kind or a later-positioned one (a skip passes through, as in
        # the funnel), or was hired at any point: a hire is past every stage.
        threshold = _stage_threshold(session, job, selection.removeprefix("stage:"))
        step, stage = Transition.__table__.alias("step"), JobStage.__table__.alias("reached")
        selected = exists(
            select(literal(1))
            .select_from(step.join(stage, stage.c.id == step.c.to_stage_id))
            .where(
                step.c.application_id == Application.id,
                or_(stage.c.position >= threshold, step.c.kind == "hired"),
            )
        )
    else:
        selected = {
            "must-haves-met": Transition.must_haves_met.is_(True),
            "band-strong": Transition.band == "strong",
            "band-good-or-better": Transition.band.in_(("strong", "good")),
        }[selection]
    query = (
        select(
            Transition.score_hundredths.label("score"),
            case((selected, 1), else_=0).label("selected"),
            Application.candidate_id.label("candidate_id"),
            Transition.role_version.label("role_version"),
            Transition.model_version.label("model_version"),
        )
        .select_from(Application)
        .join(Transition, and_(Transition.application_id == Application.id, Transition.seq == 1))
        # An application whose candidate had no stored match has no score to audit.
        .where(Application.job_id == job.id, Transition.score_hundredths.is_not(None))
    )
    if request.window_from is not None:
        query = query.where(Application.applied_at >= request.window_from)
    if request.window_to is not None:
        query = query.where(Application.applied_at < request.window_to)
    return query


def _twice_median(session: Session, people: Any) -> tuple[int, int | None]:
    """(N, twice the median in hundredths) of ``people.score``; (0, None) when empty.

    PostgreSQL: its ``percentile_cont(0.5)``, the fastest way it has (one sort, in C). The
    scores are integers, so the mean of the two middle ones is a multiple of 0.5 and exact in
    a double: twice it is an exact integer. SQLite has no ordered-set aggregates: the one or
    two middle rows by ``ROW_NUMBER()``, and the mean taken here (as ``service.domain.funnel``
    does). ``tests/domain/test_bias_audits_sql.py`` holds both to a count person by person.
    """
    if session.get_bind().dialect.name == "postgresql":
        count, median = session.execute(
            select(
                func.count(),
                func.percentile_cont(0.5).within_group(people.c.score),
            ).select_from(people)
        ).one()
        return (int(count), None if median is None else round(2 * median))
    ranked = select(
        people.c.score,
        func.row_number().over(order_by=people.c.score).label("rn"),
        func.count().over().label("n"),
    ).subquery("ranked")
    middle = (ranked.c.n - 1) // 2  # 0-based rank of the (lower) middle value
    rows = session.execute(
        select(ranked.c.rn, ranked.c.n, ranked.c.score).where(
            or_(ranked.c.rn == middle + 1, ranked.c.rn == middle + 2)
        )
    ).all()
    if not rows:
        return (0, None)
    n = int(rows[0].n)
    by_rank = {int(r.rn): int(r.score) for r in rows}
    lower = by_rank[(n - 1) // 2 + 1]
    return (n, 2 * lower if n % 2 else lower + by_rank[(n - 1) // 2 + 2])


def aggregate(session: Session, population: Select[Any], *, versions: bool = True) -> Aggregates:
    """The median and the per-answer-pair counts of ``population``, in two SQL statements;
    with ``versions``, also which role and model versions the scores came from.

    The answers are joined only in the second statement, where they are counted: the median
    needs the scores alone, so its statement is the bare ``percentile_cont`` over the
    population (the floor ``bench.audit`` measures against), not a sort of the join. The join
    is an outer one on the answers' primary key, so it neither adds nor drops a person.
    """
    people = population.subquery("people")
    n, twice_median = _twice_median(session, people)
    if twice_median is None:
        return Aggregates(0, None, ())

    answers = SelfIdentification
    doubled = 2 * people.c.score
    columns = [
        answers.sex,
        answers.race_ethnicity,
        func.count(),
        func.sum(case((doubled > twice_median, 1), else_=0)),
        func.sum(case((doubled == twice_median, 1), else_=0)),
        func.sum(people.c.selected),
    ]
    if versions:
        columns += [
            func.min(people.c.role_version),
            func.max(people.c.role_version),
            func.min(people.c.model_version),
            func.max(people.c.model_version),
        ]
    cells = []
    seen: set[tuple[Any, Any]] = set()
    for row in session.execute(
        select(*columns)
        .select_from(people)
        .outerjoin(answers, answers.candidate_id == people.c.candidate_id)
        .group_by(answers.sex, answers.race_ethnicity)
        .order_by(answers.sex, answers.race_ethnicity)
    ):
        sex, race, count, above, ties, selected = row[:6]
        cells.append(Cell(sex, race, int(count), int(above), int(ties), int(selected)))
        if versions:
            seen.update({(row[6], row[8]), (row[7], row[9])})
    role_versions = {v for v, _ in seen}
    model_versions = {m for _, m in seen}
    return Aggregates(
        population=n,
        twice_median_hundredths=twice_median,
        cells=tuple(cells),
        # One version when every score came from it; several (a job's snapshots can span role
        # versions): null, and the report says so.
        role_version=role_versions.pop() if len(role_versions) == 1 else None,
        model_version=model_versions.pop() if len(model_versions) == 1 else None,
    )


# --------------------------------------------------------------------------- use cases


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def inputs_hash(parameters: dict[str, Any], aggregates: Aggregates) -> str:
    """SHA-256 (hex) of the canonical JSON of the request's parameters and the aggregates."""
    canonical = json.dumps(
        {
            "parameters": parameters,
            "population": aggregates.population,
            "twice_median_hundredths": aggregates.twice_median_hundredths,
            "cells": sorted(
                [
                    c.sex or "",
                    c.race_ethnicity or "",
                    c.n,
                    c.scored_above,
                    c.ties_at_median,
                    c.selected,
                ]
                for c in aggregates.cells
            ),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def run_audit(
    session: Session, request: AuditRequest, *, created_by_key_id: str | None = None
) -> BiasAudit:
    """Compute a bias audit report and store it (immutable); see the module docstring."""
    _check(request)
    job: Job | None = None
    if request.job_id is not None:
        job = session.get(Job, request.job_id)
        if job is None:
            raise NotFound(f"no job {request.job_id}")
        role = session.get_one(Role, job.role_id)
        population = _job_population(session, job, request)
    else:
        role = get_role(session, request.role_key or "")
        # Stored scores go stale when the month (recency) moves on: the same refresh as reads.
        matching.refresh_if_month_changed(session, role.id, role.scored_month)
        population = _role_population(role, request)
    aggregates = aggregate(session, population, versions=job is not None)
    if job is None:
        # A role's stored matches are all at its current version and model.
        aggregates = Aggregates(
            aggregates.population,
            aggregates.twice_median_hundredths,
            aggregates.cells,
            role.current_version,
            scoring.MODEL_VERSION,
        )
    window = None
    if request.window_from is not None or request.window_to is not None:
        window = {"from": _instant(request.window_from), "to": _instant(request.window_to)}
    parameters = {
        "method_version": METHOD_VERSION,
        "model_version": aggregates.model_version,
        "role": role.key,
        "role_version": aggregates.role_version,
        "job_id": None if job is None else str(job.id),
        "selection": request.selection,
        "window": window,
        "exclude_small_categories": request.exclude_small_categories,
    }
    numbers = compute_report(aggregates, exclude_small_categories=request.exclude_small_categories)
    report = {
        **parameters,
        "justification": request.justification if request.exclude_small_categories else None,
        "population": numbers["population"],
        "median": numbers["median"],
        "ties_at_median": numbers["ties_at_median"],
        "share_above": numbers["share_above"],
        "inputs_hash": inputs_hash(parameters, aggregates),
        "dimensions": numbers["dimensions"],
    }
    audit = BiasAudit(
        created_at=utcnow(),
        created_by_key_id=created_by_key_id,
        method_version=METHOD_VERSION,
        role_key=role.key,
        job_id=None if job is None else job.id,
        selection=request.selection,
        population=aggregates.population,
        inputs_hash=report["inputs_hash"],
        justification=report["justification"],
        report=report,
    )
    session.add(audit)
    session.flush()
    return audit


def get_audit(session: Session, audit_id: uuid.UUID) -> BiasAudit:
    audit = session.get(BiasAudit, audit_id)
    if audit is None:
        raise NotFound(f"no bias audit {audit_id}")
    return audit


def list_audits(
    session: Session,
    *,
    limit: int,
    after: uuid.UUID | None = None,
    role_key: str | None = None,
    job_id: uuid.UUID | None = None,
) -> Sequence[BiasAudit]:
    """Reports in creation order (ids are time-ordered), optionally of one role or one job."""
    query = select(BiasAudit).order_by(BiasAudit.id).limit(limit)
    if after is not None:
        query = query.where(BiasAudit.id > after)
    if role_key is not None:
        query = query.where(BiasAudit.role_key == role_key)
    if job_id is not None:
        query = query.where(BiasAudit.job_id == job_id)
    return session.scalars(query).all()
