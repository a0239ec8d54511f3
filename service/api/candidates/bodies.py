"""Response bodies of /v1/candidates, in the shapes :mod:`.schemas` documents."""

from __future__ import annotations

import functools
from typing import Any

from service.api.jsonio import rfc3339
from service.domain import scoring
from service.domain.candidates import StoredRecord
from service.models import Candidate


@functools.cache  # at most 13,200 months (1900-2999); a list page shows hundreds of records
def _month_text(index: int) -> str:
    """``YYYY-MM`` of a month index: building and checking a Month for each record was 1.1 ms
    of a 20 ms ``q`` page (443 records; cProfile)."""
    return str(scoring.Month.from_index(index))


def record_body(record: StoredRecord) -> dict[str, Any]:
    last_used = record.last_used_month
    return {
        "competency": record.competency,
        "level": record.level,
        "years": record.years,
        "last_used": None if last_used is None else _month_text(last_used),
        "evidence": record.evidence,
        "note": record.note,
    }


def candidate_body(
    candidate: Candidate, records: list[StoredRecord], *, show_contact: bool
) -> dict[str, Any]:
    """A candidate with their records; ``email`` and ``phone`` only when ``show_contact``."""
    body: dict[str, Any] = {
        "id": str(candidate.id),
        "external_id": candidate.external_id,
        "source": candidate.source,
        "name": candidate.name,
    }
    if show_contact:
        body["email"] = candidate.email
        body["phone"] = candidate.phone
    body |= {
        "headline": candidate.headline,
        "years_experience": candidate.years_experience,
        "competencies": [record_body(r) for r in records],
        "created_at": rfc3339(candidate.created_at),
        "updated_at": rfc3339(candidate.updated_at),
        "legal_hold": candidate.legal_hold,
    }
    return body
