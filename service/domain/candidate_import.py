"""Importing a JSON Resume: create a candidate, or replace the one with the same
``(source, external_id)``, from the mapping of :mod:`service.domain.resume_import`.

The change itself goes through the candidates' use cases (:func:`candidates.create_candidate`,
:func:`candidates.update_candidate`), so the rules, the conflict check and the rescoring are
theirs: an import is one more way to call them, not a second way to write a candidate. The API
(``POST /v1/candidates/import``) and the CLI (``rolefit import resume``) both come here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain import audit, candidates, catalog
from service.domain.resume_import import ResumeMapping, read_resume
from service.infra.orm import utcnow
from service.models import Candidate

DEFAULT_SOURCE = "json-resume"
CONTACT_PATHS = {"email": "basics.email", "phone": "basics.phone"}
OUTCOMES = ("created", "replaced", "dry-run")


@dataclass(frozen=True)
class Ignored:
    """Something of the résumé that was read and deliberately not stored, and why."""

    path: str
    reason: str


@dataclass
class ImportResult:
    """What an import did (``outcome``), to which candidate, and why each record exists.

    ``candidate`` is the stored candidate (None on a dry run); ``replaces`` is the candidate
    whose records were (or, on a dry run, would be) replaced, None when one is (would be) new.
    """

    outcome: str
    mapping: ResumeMapping
    candidate: Candidate | None = None
    replaces: uuid.UUID | None = None
    ignored: list[Ignored] = field(default_factory=list)


def import_resume(
    session: Session,
    document: Any,
    *,
    source: str = DEFAULT_SOURCE,
    external_id: str | None = None,
    with_contact: bool = False,
    dry_run: bool = False,
    actor: audit.Actor | None = None,
) -> ImportResult:
    """Check and map ``document``, then create or replace the candidate (unless ``dry_run``).

    With an ``external_id``, an existing candidate of the same ``(source, external_id)`` has
    its profile and records replaced (its id stays); else a new candidate is created. Contact
    fields are stored only ``with_contact`` (the caller may write them); without, they are
    listed as ignored and a replaced candidate keeps the ones it had. Raises ``Invalid`` (422)
    for a document that is not a JSON Resume rolefit can read.

    ``actor``: a command-line job, whose change is recorded in the audit trail here (the API's
    views record their own, with the request's key).
    """
    mapping = read_resume(document, catalog.current(session).taxonomy, utcnow().date())
    data = mapping.candidate_data(with_contact=with_contact)
    ignored = [
        Ignored(path, "contact fields need the scope candidates:pii; not stored")
        for name, path in CONTACT_PATHS.items()
        if not with_contact and getattr(mapping.profile, name) is not None
    ]
    existing = _existing(session, source, external_id, lock=not dry_run)
    replaces = existing.id if existing is not None else None
    if dry_run:
        return ImportResult("dry-run", mapping, None, replaces, ignored)
    if existing is None:
        created = candidates.create_candidate(
            session, {**data, "source": source, "external_id": external_id}
        )
        result = ImportResult("created", mapping, created, None, ignored)
    else:
        candidates.update_candidate(session, existing, data)
        result = ImportResult("replaced", mapping, existing, replaces, ignored)
    if actor is not None and result.candidate is not None:
        action = "create" if result.outcome == "created" else "update"
        audit.record(session, [audit.event(actor, action, "candidate", result.candidate.id)])
    return result


def summary(result: ImportResult) -> str:
    """One line for a person: what was done, to whom, which records and what matched nothing."""
    mapping = result.mapping
    who = f"{mapping.profile.name!r}"
    if result.candidate is not None:
        who = f"{result.candidate.id} {who}"
    elif result.replaces is not None:
        who = f"{result.replaces} {who} (would be replaced)"
    records = ", ".join(f"{r.competency} {r.level.level}" for r in mapping.records) or "none"
    line = f"{result.outcome} {who}: {len(mapping.records)} record(s) [{records}]"
    if mapping.unmapped:
        shown = ", ".join(repr(u.text) for u in mapping.unmapped[:10])
        more = f" and {len(mapping.unmapped) - 10} more" if len(mapping.unmapped) > 10 else ""
        line += f"; {len(mapping.unmapped)} unmapped: {shown}{more}"
    return line


def _existing(
    session: Session, source: str, external_id: str | None, *, lock: bool
) -> Candidate | None:
    """The candidate with this ``(source, external_id)``, if any; locked (PostgreSQL) when it
    is to be replaced, so that two imports of the same résumé replace one after the other."""
    if external_id is None:
        return None
    query = select(Candidate).where(
        Candidate.source == source, Candidate.external_id == external_id
    )
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()
