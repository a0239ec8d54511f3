"""/v1/candidates: candidate profiles and competency records (personal data)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import url_for
from flask.views import MethodView

from service.api.audit.recording import audited
from service.api.auth import AuthError, current_principal, has_scope, requires
from service.api.batches import BatchResults, created_ids
from service.api.blueprint import Blueprint
from service.api.candidates.bodies import candidate_body
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
from service.api.jsonio import json_response
from service.api.openapi import (
    ETAG_HEADER,
    LOCATION_HEADER,
    REPLAYED_HEADER,
    idempotency_doc,
    if_match_doc,
    links_doc,
    problem_doc,
)
from service.api.pagination import (
    LINK_HEADER,
    decode_cursor,
    page_response,
    parse_uuid_cursor,
)
from service.api.unit_of_work import check_if_match, etag_for, request_session, write
from service.domain import candidates as domain
from service.models import Candidate

blp = Blueprint("candidates", __name__, url_prefix="/v1/candidates", description="Candidates.")

CONTACT_FIELDS = ("email", "phone")

# OpenAPI links: what a client (and schemathesis' stateful tests) can call next with a response.
_ITEM = {"candidate_id": "$response.body#/id"}
_ITEM_IF_MATCH = {**_ITEM, "header.If-Match": "$response.header.ETag"}
_NEXT = {
    "GetCandidate": {"operationId": "getCandidate", "parameters": _ITEM},
    "UpdateCandidate": {"operationId": "updateCandidate", "parameters": _ITEM_IF_MATCH},
    "ReplaceCandidateCompetencies": {
        "operationId": "replaceCandidateCompetencies",
        "parameters": _ITEM_IF_MATCH,
    },
    "DeleteCandidate": {"operationId": "deleteCandidate", "parameters": _ITEM},
}
_MATCHES = {
    "GetCandidateMatches": {
        "operationId": "getCandidateMatches",
        "parameters": _ITEM,
    },
    "GetCandidateFit": {
        "operationId": "getCandidateFit",
        "parameters": _ITEM,
    },
}


def _require_pii_to_write(data: dict[str, Any], *, patch: bool = False) -> None:
    # On PATCH a null clears the stored value: that is writing contact data too.
    sent = [f for f in CONTACT_FIELDS if f in data and (patch or data[f] is not None)]
    if sent and not has_scope("candidates:pii"):
        raise AuthError(403, "writing email or phone needs the scope 'candidates:pii'")


def _require_erase_for_hold(changes: dict[str, Any]) -> None:
    # A hold suspends erasure (retention and DELETE): only a key that may erase may set or lift it.
    if "legal_hold" in changes and not has_scope("candidates:erase"):
        raise AuthError(403, "setting legal_hold needs the scope 'candidates:erase'")


def _body(candidate: Candidate, records: list[domain.StoredRecord]) -> dict[str, Any]:
    return candidate_body(candidate, records, show_contact=has_scope("candidates:pii"))


def _one(candidate: Candidate) -> dict[str, Any]:
    return _body(candidate, domain.records_of(request_session(), [candidate.id])[candidate.id])


@blp.route("")
class Candidates(MethodView):
    @requires("candidates:read")
    @blp.arguments(CandidateQueryArgsSchema, location="query")
    @blp.response(200, CandidatePageSchema, headers=LINK_HEADER)
    @problem_doc(blp, 400, "The cursor is invalid or belongs to another list")
    @blp.doc(operationId="listCandidates")
    @audited("list", "candidate")
    def get(self, args: dict[str, Any]) -> Any:
        """List candidates in creation order (ids are time-ordered UUIDs).

        Filters: `updated_after` (RFC 3339), `external_id`, `source`, and `q`, a
        case-insensitive substring of name or headline.
        """
        session = request_session()
        after = None
        if "cursor" in args:
            (cursor_id,) = decode_cursor(args["cursor"], "candidates", (str,))
            after = parse_uuid_cursor(cursor_id)
        found = domain.list_candidates(
            session,
            limit=args["limit"] + 1,
            after=after,
            updated_after=args.get("updated_after"),
            external_id=args.get("external_id"),
            source=args.get("source"),
            q=args.get("q"),
        )
        records = domain.records_of(session, [c.id for c in found[: args["limit"]]])
        rows = [_body(c, records.get(c.id, [])) for c in found]
        body, headers = page_response(rows, args["limit"], "candidates", lambda r: [r["id"]])
        return json_response(body, headers=headers)

    @requires("candidates:write")
    @write
    @blp.arguments(CandidateCreateSchema)
    @blp.response(
        201, CandidateSchema, headers={**LOCATION_HEADER, **ETAG_HEADER, **REPLAYED_HEADER}
    )
    @idempotency_doc(blp, conflict="(source, external_id) exists; `existing_id` names it")
    @links_doc(blp, 201, {**_NEXT, **_MATCHES})
    @blp.doc(operationId="createCandidate")
    @audited("create", "candidate", ids=lambda body: [body["id"]])
    def post(self, data: dict[str, Any]) -> Any:
        """Create a candidate; it is scored against every role before this returns.

        Records name competencies by key or alias. Writing `email` or `phone` needs the scope
        candidates:pii. An existing (source, external_id) is a 409 whose `existing_id` names
        it; send `Idempotency-Key` to make retries safe.
        """
        _require_pii_to_write(data)
        candidate = domain.create_candidate(request_session(), data)
        headers = {
            "Location": url_for("candidates.CandidateItem", candidate_id=candidate.id),
            "ETag": etag_for(candidate.row_version),
        }
        return json_response(_one(candidate), 201, headers)


@blp.route("/<uuid:candidate_id>")
class CandidateItem(MethodView):
    @requires("candidates:read")
    @blp.response(200, CandidateSchema, headers=ETAG_HEADER)
    @problem_doc(blp, 404, "No candidate with this id (or it was erased)")
    @links_doc(blp, 200, _NEXT)
    @blp.doc(operationId="getCandidate")
    @audited("read", "candidate", id_arg="candidate_id")
    def get(self, candidate_id: uuid.UUID) -> Any:
        """Get a candidate with their competency records.

        `email` and `phone` are included only for keys with the scope candidates:pii. An erased
        or unknown candidate is a 404.
        """
        candidate = domain.get_candidate(request_session(), candidate_id)
        return json_response(_one(candidate), headers={"ETag": etag_for(candidate.row_version)})

    @requires("candidates:write")
    @write
    @blp.arguments(CandidatePatchSchema)
    @blp.response(200, CandidateSchema, headers=ETAG_HEADER)
    @if_match_doc(blp)
    @problem_doc(blp, 404, "No candidate with this id (or it was erased)")
    @problem_doc(blp, 409, "(source, external_id) belongs to another candidate: `existing_id`")
    @links_doc(blp, 200, {**_NEXT, **_MATCHES})
    @blp.doc(operationId="updateCandidate")
    @audited("update", "candidate", id_arg="candidate_id")
    def patch(self, changes: dict[str, Any], candidate_id: uuid.UUID) -> Any:
        """Change profile fields (If-Match required); `competencies`, if sent, replaces the list.

        A field left out stays as it is. Writing `email` or `phone` needs candidates:pii, and
        setting or lifting `legal_hold` needs candidates:erase. Changed records are rescored
        before this returns.
        """
        _require_pii_to_write(changes, patch=True)
        _require_erase_for_hold(changes)
        session = request_session()
        candidate = domain.get_candidate(session, candidate_id)
        check_if_match(etag_for(candidate.row_version))
        domain.update_candidate(session, candidate, changes)
        return json_response(_one(candidate), headers={"ETag": etag_for(candidate.row_version)})

    @requires("candidates:erase")
    @write
    @blp.response(204)
    @problem_doc(blp, 404, "No candidate with this id (or it was erased)")
    @problem_doc(blp, 409, "The candidate is on legal hold: lift the hold first")
    @blp.doc(operationId="deleteCandidate")
    @audited("erase", "candidate", id_arg="candidate_id")
    def delete(self, candidate_id: uuid.UUID) -> Any:
        """Erase a candidate for good: profile, records, scores, stored responses naming them;
        404 from then on, everywhere.

        What stays: a tombstone (id, time, erasing key) and the audit events, which hold ids
        only. A candidate on legal hold is not erased (409).
        """
        domain.erase_candidate(
            request_session(), candidate_id, erased_by_key_id=current_principal().key_id
        )
        return None


@blp.route("/<uuid:candidate_id>/competencies")
class CandidateCompetencies(MethodView):
    @requires("candidates:write")
    @write
    @blp.arguments(CompetenciesBodySchema)
    @blp.response(200, CandidateSchema, headers=ETAG_HEADER)
    @if_match_doc(blp)
    @problem_doc(blp, 404, "No candidate with this id (or it was erased)")
    @links_doc(blp, 200, {**_NEXT, **_MATCHES})
    @blp.doc(operationId="replaceCandidateCompetencies")
    @audited("update", "candidate", id_arg="candidate_id")
    def put(self, body: dict[str, Any], candidate_id: uuid.UUID) -> Any:
        """Replace the candidate's competency records (If-Match required) and rescore them.

        The list replaces every record (an empty list removes them all); scores against every
        role are rewritten in the same transaction.
        """
        session = request_session()
        candidate = domain.get_candidate(session, candidate_id)
        check_if_match(etag_for(candidate.row_version))
        domain.replace_records(session, candidate, body["competencies"])
        return json_response(_one(candidate), headers={"ETag": etag_for(candidate.row_version)})


@blp.route("/batch")
class CandidateBatch(MethodView):
    @requires("candidates:write")
    @write
    @blp.arguments(BatchBodySchema)
    @blp.response(200, BatchResponseSchema, headers=REPLAYED_HEADER)
    @idempotency_doc(blp)
    @blp.doc(operationId="createCandidates")
    @audited("create", "candidate", ids=created_ids)
    def post(self, body: dict[str, Any]) -> Any:
        """Create up to 500 candidates; one result per item, in order.

        Each item is its own unit: a bad item gets a 422 or 409 result with a problem, and
        never blocks the others. Good items are written with set-based inserts and scored
        together before this returns.
        """
        results = BatchResults("candidates")
        # Authorization concerns the whole request: contact data without the scope is a 403.
        valid = results.load(body["candidates"], CandidateCreateSchema(), _require_pii_to_write)
        return json_response(results.body(domain.create_many(request_session(), valid)))
