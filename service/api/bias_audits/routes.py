"""/v1/bias-audits (NYC Local Law 144) and PUT /v1/candidates/{id}/self-identification.

Self-identification is write-only: no endpoint returns one person's answers, and only the
aggregates of a bias audit ever leave the service. The rules and the arithmetic are in
:mod:`service.domain.bias_audits`; these views parse, call it and answer.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, request, url_for
from flask.views import MethodView

from service.api.audit.recording import audited
from service.api.auth import current_principal, requires
from service.api.bias_audits.bodies import bias_audit_body, bias_audit_csv
from service.api.bias_audits.schemas import (
    CREATE_VARIANTS,
    BiasAuditCreateSchema,
    BiasAuditPageSchema,
    BiasAuditQueryArgsSchema,
    BiasAuditSchema,
    SelfIdentificationSchema,
)
from service.api.blueprint import Blueprint
from service.api.jsonio import json_response
from service.api.openapi import (
    LOCATION_HEADER,
    REPLAYED_HEADER,
    idempotency_doc,
    problem_doc,
)
from service.api.pagination import LINK_HEADER, decode_cursor, page_response, parse_uuid_cursor
from service.api.unit_of_work import request_session, write
from service.domain import bias_audits
from service.domain.self_identification import put_self_identification


class _Blueprint(Blueprint):
    """Documents a request body as ``oneOf`` its variants (``blp.doc(**{BODY_VARIANTS: [...]})``):
    the rules "a role or a job, not both" and "a justification when excluding" are then stated
    by the document, which one marshmallow schema cannot say."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._body_variants_doc)

    @staticmethod
    def _body_variants_doc(doc: dict[str, Any], doc_info: dict[str, Any], **_: Any) -> Any:
        variants = doc_info.get("manual_doc", {}).pop(BODY_VARIANTS, None)
        if variants:
            for content in doc["requestBody"]["content"].values():
                content["schema"] = {"oneOf": [variant() for variant in variants]}
        return doc


BODY_VARIANTS = "x-rolefit-body-variants"

blp = _Blueprint(
    "bias_audits",
    __name__,
    description="Bias audits (NYC Local Law 144) from self-identification kept apart.",
)

CSV_MIMETYPE = "text/csv"
# The same report, as a spreadsheet (one row per category): documented beside the JSON.
_CSV_DOC = blp.doc(
    responses={
        200: {
            "content": {
                CSV_MIMETYPE: {
                    "schema": {
                        "type": "string",
                        "description": "With `Accept: text/csv`: a header row, then one row "
                        "per category of each dimension",
                    }
                }
            }
        }
    }
)


_REPORT_ETAG = {
    "ETag": {
        "description": "The report's own tag: a report never changes",
        "required": True,
        "schema": {"type": "string"},
    }
}


def _wants_csv() -> bool:
    """``Accept`` prefers CSV to JSON (anything else, or no Accept at all, is JSON)."""
    best = request.accept_mimetypes.best_match(
        ["application/json", CSV_MIMETYPE], default="application/json"
    )
    return best == CSV_MIMETYPE


