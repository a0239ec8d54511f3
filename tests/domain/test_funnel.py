"""The job funnel (``service.domain.funnel``) against numbers worked out by hand.

One small job, the default stages Applied(1) / Screen(2) / Assessment(3) / Interview(4) /
Offer(5), and six applications whose every transition has a known time (``day(n)`` is n days
after a fixed midnight in the past):

    A  referral  d0 Applied -> d2 Screen -> d5 Interview (skips Assessment) -> d9 Offer
                 -> d10 hired                                         hired, time to hire 10
    B  applied   d1 Applied -> d2 Screen -> d4 Assessment -> d5 Screen (backwards)
                 -> d8 rejected -> d9 unrejected -> d12 Interview      active in Interview
    C  referral  d2 Applied -> d3 Screen -> d6 Assessment -> d8 Interview -> d10 Offer
                 -> d11 hired -> d12 unhired -> d14 rejected           rejected in Offer
    D  sourced   d3 created in Screen (skips Applied) -> d7 hired      hired, time to hire 4
    E  applied   d4 Applied -> d6.5 rejected                           rejected in Applied
    F  agency    d5 Applied                                            active in Applied

Furthest positions: A 5, B 4, C 5, D 2, E 1, F 1; hired at: A 5, C 5 (then unhired), D 2.

Completed stays (into a stage with to_status active, until the next transition), in days:
    Applied     A 2, B 1, C 1, E 2.5          (F's stay has no end; D never entered it)
    Screen      A 3, B 2, B 3, B 3, C 3, D 4  (B twice after the backwards move, again after
                                               the unreject)
    Assessment  B 1, C 2
    Interview   A 4, C 2                      (B's stay has no end)
    Offer       A 1, C 1, C 2                 (C's second stay began with the unhire)
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain.applications import Actor, act, create_application
from service.domain.candidates import create_candidate, erase_candidate
from service.domain.funnel import job_funnel
from service.domain.jobs import create_job, current_stages, replace_stages
from service.infra.orm import utcnow
from service.models import Application, Job

ACTOR = Actor(key_id=None, name="test")
# A midnight well in the past: every time of the scenario is a whole (or half) day after it.
T0 = utcnow().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=100)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


class Pipeline:
    """Drives one job's applications, giving each transition a chosen time."""

    def __init__(self, session: Session, job: Job) -> None:
        self.session = session
        self.job = job
        self.stage = {s.name: s.id for s in current_stages(job)}
        self.candidates: dict[str, uuid.UUID] = {}

    def apply(self, name: str, at: float, channel: str, stage: str | None = None) -> Application:
        candidate = create_candidate(self.session, {"name": name})
        self.candidates[name] = candidate.id
        data: dict[str, Any] = {
            "candidate_id": candidate.id,
            "job_id": self.job.id,
            "source": {"channel": channel, "detail": f"{name}'s source"},
            "applied_at": day(at),
        }
        if stage is not None:
            data["stage"] = self.stage[stage]
        return create_application(self.session, data, ACTOR)

    def _act(self, application: Application, action: str, at: float, **body: Any) -> None:
        act(self.session, application, action, body, ACTOR, at=day(at))

    def move(self, application: Application, to: str, at: float) -> None:
        self._act(application, "move", at, from_stage=application.stage_id, to_stage=self.stage[to])

    def reject(self, application: Application, at: float) -> None:
        self._act(application, "reject", at, reason="weaker-than-others")

    def unreject(self, application: Application, at: float) -> None:
        self._act(application, "unreject", at)

    def hire(self, application: Application, at: float) -> None:
        self._act(application, "hire", at)

    def unhire(self, application: Application, at: float) -> None:
        self._act(application, "unhire", at)


def _job(session: Session, title: str = "Technical Program Manager, Payments") -> Job:
    return create_job(session, {"title": title, "role": "tpm", "openings": 3, "status": "open"})


