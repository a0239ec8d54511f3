"""Candidates and their competency records: create, change, replace, erase, and bulk import.

Input arrives already shape-checked (the API's schemas); this module applies the rules that
need the database: competency names resolve through keys and aliases, ``(source,
external_id)`` is unique, and every change to records rescores the candidate in the same
transaction, so a stored score is never older than the records it came from.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.domain import catalog, events, matching, scoring
from service.domain.applications import erase_candidate_applications
from service.domain.batch import BatchOutcome
from service.domain.competencies import contains_pattern
from service.domain.errors import Conflict, DomainError, Invalid, NotFound
from service.domain.self_identification import erase_self_identification
from service.domain.taxonomy import Taxonomy, resolve_names
from service.infra.bulk import bulk_insert, rows_to_join
from service.infra.ids import uuid7
from service.infra.orm import utcnow
from service.infra.search import filtered_page
from service.models import (
    Candidate,
    CandidateCompetency,
    CandidateTombstone,
    Competency,
    IdempotencyRecord,
)

MAX_RECORDS = 200
PROFILE_FIELDS = ("external_id", "source", "name", "email", "phone", "headline", "years_experience")


@dataclass
class ResolvedRecords:
    """Records ready to store, and the same records as the scoring model sees them."""

    rows: list[dict[str, Any]]
    digest: str
    records: list[scoring.Record] = field(default_factory=list)


def resolve_records(
    taxonomy: Taxonomy, items: Sequence[dict[str, Any]], field_name: str = "competencies"
) -> ResolvedRecords:
    """Resolve names to competencies; 422 naming the closest known ones for unknown names."""
    resolved, errors = resolve_names(taxonomy, [i["competency"] for i in items], field_name)
    if errors:
        raise Invalid("some competencies are unknown or listed twice", errors)
    rows: list[dict[str, Any]] = []
    model_records: list[scoring.Record] = []
    for position, ((competency_id, key), item) in enumerate(zip(resolved, items, strict=True)):
        last_used: scoring.Month | None = item.get("last_used")
        evidence = item.get("evidence") or scoring.DEFAULT_EVIDENCE
        rows.append(
            {
                "competency_id": competency_id,
                "position": position,
                "level": item["level"],
                "years": item.get("years"),
                "last_used_month": last_used.index if last_used else None,
                "evidence": evidence,
                "note": item.get("note"),
            }
        )
        model_records.append(scoring.Record(key, item["level"], evidence, last_used))
    return ResolvedRecords(rows, scoring.records_digest(model_records), model_records)


def _taxonomy(session: Session) -> Taxonomy:
    """Competency names, from the worker's catalog cache while it is current."""
    return catalog.current(session).taxonomy


@dataclass(frozen=True)
class StoredRecord:
    """A competency record as stored, named by its competency's key."""

    competency: str
    level: int
    years: float | None
    last_used_month: int | None
    evidence: str
    note: str | None


def records_of(
    session: Session, candidate_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[StoredRecord]]:
    """Every record of these candidates, in their order, with one query."""
    by_candidate: dict[uuid.UUID, list[StoredRecord]] = {cid: [] for cid in candidate_ids}
    if not candidate_ids:
        return by_candidate
    cc = CandidateCompetency
    rows = session.execute(
        select(cc.candidate_id, Competency.key, cc.level, cc.years, cc.last_used_month)
        .add_columns(cc.evidence, cc.note)
        .join(Competency, Competency.id == cc.competency_id)
        .where(cc.candidate_id.in_(candidate_ids))
        .order_by(cc.candidate_id, cc.position)
    )
    for candidate_id, *fields in rows:
        by_candidate[candidate_id].append(StoredRecord(*fields))
    return by_candidate


def get_candidate(session: Session, candidate_id: uuid.UUID) -> Candidate:
    candidate = session.get(Candidate, candidate_id)
    if candidate is None:
        raise NotFound(f"no candidate {candidate_id}")
    return candidate


