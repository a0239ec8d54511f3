"""/v1/events: the feed of every change, oldest first, the same events webhooks deliver."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from service.api.audit.recording import audited
from service.api.auth import requires
from service.api.blueprint import Blueprint
from service.api.events.schemas import EventPageSchema, EventQueryArgsSchema, EventSchema
from service.api.jsonio import json_response
from service.api.openapi import problem_doc
from service.api.pagination import LINK_HEADER, decode_cursor, page_response
from service.api.unit_of_work import request_session
from service.domain import events
from service.domain.delivery import event_payload

blp = Blueprint("events", __name__, description="The feed of changes (events.md).")


def _types(value: str | None) -> list[str] | None:
    """The ``type`` filter (a comma list of known types and families: the schema checks)."""
    return value.split(",") if value else None


@blp.route("/v1/events")
class Events(MethodView):
    @requires("events:read")
    @blp.arguments(EventQueryArgsSchema, location="query")
    @blp.response(200, EventPageSchema, headers=LINK_HEADER)
    @problem_doc(blp, 400, "The cursor is invalid or belongs to another list")
    @blp.doc(operationId="listEvents")
    @audited("list", "event")
    def get(self, args: dict[str, Any]) -> Any:
        """Events oldest first, by `seq`.

        `seq` increases in commit order: a reader that keeps the last seq it saw (or follows
        `next_cursor`) never misses an event. Filters: `type` (comma list, `application.*` for
        a family), `subject_id`, `after_seq`. Events are kept for
        `ROLEFIT_EVENTS_RETENTION_DAYS` (30 by default).
        """
        after = args.get("after_seq")
        if "cursor" in args:
            (after,) = decode_cursor(args["cursor"], "events", (int,))
        found = events.feed(
            request_session(),
            limit=args["limit"] + 1,
            after_seq=after,
            types=_types(args.get("type")),
            subject_id=args.get("subject_id"),
        )
        body, headers = page_response(
            [event_payload(e) for e in found], args["limit"], "events", lambda e: [e["seq"]]
        )
        return json_response(body, headers=headers)


@blp.route("/v1/events/<string:event_id>")
class EventItem(MethodView):
    @requires("events:read")
    @blp.response(200, EventSchema)
    @problem_doc(blp, 404, "No event with this id (or it is past its retention)")
    @blp.doc(operationId="getEvent")
    @audited("read", "event", id_arg="event_id")
    def get(self, event_id: str) -> Any:
        """Get one event by id.

        The same body as in the feed and in a webhook delivery; 404 once past its retention.
        """
        return json_response(event_payload(events.get_event(request_session(), event_id)))
