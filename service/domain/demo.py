"""Deterministic synthetic candidates for trying the service out (``rolefit demo``).

The same seed always gives the same people. Four archetypes drawn from the seed article: the
technically deep TPM, the strategic, cross-functional TMP, a mix of both, and weak profiles.
They are written through the batch import path (:func:`candidates.create_many`), so a demo load
exercises exactly what an HR system's sync does. Contact data uses reserved example domains
and fictional 555 numbers.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain.candidates import create_many
from service.domain.scoring import Month
from service.infra.bulk import refresh_statistics
from service.models import Candidate, CandidateCompetency, Match

SOURCE = "demo"
CHUNK = 500
# A bulk load refreshes the planner's statistics every this many chunks (see refresh_statistics).
STATISTICS_EVERY = 20

FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Barbara",
    "Edsger",
    "Frances",
    "Ken",
    "Margaret",
    "Linus",
    "Radia",
    "Dennis",
    "Katherine",
    "Tim",
    "Hedy",
    "Donald",
    "Shafi",
    "Yukihiro",
    "Anita",
    "Guido",
    "Sophie",
    "Niklaus",
    "Annie",
    "Bjarne",
    "Jean",
    "Leslie",
    "Mary",
    "Vint",
    "Evelyn",
    "John",
    "Lynn",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Liskov",
    "Dijkstra",
    "Allen",
    "Thompson",
    "Hamilton",
    "Torvalds",
    "Perlman",
    "Ritchie",
    "Johnson",
    "Berners-Lee",
    "Lamarr",
    "Knuth",
    "Goldwasser",
    "Matsumoto",
    "Borg",
    "van Rossum",
    "Wilson",
    "Wirth",
    "Easley",
    "Stroustrup",
    "Bartik",
    "Lamport",
    "Keller",
    "Cerf",
    "Boyd",
    "McCarthy",
    "Conway",
]

# Typical level (before noise) per competency for each archetype.
ARCHETYPES: dict[str, dict[str, int]] = {
    "tpm-like": {
        "technical-depth": 5,
        "engineering-collaboration": 4,
        "technical-requirements": 4,
        "project-lifecycle": 4,
        "stakeholder-communication": 3,
        "program-oversight": 2,
        "cross-functional-engagement": 2,
        "strategic-alignment": 2,
        "business-acumen": 1,
        "change-management": 1,
    },
    "tmp-like": {
        "technical-depth": 2,
        "engineering-collaboration": 3,
        "technical-requirements": 2,
        "project-lifecycle": 3,
        "stakeholder-communication": 4,
        "program-oversight": 4,
        "cross-functional-engagement": 5,
        "strategic-alignment": 4,
        "business-acumen": 4,
        "change-management": 3,
    },
    "mixed": {
        "technical-depth": 4,
        "engineering-collaboration": 4,
        "technical-requirements": 3,
        "project-lifecycle": 4,
        "stakeholder-communication": 4,
        "program-oversight": 3,
        "cross-functional-engagement": 3,
        "strategic-alignment": 3,
        "business-acumen": 3,
        "change-management": 2,
    },
    "weak": {
        "technical-depth": 1,
        "engineering-collaboration": 2,
        "technical-requirements": 1,
        "project-lifecycle": 2,
        "stakeholder-communication": 2,
        "program-oversight": 1,
        "cross-functional-engagement": 1,
        "strategic-alignment": 1,
        "business-acumen": 1,
        "change-management": 1,
    },
}
HEADLINES = {
    "tpm-like": "Technical program manager, platform engineering",
    "tmp-like": "Technology program manager, go-to-market and operations",
    "mixed": "Program manager bridging engineering and business",
    "weak": "Project coordinator",
}
# Interviews and references are the common evidence in a pipeline; assessments are rarer.
EVIDENCE_WEIGHTS = {
    "self": 30,
    "reference": 20,
    "interview": 30,
    "work-sample": 10,
    "assessment": 10,
}


def demo_candidate(index: int, seed: int, today: Month) -> dict[str, Any]:
    """The ``index``-th demo candidate for ``seed``; depends on nothing else but ``today``."""
    rng = random.Random(f"{seed}:{index}")
    archetype = rng.choices(list(ARCHETYPES), weights=[35, 35, 20, 10])[0]
    first, last = rng.choice(FIRST), rng.choice(LAST)
    years = round(rng.uniform(1, 25), 1)
    competencies = []
    for competency, typical in ARCHETYPES[archetype].items():
        if rng.random() < 0.12:
            continue  # not every profile mentions every competency
        level = max(0, min(5, typical + rng.choice([-1, 0, 0, 0, 1])))
        months_ago = int(rng.triangular(0, 96, 6))
        competencies.append(
            {
                "competency": competency,
                "level": level,
                "years": round(min(years, rng.uniform(0.5, years)), 1),
                "last_used": Month.from_index(today.index - months_ago),
                "evidence": rng.choices(
                    list(EVIDENCE_WEIGHTS), weights=list(EVIDENCE_WEIGHTS.values())
                )[0],
            }
        )
    return {
        "external_id": f"demo-{seed}-{index:06d}",
        "source": SOURCE,
        "name": f"{first} {last}",
        "email": f"{first}.{last}.{index}@example.com".lower().replace(" ", ""),
        "phone": f"+1 555 01{index % 100:02d}",
        "headline": HEADLINES[archetype],
        "years_experience": years,
        "competencies": competencies,
    }


def load_demo(
    session: Session,
    *,
    count: int,
    seed: int,
    today: Month | None = None,
    on_chunk: Callable[[], None] | None = None,
    share: tuple[int, int] = (0, 1),
) -> tuple[int, int]:
    """Create the first ``count`` demo candidates that are missing; returns (created, skipped).

    ``share`` = (k, n): only every n-th chunk of :data:`CHUNK` candidates, starting at the
    k-th, so that n loaders in parallel load each candidate once. The first share refreshes
    the planner's statistics as it goes; :func:`finish_load` once at the end."""
    from service.domain.matching import current_month

    part, parts = share
    today = today or current_month()
    existing = set(session.scalars(select(Candidate.external_id).where(Candidate.source == SOURCE)))
    created = skipped = loaded = 0
    # The first share refreshes the statistics every STATISTICS_EVERY chunks of the whole load.
    refresh_every = max(1, STATISTICS_EVERY // parts)
    for chunk_number, start in enumerate(range(0, count, CHUNK)):
        if chunk_number % parts != part:
            continue
        items = []
        for index in range(start, min(count, start + CHUNK)):
            if f"demo-{seed}-{index:06d}" in existing:
                skipped += 1
                continue
            items.append((index, demo_candidate(index, seed, today)))
        if items:
            outcome = create_many(session, items)
            created += len(outcome.created)
            loaded += 1
            if part == 0 and loaded % refresh_every == 0:
                refresh_statistics(session, Candidate, CandidateCompetency, Match)
            if on_chunk is not None:
                on_chunk()
    return created, skipped


def finish_load(session: Session) -> None:
    """After a load (every share of it): the planner's statistics of the loaded tables."""
    refresh_statistics(session, Candidate, CandidateCompetency, Match)