def list_candidates(
    session: Session,
    *,
    limit: int,
    after: uuid.UUID | None = None,
    updated_after: datetime | None = None,
    external_id: str | None = None,
    source: str | None = None,
    q: str | None = None,
) -> list[Candidate]:
    """Up to ``limit`` candidates ordered by id (creation order), after the id ``after``.

    ``q`` is a case-insensitive substring of the name or the headline.
    """
    filters = []
    if after is not None:
        filters.append(Candidate.id > after)
    if external_id is not None:
        filters.append(Candidate.external_id == external_id)
    if source is not None:
        filters.append(Candidate.source == source)
    if q is not None:
        pattern = contains_pattern(q.lower())
        # The expressions of the trigram indexes (service.models.candidate), so they serve it.
        needle = or_(
            func.lower(Candidate.name).like(pattern, escape="\\"),
            func.lower(Candidate.headline).like(pattern, escape="\\"),
        )
        if updated_after is not None:
            filters.append(Candidate.updated_at > updated_after)
        return filtered_page(session, Candidate, Candidate.id, filters, needle, limit)
    if updated_after is not None:
        since = Candidate.updated_at > updated_after
        return filtered_page(session, Candidate, Candidate.id, filters, since, limit)
    return list(
        session.scalars(select(Candidate).where(*filters).order_by(Candidate.id).limit(limit))
    )


def _require_source(source: str | None, external_id: str | None) -> None:
    """An ``external_id`` means nothing without the system it comes from."""
    if external_id is not None and source is None:
        raise Invalid(
            "a candidate with an external_id needs a source",
            {"source": ["source is required with external_id"]},
        )


def _conflict_for(session: Session, source: str | None, external_id: str | None) -> None:
    if external_id is None:
        return
    existing = session.scalar(
        select(Candidate.id).where(Candidate.source == source, Candidate.external_id == external_id)
    )
    if existing is not None:
        raise Conflict(
            f"a candidate with source {source!r} and external_id {external_id!r} exists",
            existing_id=str(existing),
        )


def create_candidate(session: Session, data: dict[str, Any]) -> Candidate:
    """Create a candidate with records, and score them against every role."""
    _require_source(data.get("source"), data.get("external_id"))
    records = resolve_records(_taxonomy(session), data.get("competencies", []))
    _conflict_for(session, data.get("source"), data.get("external_id"))
    now = utcnow()
    candidate = Candidate(
        id=uuid7(),
        created_at=now,
        updated_at=now,
        records_digest=records.digest,
        **{k: data.get(k) for k in PROFILE_FIELDS},
    )
    candidate.competencies = [CandidateCompetency(**row) for row in records.rows]
    # Added inside the savepoint: begin_nested() flushes what is pending *before* the savepoint
    # exists, and a duplicate failing there would doom the whole transaction.
    try:
        with session.begin_nested():
            session.add(candidate)
            session.flush()
    except IntegrityError:
        # Another writer created the same (source, external_id) between our check and insert.
        _conflict_for(session, data.get("source"), data.get("external_id"))
        raise
    matching.rescore_candidates(session, [candidate.id], new=True)
    _emit(session, "candidate.created", candidate)
    return candidate


def _emit(session: Session, type: str, candidate: Candidate) -> None:
    events.emit(
        session,
        type,
        ("candidate", candidate.id),
        _event_data(candidate.source, candidate.external_id),
    )


def _event_data(source: str | None, external_id: str | None) -> dict[str, Any]:
    return {"source": source, "external_id": external_id}


def update_candidate(session: Session, candidate: Candidate, changes: dict[str, Any]) -> None:
    """Apply a PATCH of profile fields; ``competencies``, when sent, replaces the records."""
    records = changes.pop("competencies", None)
    new_source = changes.get("source", candidate.source)
    new_external = changes.get("external_id", candidate.external_id)
    _require_source(new_source, new_external)
    if (new_source, new_external) != (candidate.source, candidate.external_id):
        _conflict_for(session, new_source, new_external)
    for name, value in changes.items():
        setattr(candidate, name, value)
    if records is not None:
        replace_records(session, candidate, records)  # rescoring copies name and headline
        return
    candidate.updated_at = utcnow()
    session.flush()
    if "name" in changes or "headline" in changes:
        matching.profile_changed(session, candidate)
    _emit(session, "candidate.updated", candidate)


