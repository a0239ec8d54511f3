"""/v1/candidates: candidate profiles and competency records (personal data)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError
from sqlalchemy import func, or_, select

from service.api.auth import AuthError, has_scope, requires
from service.api.candidates.schemas import (
    BatchBodySchema,
    BatchResponseSchema,
    CandidateCreateSchema,
    CandidatePageSchema,
    CandidatePatchSchema,
    CandidateQueryArgsSchema,
    CandidateSchema,
    CompetenciesBodySchema,
)
from service.api.errors import PROBLEM_BASE, flatten_errors
from service.api.pagination import decode_cursor, page_response, parse_uuid_cursor
from service.api.writes import check_if_match, etag_for, write
from service.db import request_session
from service.domain import candidates as domain
from service.domain.errors import Conflict, DomainError, Invalid
from service.models import Candidate, CandidateCompetency, Competency

blp = Blueprint("candidates", __name__, url_prefix="/v1/candidates", description="Candidates.")

CONTACT_FIELDS = ("email", "phone")


def _require_pii_to_write(data: dict[str, Any]) -> None:
    if any(data.get(f) is not None for f in CONTACT_FIELDS) and not has_scope("candidates:pii"):
        raise AuthError(403, "writing email or phone needs the scope 'candidates:pii'")


def _records(session: Any, candidate_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Every record of these candidates in one query, as the API shows them."""
    by_candidate: dict[uuid.UUID, list[dict[str, Any]]] = {cid: [] for cid in candidate_ids}
    if not candidate_ids:
        return by_candidate
    rows = session.execute(
        select(CandidateCompetency, Competency.key)
        .join(Competency, Competency.id == CandidateCompetency.competency_id)
        .where(CandidateCompetency.candidate_id.in_(candidate_ids))
        .order_by(CandidateCompetency.candidate_id, CandidateCompetency.position)
    )
    for record, key in rows:
        by_candidate[record.candidate_id].append(
            {
                "competency": key,
                "level": record.level,
                "years": record.years,
                "last_used": record.last_used_month,
                "evidence": record.evidence,
                "note": record.note,
            }
        )
    return by_candidate


def _dump_ready(candidate: Candidate, records: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": candidate.id,
        "external_id": candidate.external_id,
        "source": candidate.source,
        "name": candidate.name,
        "headline": candidate.headline,
        "years_experience": candidate.years_experience,
        "competencies": records,
        "created_at": candidate.created_at,
        "updated_at": candidate.updated_at,
    }
    if has_scope("candidates:pii"):
        body["email"] = candidate.email
        body["phone"] = candidate.phone
    return body


def _one(candidate: Candidate) -> dict[str, Any]:
    return _dump_ready(candidate, _records(request_session(), [candidate.id])[candidate.id])