@blp.route("/v1/bias-audits")
class BiasAudits(MethodView):
    @requires("audit:read")
    @blp.arguments(BiasAuditQueryArgsSchema, location="query")
    @blp.response(200, BiasAuditPageSchema, headers=LINK_HEADER)
    @problem_doc(blp, 400, "The cursor is invalid or belongs to another list")
    @blp.doc(operationId="listBiasAudits")
    @audited("list", "bias-audit")
    def get(self, args: dict[str, Any]) -> Any:
        """List stored bias audit reports.

        In creation order; filters `role`, `job_id`. Each item is the whole stored report.
        """
        after = None
        if "cursor" in args:
            (cursor_id,) = decode_cursor(args["cursor"], "bias-audits", (str,))
            after = parse_uuid_cursor(cursor_id)
        found = bias_audits.list_audits(
            request_session(),
            limit=args["limit"] + 1,
            after=after,
            role_key=args.get("role"),
            job_id=args.get("job_id"),
        )
        rows = [bias_audit_body(a) for a in found]
        body, headers = page_response(rows, args["limit"], "bias-audits", lambda r: [r["id"]])
        return json_response(body, headers=headers)

    @requires("audit:read")
    @write
    @blp.arguments(BiasAuditCreateSchema)
    @blp.response(201, BiasAuditSchema, headers={**LOCATION_HEADER, **REPLAYED_HEADER})
    @idempotency_doc(blp, conflict="The job has no current stage of the selection's kind")
    @problem_doc(blp, 404, "No role with this key, or no job with this id")
    @blp.doc(operationId="createBiasAudit", **{BODY_VARIANTS: CREATE_VARIANTS})
    @audited("create", "bias-audit", ids=lambda body: [body["id"]])
    def post(self, data: dict[str, Any]) -> Any:
        """Compute a bias audit of a role or a job and store it (immutable).

        Population: a role's candidates with a stored match for it, or a job's applications
        (erased candidates' too, as unknown), within the optional `window`. For each of sex,
        race/ethnicity and their intersection: per category `n`, scored above the median,
        selected by `selection`, their rates and impact ratios against the highest rate;
        `exclude_small_categories` leaves categories under 2 % out of the ratios, with the
        `justification`. Only these aggregates leave the service. The report as CSV: GET it
        with `Accept: text/csv`.
        """
        window = data.get("window") or {}
        request_data = bias_audits.AuditRequest(
            role_key=data.get("role"),
            job_id=data.get("job_id"),
            selection=data["selection"],
            window_from=window.get("from_"),
            window_to=window.get("to"),
            exclude_small_categories=data["exclude_small_categories"],
            justification=data.get("justification"),
        )
        audit = bias_audits.run_audit(
            request_session(), request_data, created_by_key_id=current_principal().key_id
        )
        location = url_for("bias_audits.BiasAuditItem", audit_id=audit.id)
        return json_response(bias_audit_body(audit), 201, {"Location": location})


@blp.route("/v1/bias-audits/<uuid:audit_id>")
class BiasAuditItem(MethodView):
    @requires("audit:read")
    @blp.response(200, BiasAuditSchema, headers=_REPORT_ETAG)
    @_CSV_DOC
    @problem_doc(blp, 404, "No bias audit with this id")
    @blp.doc(operationId="getBiasAudit")
    @audited("read", "bias-audit", id_arg="audit_id")
    def get(self, audit_id: uuid.UUID) -> Any:
        """Get a stored bias audit report: JSON, or CSV with `Accept: text/csv`.

        A report never changes: its numbers are those computed when it was created.
        """
        audit = bias_audits.get_audit(request_session(), audit_id)
        if _wants_csv():
            response = Response(bias_audit_csv(audit), mimetype=CSV_MIMETYPE)
        else:
            response = json_response(bias_audit_body(audit))
        response.headers["Vary"] = "Accept"
        # Immutable: the ETag of a report is its id (api.md: every single GET has one).
        response.headers["ETag"] = f'"{audit.id}"'
        return response


@blp.route("/v1/candidates/<uuid:candidate_id>/self-identification")
class SelfIdentification(MethodView):
    @requires("demographics:write")
    @write
    @blp.arguments(SelfIdentificationSchema)
    @blp.response(204)
    @problem_doc(blp, 404, "No candidate with this id (or it was erased)")
    @blp.doc(operationId="putSelfIdentification")
    @audited("update", "self-identification", id_arg="candidate_id")
    def put(self, answers: dict[str, Any], candidate_id: uuid.UUID) -> Any:
        """Record the candidate's voluntary self-identification (replaces the earlier answers).

        Write-only: no endpoint returns it; only bias audits' aggregates use it, and nothing
        that scores, matches or ranks can read it. An omitted field is unknown; `declined` is
        an answer that counts as unknown. No If-Match (unlike other PUTs): the answers cannot
        be read back, so there is no version a client could have seen to guard. Deleted with
        the candidate.
        """
        put_self_identification(request_session(), candidate_id, answers)
        return None