def _scenario(session: Session) -> Pipeline:
    """The six applications of the module docstring."""
    p = Pipeline(session, _job(session))
    a = p.apply("A", 0, "referral")
    p.move(a, "Screen", 2)
    p.move(a, "Interview", 5)
    p.move(a, "Offer", 9)
    p.hire(a, 10)

    b = p.apply("B", 1, "applied")
    p.move(b, "Screen", 2)
    p.move(b, "Assessment", 4)
    p.move(b, "Screen", 5)
    p.reject(b, 8)
    p.unreject(b, 9)
    p.move(b, "Interview", 12)

    c = p.apply("C", 2, "referral")
    p.move(c, "Screen", 3)
    p.move(c, "Assessment", 6)
    p.move(c, "Interview", 8)
    p.move(c, "Offer", 10)
    p.hire(c, 11)
    p.unhire(c, 12)
    p.reject(c, 14)

    d = p.apply("D", 3, "sourced", stage="Screen")
    p.hire(d, 7)

    e = p.apply("E", 4, "applied")
    p.reject(e, 6.5)

    p.apply("F", 5, "agency")
    return p


def _stage(
    p: Pipeline,
    name: str,
    position: int,
    reached: int,
    current: int,
    rejected_here: int,
    advanced: int,
    conversion: float | None,
    median: float | None,
    p90: float | None,
) -> dict[str, Any]:
    return {
        "stage": {
            "id": str(p.stage[name]),
            "name": name,
            "kind": name.lower(),
            "position": position,
        },
        "reached": reached,
        "current": current,
        "rejected_here": rejected_here,
        "advanced": advanced,
        "conversion": conversion,
        "days_in_stage": {"median": median, "p90": p90},
    }


# Percentiles below: with n sorted values v[0..n-1], rank r = q * (n - 1), value =
# v[floor(r)] + (v[floor(r) + 1] - v[floor(r)]) * frac(r).


def test_the_funnel_of_a_worked_example(session: Session) -> None:
    p = _scenario(session)

    funnel = job_funnel(session, p.job)

    assert funnel == {
        "job_id": str(p.job.id),
        "applications": 6,  # A..F
        "active": 2,  # B, F
        "hired": 2,  # A, D (C was unhired)
        "rejected": 2,  # C, E
        # Hired now: A 10 - 0 = 10, D 7 - 3 = 4 -> [4, 10]; median r 0.5: 4 + 6 * 0.5 = 7;
        # p90 r 0.9: 4 + 6 * 0.9 = 9.4.
        "time_to_hire_days": {"median": 7.0, "p90": 9.4},
        "stages": [
            # Applied: reached by all six (furthest >= 1; D skipped it); advanced A, B, C, D
            # (furthest > 1) = 4, 4 / 6 = 0.667; current F; rejected here E.
            # Stays [1, 1, 2, 2.5]: median r 1.5: 1 + 1 * 0.5 = 1.5; p90 r 2.7: 2 + 0.5 * 0.7
            # = 2.35.
            _stage(p, "Applied", 1, 6, 1, 1, 4, 0.667, 1.5, 2.35),
            # Screen: reached A, B, C, D (furthest >= 2); advanced A, B, C (furthest > 2) and D
            # (hired at Screen) = 4, conversion 1.0; nobody is in Screen now.
            # Stays [2, 3, 3, 3, 3, 4]: median r 2.5: 3; p90 r 4.5: 3 + 1 * 0.5 = 3.5.
            _stage(p, "Screen", 2, 4, 0, 0, 4, 1.0, 3.0, 3.5),
            # Assessment: reached A (skipped it), B, C; all three went further: 1.0.
            # Stays [1, 2]: median 1.5; p90 r 0.9: 1 + 1 * 0.9 = 1.9.
            _stage(p, "Assessment", 3, 3, 0, 0, 3, 1.0, 1.5, 1.9),
            # Interview: reached A, B, C; advanced A, C (furthest 5) = 2, 2 / 3 = 0.667;
            # current B. Stays [2, 4]: median 3; p90 2 + 2 * 0.9 = 3.8.
            _stage(p, "Interview", 4, 3, 1, 0, 2, 0.667, 3.0, 3.8),
            # Offer: reached A, C; both were hired there (C's unhire does not undo it): 2, 1.0;
            # rejected here C. Stays [1, 1, 2]: median r 1: 1; p90 r 1.8: 1 + 1 * 0.8 = 1.8.
            _stage(p, "Offer", 5, 2, 0, 1, 2, 1.0, 1.0, 1.8),
        ],
        "sources": [
            {"channel": "agency", "applications": 1, "hired": 0},  # F
            {"channel": "applied", "applications": 2, "hired": 0},  # B, E
            {"channel": "referral", "applications": 2, "hired": 1},  # A (hired), C
            {"channel": "sourced", "applications": 1, "hired": 1},  # D (hired)
        ],
    }


