"""The role summary read from its counts equals the summary scanned from the stored matches.

Random candidates (seeded, so a failure names its seed) go through the domain's own use cases:
created one by one and in batches, profiles and records changed, records replaced, candidates
erased, a role changed (every candidate rescored) and a new role created. Records are drawn from
few levels and evidence kinds, so scores tie often. After every write, on both databases:

- :func:`score_counts.summary` (what ``GET /v1/roles/{key}/matches/summary`` serves) equals
  :func:`scanned_summary` (the computation over every stored match that it replaced), for every
  role, field by field;
- the counters equal the matches grouped by score, and recounting from scratch
  (:func:`score_counts.recount`) leaves them as the incremental updates left them.

Plus the edges: a role with no candidate, with one, and with every candidate on one score.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from service.domain import matching, roles, score_counts
from service.domain.candidates import (
    create_candidate,
    create_many,
    erase_candidate,
    replace_records,
    update_candidate,
)
from service.models import Candidate, Match, Role, RoleScoreCount, RoleScorePointCount

COMPETENCIES = (
    "technical-depth",
    "engineering-collaboration",
    "technical-requirements",
    "project-lifecycle",
    "stakeholder-communication",
    "program-oversight",
    "cross-functional-engagement",
    "strategic-alignment",
    "business-acumen",
    "change-management",
)


def scanned_summary(session: Session, role_id: int) -> dict[str, Any]:
    """The summary computed over every stored match of the role, in SQL: the reference (the
    computation the counts replaced, unchanged)."""
    count, total, met = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(Match.score_hundredths), 0),
            func.coalesce(func.sum(case((Match.must_haves_met, 1), else_=0)), 0),
        ).where(Match.role_id == role_id)
    ).one()
    bucket = case((Match.score_hundredths >= 10000, 9), else_=Match.score_hundredths // 1000)
    counts = dict(
        session.execute(
            select(bucket, func.count()).where(Match.role_id == role_id).group_by(bucket)
        ).all()
    )

    def percentile(fraction: float) -> float | None:
        if count == 0:
            return None
        position = fraction * (count - 1)
        lower = int(position)
        values = list(
            session.scalars(
                select(Match.score_hundredths)
                .where(Match.role_id == role_id)
                .order_by(Match.score_hundredths)
                .offset(lower)
                .limit(2)
            )
        )
        low = values[0]
        high = values[1] if len(values) > 1 else low
        return round((low + (high - low) * (position - lower)) / 100, 2)

    return {
        "count": count,
        "mean": round(total / count / 100, 2) if count else None,
        "median": percentile(0.5),
        "p90": percentile(0.9),
        "must_haves_met": int(met),
        "histogram": [
            {"from": b * 10, "to": b * 10 + 10, "count": int(counts.get(b, 0))} for b in range(10)
        ],
    }


def _counters(session: Session) -> dict[tuple[int, int], tuple[int, int]]:
    return {
        (r, s): (n, m)
        for r, s, n, m in session.execute(
            select(
                RoleScoreCount.role_id,
                RoleScoreCount.score_hundredths,
                RoleScoreCount.n,
                RoleScoreCount.met,
            ).where(RoleScoreCount.n != 0)
        )
    }


def _point_counters(session: Session) -> dict[tuple[int, int], tuple[int, int, int]]:
    return {
        (r, p): (n, m, t)
        for r, p, n, m, t in session.execute(
            select(
                RoleScorePointCount.role_id,
                RoleScorePointCount.point,
                RoleScorePointCount.n,
                RoleScorePointCount.met,
                RoleScorePointCount.total,
            ).where(RoleScorePointCount.n != 0)
        )
    }


def _points_of(counters: dict[tuple[int, int], tuple[int, int]]) -> dict[Any, Any]:
    """The exact counters summed by whole point: what the point counts must hold."""
    points: dict[tuple[int, int], list[int]] = {}
    for (role, score), (n, met) in counters.items():
        sums = points.setdefault((role, score // 100), [0, 0, 0])
        sums[0] += n
        sums[1] += met
        sums[2] += n * score
    return {key: tuple(sums) for key, sums in points.items()}


def assert_exact(session: Session, when: str) -> None:
    session.commit()  # each write is its own transaction and session, as each request is
    session.expunge_all()
    for role_id in session.scalars(select(Role.id)):
        counted = score_counts.summary(session.connection(), role_id)
        scanned = scanned_summary(session, role_id)
        assert counted == scanned, f"after {when}, role {role_id}"
    incremental = _counters(session)
    assert all(n > 0 and 0 <= m <= n for n, m in incremental.values()), when
    points = _point_counters(session)
    assert points == _points_of(incremental), f"after {when}, the counts by point"
    score_counts.recount(session)
    assert _counters(session) == incremental, f"after {when}, recounted"
    assert _point_counters(session) == points, f"after {when}, recounted by point"


def _records(rnd: random.Random) -> list[dict[str, Any]]:
    """A few records of few distinct levels and kinds: many candidates tie on their score."""
    return [
        {
            "competency": key,
            "level": rnd.choice((2, 3, 5)),
            "evidence": rnd.choice(("assessment", "self")),
        }
        for key in rnd.sample(COMPETENCIES, rnd.randint(0, 5))
    ]


def _draft(rnd: random.Random, title: str) -> roles.RoleDraft:
    return roles.RoleDraft(
        title=title,
        summary="",
        focus="",
        responsibilities=[
            {
                "competency": key,
                "importance": rnd.randint(1, 5),
                "level": rnd.randint(1, 5),
                "must_have": rnd.random() < 0.3,
            }
            for key in rnd.sample(COMPETENCIES, rnd.randint(1, 6))
        ],
    )


@pytest.mark.parametrize("seed", range(4))
def test_counted_summary_equals_the_scanned_one(session: Session, seed: int) -> None:
    rnd = random.Random(seed)
    assert_exact(session, "nothing")  # the built-in roles, no candidate: count 0, no median
    first = create_candidate(session, {"name": "Only", "competencies": _records(rnd)})
    assert_exact(session, "one candidate")
    for i in range(rnd.randint(5, 15)):
        create_candidate(session, {"name": f"C{i}", "competencies": _records(rnd)})
    assert_exact(session, "creations")
    outcome = create_many(
        session,
        [(i, {"name": f"B{i}", "competencies": _records(rnd)}) for i in range(rnd.randint(20, 60))],
    )
    assert outcome.created and not outcome.failed
    assert_exact(session, "a batch")

    ids = list(session.scalars(select(Candidate.id).order_by(Candidate.id)))
    for candidate_id in rnd.sample(ids, 5):
        candidate = session.get_one(Candidate, candidate_id)
        update_candidate(session, candidate, {"name": "Renamed", "competencies": _records(rnd)})
    assert_exact(session, "PATCH with records")
    update_candidate(session, session.get_one(Candidate, ids[1]), {"headline": "new"})
    assert_exact(session, "PATCH of the profile only")
    for candidate_id in rnd.sample(ids, 5):
        replace_records(session, session.get_one(Candidate, candidate_id), _records(rnd))
    assert_exact(session, "PUT competencies")
    for candidate_id in rnd.sample([i for i in ids if i != first.id], 4):
        erase_candidate(session, candidate_id)
    assert_exact(session, "erasure")

    tpm = session.scalars(select(Role).where(Role.key == "tpm")).one()
    roles.add_version(session, tpm, tpm.current_version, _draft(rnd, "TPM again"), None)
    assert_exact(session, "a role change (rescore)")
    roles.create_role(session, f"new-{seed}", _draft(rnd, "New"), None)
    assert_exact(session, "a new role")
    create_candidate(session, {"name": "After", "competencies": _records(rnd)})
    erase_candidate(session, first.id)
    assert_exact(session, "writes after the role changes")


def test_every_candidate_on_one_score(session: Session) -> None:
    """All ties: median and p90 are that score, the histogram one full bucket."""
    records = [{"competency": "technical-depth", "level": 3, "evidence": "assessment"}]
    for i in range(7):
        create_candidate(session, {"name": f"T{i}", "competencies": records})
    tpm = session.scalars(select(Role.id).where(Role.key == "tpm")).one()
    summary = score_counts.summary(session.connection(), tpm)
    assert summary["count"] == 7 and summary["median"] == summary["p90"] == summary["mean"]
    assert sorted(b["count"] for b in summary["histogram"]) == [0] * 9 + [7]
    assert_exact(session, "ties")


def test_a_role_without_candidates_and_with_one(session: Session) -> None:
    tpm = session.scalars(select(Role.id).where(Role.key == "tpm")).one()
    empty = score_counts.summary(session.connection(), tpm)
    assert empty["count"] == 0 and empty["mean"] is None and empty["median"] is None
    candidate = create_candidate(session, {"name": "Solo", "competencies": []})
    one = score_counts.summary(session.connection(), tpm)
    assert one["count"] == 1 and one["median"] == one["p90"] == one["mean"] == 0.0
    erase_candidate(session, candidate.id)
    assert score_counts.summary(session.connection(), tpm) == empty
    assert_exact(session, "erasing the only candidate")


def test_a_rescore_rewrites_only_the_rows_that_change(session: Session) -> None:
    """Rows already equal to their rescored values are not written again (no new row version,
    ``computed_at`` kept); a new role version changes every row (its version is on the row)."""
    rnd = random.Random(7)
    for i in range(12):
        create_candidate(session, {"name": f"R{i}", "competencies": _records(rnd)})
    session.commit()
    tpm = session.scalars(select(Role).where(Role.key == "tpm")).one()
    stamps = dict(
        session.execute(
            select(Match.candidate_id, Match.computed_at).where(Match.role_id == tpm.id)
        ).all()
    )
    again = matching.rescore_role(session, tpm.id)
    assert (again.written, again.rewritten, again.band_changes) == (12, 0, 0)
    assert stamps == dict(
        session.execute(
            select(Match.candidate_id, Match.computed_at).where(Match.role_id == tpm.id)
        ).all()
    )
    roles.add_version(session, tpm, tpm.current_version, _draft(rnd, "TPM v2"), None)
    versions = set(session.scalars(select(Match.role_version).where(Match.role_id == tpm.id)))
    assert versions == {tpm.current_version}
    assert_exact(session, "in-place rescores")


@pytest.mark.parametrize(
    "scores",
    [
        [0, 999, 1000, 5000],  # the median between two histogram buckets
        [0, 999, 1000, 10000, 10000],  # a perfect score in the last bucket
        [9999, 10000],
        [5000] * 9 + [5001],  # p90 between the last two
    ],
)
def test_percentiles_across_histogram_buckets(session: Session, scores: list[int]) -> None:
    """The counters of chosen scores (written directly) give the scan's percentiles."""
    tpm = session.scalars(select(Role.id).where(Role.key == "tpm")).one()
    for score in sorted(set(scores)):
        session.add(
            RoleScoreCount(role_id=tpm, score_hundredths=score, n=scores.count(score), met=0)
        )
    for point in sorted({s // 100 for s in scores}):
        here = [s for s in scores if s // 100 == point]
        session.add(
            RoleScorePointCount(role_id=tpm, point=point, n=len(here), met=0, total=sum(here))
        )
    session.flush()
    ordered = sorted(scores)

    def percentile(fraction: float) -> float:
        position = fraction * (len(ordered) - 1)
        lower = int(position)
        low = ordered[lower]
        high = ordered[lower + 1] if lower + 1 < len(ordered) else low
        return round((low + (high - low) * (position - lower)) / 100, 2)

    summary = score_counts.summary(session.connection(), tpm)
    assert (summary["median"], summary["p90"]) == (percentile(0.5), percentile(0.9))
    assert summary["count"] == len(scores)
    assert summary["histogram"][9]["count"] == sum(1 for s in scores if s >= 9000)
