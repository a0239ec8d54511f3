"""Candidates' voluntary self-identification (sex, race/ethnicity): written, never read back.

The answers exist for one purpose, the aggregates of a bias audit
(:mod:`service.domain.bias_audits`, the only other module that reads the table). Nothing
here returns them, and nothing that scores, matches or ranks imports this module or the model
(``tests/test_no_demographics_in_scoring.py`` checks it from the code). No answer is ever
logged, put in an event or in an audit event: the trail says that self-identification was
written for a candidate, not what.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from service.domain.errors import NotFound
from service.infra.bulk import bulk_insert
from service.infra.orm import utcnow
from service.models import Candidate, SelfIdentification
from service.models.accountability import DECLINED, RACES_ETHNICITIES, SEXES

SEX_ANSWERS: tuple[str, ...] = (*SEXES, DECLINED)
RACE_ETHNICITY_ANSWERS: tuple[str, ...] = (*RACES_ETHNICITIES, DECLINED)


def put_self_identification(
    session: Session, candidate_id: uuid.UUID, answers: dict[str, Any]
) -> None:
    """Replace the candidate's answers with ``answers`` (an omitted field becomes unknown).

    The candidate's own row is not touched: its version, ETag and ``updated_at`` stay, so
    that writing self-identification is not visible on the profile either.
    """
    if session.get(Candidate, candidate_id) is None:
        raise NotFound(f"no candidate {candidate_id}")
    row = session.get(SelfIdentification, candidate_id)
    if row is None:
        row = SelfIdentification(candidate_id=candidate_id)
        session.add(row)
    row.sex = answers.get("sex")
    row.race_ethnicity = answers.get("race_ethnicity")
    row.updated_at = utcnow()
    session.flush()


def add_self_identifications(
    session: Session, answers: Mapping[uuid.UUID, tuple[str | None, str | None]]
) -> None:
    """The (sex, race/ethnicity) answers of candidates who have none yet, in one bulk insert
    (the demo's synthetic people: real ones answer one by one through the API)."""
    now = utcnow()
    rows = [
        {"candidate_id": candidate_id, "sex": sex, "race_ethnicity": race, "updated_at": now}
        for candidate_id, (sex, race) in answers.items()
    ]
    if rows:
        bulk_insert(session, SelfIdentification, rows)


def erase_self_identification(session: Session, candidate_id: uuid.UUID) -> None:
    """Part of erasure: the answers go with the person (explicitly, not by the foreign key's
    cascade, which SQLite honours only with its pragma on)."""
    session.execute(
        delete(SelfIdentification).where(SelfIdentification.candidate_id == candidate_id)
    )
