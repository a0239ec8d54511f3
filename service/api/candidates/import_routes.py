"""/v1/candidates/import: a candidate from a JSON Resume document, with the reason for every
competency record (issue 17). The mapping is :mod:`service.domain.resume_import`; the change
goes through the candidates' own use cases (:mod:`service.domain.candidate_import`)."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView

from service.api.audit.recording import audited, request_actor
from service.api.auth import has_scope, requires
from service.api.blueprint import Blueprint
from service.api.candidates.bodies import candidate_body
from service.api.candidates.import_bodies import import_body
from service.api.candidates.import_schemas import (
    ImportArgsSchema,
    ImportResultSchema,
    resume_body_schema,
)
from service.api.jsonio import json_response, request_json
from service.api.openapi import REPLAYED_HEADER, idempotency_doc
from service.api.unit_of_work import etag_for, request_session, write
from service.domain import audit, candidates
from service.domain.candidate_import import import_resume

blp = Blueprint(
    "imports",
    __name__,
    url_prefix="/v1/candidates",
    description="Candidates from the documents they already have: JSON Resume.",
)

_STORED_HEADERS = {
    "Location": {
        "description": "The stored candidate (absent on a dry run)",
        "schema": {"type": "string"},
    },
    "ETag": {
        "description": "The stored candidate's ETag, for If-Match (absent on a dry run)",
        "schema": {"type": "string"},
    },
}
_REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {"schema": resume_body_schema()}},
}
_NEXT = {
    "GetCandidate": {
        "operationId": "getCandidate",
        "parameters": {"candidate_id": "$response.body#/candidate/id"},
    },
}


def _created_id(body: dict[str, Any]) -> list[str]:
    # A replacement is recorded as an update by the view; a dry run changes nothing.
    return [body["candidate"]["id"]] if body["outcome"] == "created" else []


@blp.route("/import")
class CandidateImport(MethodView):
    @requires("candidates:write")
    @write
    @blp.arguments(ImportArgsSchema, location="query")
    @blp.response(200, ImportResultSchema, headers={**_STORED_HEADERS, **REPLAYED_HEADER})
    @idempotency_doc(
        blp, conflict="a concurrent import created the same (source, external_id): retry"
    )
    @blp.doc(operationId="importCandidate", requestBody=_REQUEST_BODY)
    @blp.doc(responses={200: {"links": _NEXT}})
    @audited("create", "candidate", ids=_created_id)
    def post(self, args: dict[str, Any]) -> Any:
        """Import a JSON Resume: create a candidate, or replace the records of the one with
        the same (source, external_id), and say why each competency record exists.

        The body is a JSON Resume 1.0.0 document; sections the schema does not define are
        ignored. `basics.name` and `basics.label` become name and headline; `basics.email` and
        `basics.phone` are stored only for keys with candidates:pii (else listed in
        `ignored`). Each `skills[].name` and keyword resolves through the taxonomy's keys and
        aliases (case and spacing ignored): one record per competency found, evidence `self`,
        `level` from `skills[].level` by the level table (beginner 1, intermediate 3,
        advanced 4, expert or master 5, a digit 0..5 as is, otherwise 3), `last_used` and
        `years` from the `work[]` entries whose position, summary or highlights mention the
        competency. `mapping` lists, for each record, the résumé paths it came from
        (`skills[2].keywords[0]`, `work[1].highlights[3]`); `unmapped` lists every name that
        matched nothing, with the closest taxonomy terms (never an error).

        `?dry_run=true` answers the same without storing anything (`candidate` is null).
        The candidate is scored against every role before this returns. A document that is
        not JSON Resume is a 422 whose `errors` name the paths; more than 200 competencies
        after mapping is a 422 too.
        """
        session = request_session()
        result = import_resume(
            session,
            request_json(),
            source=args["source"],
            external_id=args.get("external_id"),
            with_contact=has_scope("candidates:pii"),
            dry_run=args["dry_run"],
        )
        show_contact = has_scope("candidates:pii")
        stored = result.candidate
        if stored is None:
            return json_response(import_body(result, None, show_contact=show_contact))
        records = candidates.records_of(session, [stored.id])[stored.id]
        body = import_body(
            result,
            candidate_body(stored, records, show_contact=show_contact),
            show_contact=show_contact,
        )
        if result.outcome == "replaced":
            audit.record(
                session,
                [audit.event(request_actor(), "update", "candidate", stored.id, status=200)],
            )
        headers = {
            "Location": url_for("candidates.CandidateItem", candidate_id=stored.id),
            "ETag": etag_for(stored.row_version),
        }
        return json_response(body, headers=headers)
