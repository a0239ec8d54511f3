"""/v1/audit-events: the audit trail, read-only (nothing in the API changes or deletes it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask.views import MethodView

from service.api.audit.bodies import event_body
from service.api.audit.recording import audited, writer
from service.api.audit.schemas import AuditEventPageSchema, AuditQueryArgsSchema
from service.api.auth import requires
from service.api.blueprint import Blueprint
from service.api.jsonio import json_response
from service.api.openapi import problem_doc
from service.api.pagination import (
    LINK_HEADER,
    decode_cursor,
    invalid_cursor,
    page_response,
    parse_instant_cursor,
)
from service.api.unit_of_work import request_session
from service.domain import audit

blp = Blueprint(
    "audit", __name__, url_prefix="/v1/audit-events", description="Audit trail (read-only)."
)

_LIST = "audit-events"


def _position(cursor: str) -> tuple[datetime, int]:
    at, last_id = decode_cursor(cursor, _LIST, (str, str))
    if not last_id.isdigit():
        invalid_cursor()
    return parse_instant_cursor(at), int(last_id)


@blp.route("")
class AuditEvents(MethodView):
    @requires("audit:read")
    @blp.arguments(AuditQueryArgsSchema, location="query")
    @blp.response(200, AuditEventPageSchema, headers=LINK_HEADER)
    @problem_doc(blp, 400, "The cursor is invalid or belongs to another list")
    @blp.doc(operationId="listAuditEvents")
    @audited("list", "audit-event")
    def get(self, args: dict[str, Any]) -> Any:
        """Audit events, newest first: who (API key id) did what to which resource, and how it
        ended, including refused attempts (401, 403, 404).

        Every read or change of a candidate, every ranking pull and inline scoring, and every
        change of a role or competency is recorded; events hold ids only. Filters: `resource_id`,
        `resource_type`, `action`, `key_id`, `outcome`, and the time range `since` (inclusive) /
        `until` (exclusive). Read events reach the trail within about a second (they are
        written in batches); changes are recorded in the same transaction as the change.
        """
        writer().flush()  # this worker's buffered read events first: read your own writes
        filters = audit.EventFilter(
            resource_id=args.get("resource_id"),
            resource_type=args.get("resource_type"),
            action=args.get("action"),
            key_id=args.get("key_id"),
            outcome=args.get("outcome"),
            since=args.get("since"),
            until=args.get("until"),
        )
        before = _position(args["cursor"]) if "cursor" in args else None
        rows = audit.list_events(request_session(), filters, limit=args["limit"] + 1, before=before)
        body, headers = page_response(
            rows, args["limit"], _LIST, lambda e: [e.occurred_at.isoformat(), str(e.id)]
        )
        body["data"] = [event_body(e) for e in body["data"]]
        return json_response(body, headers=headers)
