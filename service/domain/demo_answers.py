"""The demo people's voluntary answers (``rolefit demo``), so that a bias audit of the demo
compares categories instead of finding everyone unknown.

Four in five demo candidates answer, drawn independently of their archetype (and so of their
scores), with a declined answer now and then; the same seed always gives the same answers. A
module of its own, not part of :mod:`service.domain.demo`: that one calls the scoring code, and
no caller of the scoring code may reach the answers (``tests/test_no_demographics_in_scoring.py``).
"""

from __future__ import annotations

import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain.demo import SOURCE
from service.domain.self_identification import add_self_identifications
from service.models import Candidate, SelfIdentification
from service.models.accountability import DECLINED, RACES_ETHNICITIES, SEXES

ANSWERING = 0.8
DECLINING = 0.1


def demo_answers(index: int, seed: int) -> tuple[str | None, str | None] | None:
    """The ``index``-th demo candidate's (sex, race/ethnicity), or None for one who does not
    answer; a random stream of its own per person."""
    rng = random.Random(f"{seed}:{index}:answers")
    if rng.random() >= ANSWERING:
        return None

    def pick(values: tuple[str, ...]) -> str:
        return DECLINED if rng.random() < DECLINING else rng.choice(values)

    return pick(SEXES), pick(RACES_ETHNICITIES)


def load_demo_answers(session: Session, *, seed: int) -> int:
    """Write the answers of the ``seed``'s demo candidates who have none yet; how many."""
    prefix = f"{SOURCE}-{seed}-"
    unanswered = session.execute(
        select(Candidate.id, Candidate.external_id)
        .outerjoin(SelfIdentification, SelfIdentification.candidate_id == Candidate.id)
        .where(
            Candidate.source == SOURCE,
            Candidate.external_id.startswith(prefix, autoescape=True),
            SelfIdentification.candidate_id.is_(None),
        )
    )
    answers = {}
    for candidate_id, external_id in unanswered:
        found = demo_answers(int(str(external_id).removeprefix(prefix)), seed)
        if found is not None:
            answers[candidate_id] = found
    add_self_identifications(session, answers)
    return len(answers)