@blp.route("")
class Candidates(MethodView):
    @requires("candidates:read")
    @blp.arguments(CandidateQueryArgsSchema, location="query")
    @blp.response(200, CandidatePageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List candidates in creation order (ids are time-ordered UUIDs).

        Filters: `updated_after` (RFC 3339), `external_id`, `source`, and `q`, a
        case-insensitive substring of name or headline.
        """
        session = request_session()
        query = select(Candidate).order_by(Candidate.id).limit(args["limit"] + 1)
        if "updated_after" in args:
            query = query.where(Candidate.updated_at > args["updated_after"])
        if "external_id" in args:
            query = query.where(Candidate.external_id == args["external_id"])
        if "source" in args:
            query = query.where(Candidate.source == args["source"])
        if "q" in args:
            needle = (
                "%"
                + args["q"].lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                + "%"
            )
            query = query.where(
                or_(
                    func.lower(Candidate.name).like(needle, escape="\\"),
                    func.lower(Candidate.headline).like(needle, escape="\\"),
                )
            )
        if "cursor" in args:
            (after,) = decode_cursor(args["cursor"], "candidates", (str,))
            query = query.where(Candidate.id > parse_uuid_cursor(after))
        found = list(session.scalars(query))
        records = _records(session, [c.id for c in found[: args["limit"]]])
        rows = [_dump_ready(c, records.get(c.id, [])) for c in found]
        body, headers = page_response(rows, args["limit"], "candidates", lambda r: [str(r["id"])])
        return body, 200, headers

    @requires("candidates:write")
    @write
    @blp.arguments(CandidateCreateSchema)
    @blp.response(201, CandidateSchema)
    @blp.alt_response(409, description="(source, external_id) exists; `existing_id` names it")
    def post(self, data: dict[str, Any]) -> Any:
        """Create a candidate; it is scored against every role before this returns."""
        _require_pii_to_write(data)
        candidate = domain.create_candidate(request_session(), data)
        headers = {
            "Location": url_for("candidates.CandidateItem", candidate_id=candidate.id),
            "ETag": etag_for(candidate.row_version),
        }
        return _one(candidate), 201, headers


@blp.route("/<uuid:candidate_id>")
class CandidateItem(MethodView):
    @requires("candidates:read")
    @blp.response(200, CandidateSchema)
    def get(self, candidate_id: uuid.UUID) -> Any:
        """Get a candidate with their competency records."""
        candidate = domain.get_candidate(request_session(), candidate_id)
        return _one(candidate), 200, {"ETag": etag_for(candidate.row_version)}

    @requires("candidates:write")
    @write
    @blp.arguments(CandidatePatchSchema)
    @blp.response(200, CandidateSchema)
    def patch(self, changes: dict[str, Any], candidate_id: uuid.UUID) -> Any:
        """Change profile fields (If-Match required); `competencies`, if sent, replaces the list."""
        _require_pii_to_write(changes)
        session = request_session()
        candidate = domain.get_candidate(session, candidate_id)
        check_if_match(etag_for(candidate.row_version))
        domain.update_candidate(session, candidate, changes)
        return _one(candidate), 200, {"ETag": etag_for(candidate.row_version)}

    @requires("candidates:erase")
    @write
    @blp.response(204)
    def delete(self, candidate_id: uuid.UUID) -> Any:
        """Erase a candidate for good: profile, records, scores; 404 from then on."""
        domain.erase_candidate(request_session(), candidate_id)
        return None


@blp.route("/<uuid:candidate_id>/competencies")
class CandidateCompetencies(MethodView):
    @requires("candidates:write")
    @write
    @blp.arguments(CompetenciesBodySchema)
    @blp.response(200, CandidateSchema)
    def put(self, body: dict[str, Any], candidate_id: uuid.UUID) -> Any:
        """Replace the candidate's competency records (If-Match required) and rescore them."""
        session = request_session()
        candidate = domain.get_candidate(session, candidate_id)
        check_if_match(etag_for(candidate.row_version))
        domain.replace_records(session, candidate, body["competencies"])
        return _one(candidate), 200, {"ETag": etag_for(candidate.row_version)}


def _item_problem(index: int, status: int, error: DomainError | None, errors: Any = None) -> dict:
    title = {409: "Conflict", 422: "Validation failed"}[status]
    problem: dict[str, Any] = {
        "type": PROBLEM_BASE + (error.slug if error else "validation-error"),
        "title": title,
        "status": status,
        "detail": error.detail if error else "the item has invalid fields; see errors",
        "instance": f"/v1/candidates/batch#/candidates/{index}",
    }
    if error is not None:
        problem.update(error.extra)
    if isinstance(error, Invalid):
        errors = error.errors
    if errors:
        problem["errors"] = errors
    return {"index": index, "status": status, "problem": problem}


@blp.route("/batch")
class CandidateBatch(MethodView):
    @requires("candidates:write")
    @write
    @blp.arguments(BatchBodySchema)
    @blp.response(200, BatchResponseSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Create up to 500 candidates; one result per item, in order.

        Each item is its own unit: a bad item gets a 422 or 409 result with a problem, and
        never blocks the others. Good items are written with set-based inserts and scored
        together before this returns.
        """
        schema = CandidateCreateSchema()
        results: dict[int, dict[str, Any]] = {}
        valid: list[tuple[int, dict[str, Any]]] = []
        for index, item in enumerate(body["candidates"]):
            try:
                data = schema.load(item)
                _require_pii_to_write(data)
            except ValidationError as error:
                results[index] = _item_problem(index, 422, None, flatten_errors(error.messages))
                continue
            valid.append((index, data))
        outcome = domain.create_many(request_session(), valid)
        for index, candidate_id in outcome.created.items():
            results[index] = {"index": index, "status": 201, "id": candidate_id}
        for index, error in outcome.failed.items():
            status = 409 if isinstance(error, Conflict) else 422
            results[index] = _item_problem(index, status, error)
        return {"results": [results[i] for i in sorted(results)]}