def test_the_source_filter(session: Session) -> None:
    p = _scenario(session)

    funnel = job_funnel(session, p.job, source="referral")

    # Only A and C.
    assert funnel == {
        "job_id": str(p.job.id),
        "applications": 2,
        "active": 0,
        "hired": 1,  # A
        "rejected": 1,  # C
        "time_to_hire_days": {"median": 10.0, "p90": 10.0},  # A alone: 10
        "stages": [
            # Stays A 2, C 1 -> [1, 2]: 1.5, 1.9.
            _stage(p, "Applied", 1, 2, 0, 0, 2, 1.0, 1.5, 1.9),
            # Stays A 3, C 3.
            _stage(p, "Screen", 2, 2, 0, 0, 2, 1.0, 3.0, 3.0),
            # A skipped it (still reached); the one stay is C's 2 days.
            _stage(p, "Assessment", 3, 2, 0, 0, 2, 1.0, 2.0, 2.0),
            # Stays A 4, C 2 -> [2, 4]: 3.0, 3.8.
            _stage(p, "Interview", 4, 2, 0, 0, 2, 1.0, 3.0, 3.8),
            # Both hired at Offer; C rejected there. Stays [1, 1, 2]: 1.0, 1.8.
            _stage(p, "Offer", 5, 2, 0, 1, 2, 1.0, 1.0, 1.8),
        ],
        "sources": [{"channel": "referral", "applications": 2, "hired": 1}],
    }


def test_the_applied_at_filters(session: Session) -> None:
    p = _scenario(session)

    # applied_after is inclusive: C (d2), D (d3), E (d4), F (d5).
    after = job_funnel(session, p.job, applied_after=day(2))
    assert (after["applications"], after["active"], after["hired"], after["rejected"]) == (
        4,
        1,  # F
        1,  # D
        2,  # C, E
    )
    assert after["time_to_hire_days"] == {"median": 4.0, "p90": 4.0}  # D alone
    # Applied: C, D, E, F reached it; C and D went further; F is in it, E was rejected in it.
    # Stays C 1, E 2.5 -> median 1.75; p90 1 + 1.5 * 0.9 = 2.35.
    applied = after["stages"][0]
    assert (applied["reached"], applied["advanced"], applied["conversion"]) == (4, 2, 0.5)
    assert (applied["current"], applied["rejected_here"]) == (1, 1)
    assert applied["days_in_stage"] == {"median": 1.75, "p90": 2.35}
    assert [s["reached"] for s in after["stages"]] == [4, 2, 1, 1, 1]  # C goes to Offer; D Screen

    # applied_before is exclusive: A (d0), B (d1).
    before = job_funnel(session, p.job, applied_before=day(2))
    assert (before["applications"], before["active"], before["hired"], before["rejected"]) == (
        2,
        1,  # B
        1,  # A
        0,
    )
    assert [s["reached"] for s in before["stages"]] == [2, 2, 2, 2, 1]
    assert [s["advanced"] for s in before["stages"]] == [2, 2, 2, 1, 1]
    assert [s["current"] for s in before["stages"]] == [0, 0, 0, 1, 0]
    assert [s["conversion"] for s in before["stages"]] == [1.0, 1.0, 1.0, 0.5, 1.0]
    assert before["sources"] == [
        {"channel": "applied", "applications": 1, "hired": 0},
        {"channel": "referral", "applications": 1, "hired": 1},
    ]

    # Both: B (d1), C (d2), D (d3); with the source too: C alone.
    both = job_funnel(session, p.job, applied_after=day(1), applied_before=day(4))
    assert both["applications"] == 3
    assert [s["channel"] for s in both["sources"]] == ["applied", "referral", "sourced"]
    only_c = job_funnel(
        session, p.job, applied_after=day(1), applied_before=day(4), source="referral"
    )
    assert (only_c["applications"], only_c["rejected"]) == (1, 1)
    assert only_c["time_to_hire_days"] == {"median": None, "p90": None}  # C is not hired now
    assert [s["days_in_stage"]["median"] for s in only_c["stages"]] == [1.0, 3.0, 2.0, 2.0, 1.5]