def replace_records(
    session: Session, candidate: Candidate, items: Sequence[dict[str, Any]]
) -> None:
    """Replace every competency record of a candidate and rescore, in one transaction.

    The candidate row is updated first: its version check (and, on PostgreSQL, its row lock)
    makes a concurrent writer from the same ETag fail with 412 before any record is touched.
    """
    records = resolve_records(_taxonomy(session), items)
    candidate.records_digest = records.digest
    candidate.updated_at = utcnow()
    session.flush()
    session.execute(
        delete(CandidateCompetency).where(CandidateCompetency.candidate_id == candidate.id)
    )
    session.expire(candidate, ["competencies"])
    if records.rows:
        session.execute(
            insert(CandidateCompetency),
            [{"candidate_id": candidate.id, **row} for row in records.rows],
        )
    matching.rescore_candidates(session, [candidate.id])
    _emit(session, "candidate.updated", candidate)


def erase_candidate(
    session: Session,
    candidate_id: uuid.UUID,
    *,
    erased_by_key_id: str | None = None,
    actor: str = "api",
) -> None:
    """Erase a candidate for good: profile, records, stored matches, replayable responses, and
    what their applications held of them (the applications stay, anonymous, for the funnels).

    What stays is a tombstone (the id, when, and which key or job erased it) and the audit
    events, which hold ids only. The API (``DELETE``) and retention (``rolefit retention run``)
    both come here; each records its own audit event in the same transaction. A candidate on
    legal hold is not erased (409): the hold has to be lifted first.

    The candidate's row is locked first (PostgreSQL): an application being created for them
    commits before this reads their applications, and one created after waits and then fails.
    """
    matching.lock_roles(session)  # before the candidate: see matching.erase_matches
    candidate = session.get(Candidate, candidate_id, with_for_update=True)
    if candidate is None:
        raise NotFound(f"no candidate {candidate_id}")
    if candidate.legal_hold:
        raise Conflict("the candidate is on legal hold; lift the hold before erasing them")
    # Stored POST responses that mention the candidate (a create, a batch, a 409 naming them)
    # hold their data: they go too.
    session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.response_body.contains(str(candidate.id)))
    )
    # Their applications stay for the funnels, without anything of the person.
    erase_candidate_applications(session, candidate.id)
    erase_self_identification(session, candidate.id)
    # The foreign keys cascade too; explicit deletes do not depend on SQLite's pragma.
    matching.erase_matches(session, candidate.id)
    session.execute(
        delete(CandidateCompetency).where(CandidateCompetency.candidate_id == candidate.id)
    )
    session.delete(candidate)
    events.redact_subjects(session, "candidate", [candidate.id])
    events.emit(session, "candidate.erased", ("candidate", candidate.id), {})
    session.add(
        CandidateTombstone(
            candidate_id=candidate.id,
            erased_at=utcnow(),
            erased_by_key_id=erased_by_key_id,
            actor=actor,
        )
    )
    session.flush()


def create_many(session: Session, items: Sequence[tuple[int, dict[str, Any]]]) -> BatchOutcome:
    """Create many candidates with set-based writes; a bad item never blocks the others.

    Items are ``(index, data)`` with data already shape-checked. Three round trips whatever the
    batch size: one to find existing ``(source, external_id)`` pairs, one multi-row insert per
    table, and one set-based rescoring of all new candidates.
    """
    outcome = BatchOutcome()
    taxonomy = _taxonomy(session)
    prepared: list[tuple[int, dict[str, Any], ResolvedRecords]] = []
    for index, data in items:
        try:
            _require_source(data.get("source"), data.get("external_id"))
            prepared.append((index, data, resolve_records(taxonomy, data.get("competencies", []))))
        except DomainError as error:
            outcome.failed[index] = error
    # A concurrent writer can insert the same (source, external_id) between the check and the
    # insert; the savepoint lets us look again and retry without losing the other items.
    for _attempt in range(3):
        kept = _drop_duplicates(session, prepared, outcome)
        if not kept:
            return outcome
        try:
            with session.begin_nested():
                created = _insert_many(session, kept)
        except IntegrityError:
            continue
        outcome.created.update(created)
        matching.rescore_candidates(session, list(created.values()), new=True)
        by_index = {index: data for index, data, _ in kept}
        events.emit_rows(
            session,
            [
                (
                    "candidate.created",
                    ("candidate", candidate_id),
                    _event_data(by_index[index].get("source"), by_index[index].get("external_id")),
                )
                for index, candidate_id in created.items()
            ],
        )
        return outcome
    raise Conflict("the batch kept colliding with concurrent writes; retry it")