def _empty_funnel(job: Job) -> dict[str, Any]:
    return {
        "job_id": str(job.id),
        "applications": 0,
        "active": 0,
        "hired": 0,
        "rejected": 0,
        "time_to_hire_days": {"median": None, "p90": None},
        "stages": [
            {
                "stage": {"id": str(s.id), "name": s.name, "kind": s.kind, "position": s.position},
                "reached": 0,
                "current": 0,
                "rejected_here": 0,
                "advanced": 0,
                "conversion": None,
                "days_in_stage": {"median": None, "p90": None},
            }
            for s in current_stages(job)
        ],
        "sources": [],
    }


def test_a_job_without_applications(session: Session) -> None:
    p = _scenario(session)  # another job's applications are not this one's
    empty = _job(session, "Nobody applied")

    assert job_funnel(session, empty) == _empty_funnel(empty)
    # A cohort that selects nothing is the same.
    assert job_funnel(session, p.job, applied_after=day(6)) == _empty_funnel(p.job)


def test_an_erased_candidate_still_counts(session: Session) -> None:
    p = _scenario(session)
    before = job_funnel(session, p.job)

    erase_candidate(session, p.candidates["A"])
    session.expire_all()

    erased = list(session.scalars(select(Application).where(Application.erased.is_(True))))
    assert len(erased) == 1
    assert erased[0].candidate_id is None
    assert job_funnel(session, p.job) == before


def test_removed_stages_leave_the_funnel(session: Session) -> None:
    p = _scenario(session)
    # Nobody is active in Assessment: it can go. The others are renumbered 1..4.
    replace_stages(
        session,
        p.job,
        [
            {"id": p.stage[name], "name": name, "kind": name.lower()}
            for name in ("Applied", "Screen", "Interview", "Offer")
        ],
    )

    funnel = job_funnel(session, p.job)

    stages = funnel["stages"]
    assert [(s["stage"]["name"], s["stage"]["position"]) for s in stages] == [
        ("Applied", 1),
        ("Screen", 2),
        ("Interview", 3),
        ("Offer", 4),
    ]
    # Furthest positions now: A 4, B 3 (Interview), C 4, D 2, E 1, F 1; the stays in
    # Assessment (B 1, C 2) are no stage's any more.
    assert [s["reached"] for s in stages] == [6, 4, 3, 2]
    assert [s["advanced"] for s in stages] == [4, 4, 2, 2]
    assert [s["days_in_stage"] for s in stages] == [
        {"median": 1.5, "p90": 2.35},
        {"median": 3.0, "p90": 3.5},
        {"median": 3.0, "p90": 3.8},
        {"median": 1.0, "p90": 1.8},
    ]


@pytest.mark.parametrize(
    ("values", "median", "p90"),
    [
        ([5], 5.0, 5.0),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 6.0, 10.0),  # r 5 and 9 exactly
        ([0.5, 1.25, 4], 1.25, 3.45),  # p90 r 1.8: 1.25 + 2.75 * 0.8
    ],
)
def test_percentiles_of_time_in_stage(
    session: Session, values: list[float], median: float, p90: float
) -> None:
    """Stays of chosen lengths in Applied, each ended by a move to Screen."""
    p = Pipeline(session, _job(session))
    for index, length in enumerate(values):
        application = p.apply(f"P{index}", 0, "applied")
        p.move(application, "Screen", length)

    applied = job_funnel(session, p.job)["stages"][0]

    assert applied["days_in_stage"] == {"median": median, "p90": p90}