def _insert_many(
    session: Session, kept: list[tuple[int, dict[str, Any], ResolvedRecords]]
) -> dict[int, uuid.UUID]:
    now = utcnow()
    created: dict[int, uuid.UUID] = {}
    candidate_rows: list[dict[str, Any]] = []
    record_rows: list[dict[str, Any]] = []
    # Ids minted in the same millisecond are random among themselves: sorting them keeps the
    # batch's order in every list ordered by id.
    ids = sorted(uuid7() for _ in kept)
    for (index, data, records), candidate_id in zip(kept, ids, strict=True):
        created[index] = candidate_id
        candidate_rows.append(
            {
                "id": candidate_id,
                "created_at": now,
                "updated_at": now,
                "records_digest": records.digest,
                "legal_hold": False,
                "row_version": 1,
                **{k: data.get(k) for k in PROFILE_FIELDS},
            }
        )
        record_rows.extend({"candidate_id": candidate_id, **row} for row in records.rows)
    bulk_insert(session, Candidate, candidate_rows)
    bulk_insert(session, CandidateCompetency, record_rows)
    return created


def _drop_duplicates(
    session: Session,
    prepared: list[tuple[int, dict[str, Any], ResolvedRecords]],
    outcome: BatchOutcome,
) -> list[tuple[int, dict[str, Any], ResolvedRecords]]:
    """Items whose (source, external_id) exists, or repeats an earlier item, fail with 409."""
    pairs = {
        (data.get("source"), data["external_id"])
        for _, data, _ in prepared
        if data.get("external_id") is not None
    }
    existing: dict[tuple[str | None, str | None], uuid.UUID] = {}
    pair_list = list(pairs)
    for start in range(0, len(pair_list), 500):
        chunk = pair_list[start : start + 500]
        # Joined to the pairs as a table: PostgreSQL planned a list of 500 (source, external
        # id) tuples in IN as 500 OR-ed index conditions (23 ms a chunk of the demo load), and a
        # plain IN list over a small table as a scan comparing every row with all 500 (158 ms
        # at 10,000 candidates). A joined table is a hash or index join.
        wanted = rows_to_join(
            session,
            "wanted",
            [sa.column("source", sa.String), sa.column("external_id", sa.String)],
            chunk,
        )
        for source, external_id, cid in session.execute(
            select(Candidate.source, Candidate.external_id, Candidate.id).join(
                wanted,
                (Candidate.source == wanted.c.source)
                & (Candidate.external_id == wanted.c.external_id),
            )
        ):
            existing[(source, external_id)] = cid
    kept = []
    first_index: dict[tuple[str | None, str | None], int] = {}
    for index, data, records in prepared:
        pair = (data.get("source"), data.get("external_id"))
        if pair[1] is not None and pair in existing:
            outcome.failed[index] = Conflict(
                f"a candidate with source {pair[0]!r} and external_id {pair[1]!r} exists",
                existing_id=str(existing[pair]),
            )
            continue
        if pair[1] is not None and pair in first_index:
            outcome.failed[index] = Conflict(
                f"repeats the source and external_id of item {first_index[pair]}",
                duplicate_of_index=first_index[pair],
            )
            continue
        if pair[1] is not None:
            first_index[pair] = index
        kept.append((index, data, records))
    return kept
