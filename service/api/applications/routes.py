"""/v1/applications, their actions and history, and /v1/transitions."""

from __future__ import annotations

import uuid
from typing import Any

from flask import url_for
from flask.views import MethodView

from service.api.applications.bodies import application_body, transition_body
from service.api.applications.schemas import (
    ApplicationBatchBodySchema,
    ApplicationBatchResponseSchema,
    ApplicationCreateSchema,
    ApplicationPageSchema,
    ApplicationQueryArgsSchema,
    ApplicationSchema,
    MoveSchema,
    NoteSchema,
    RejectSchema,
    TransitionPageSchema,
    TransitionQueryArgsSchema,
)
from service.api.audit.recording import audited
from service.api.auth import current_principal, requires
from service.api.batches import BatchResults, created_ids
from service.api.blueprint import Blueprint
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
    parse_instant_cursor,
    parse_uuid_cursor,
)
from service.api.schemas import PageArgsSchema
from service.api.unit_of_work import check_if_match, etag_for, request_session, write
from service.domain import applications as pipeline
from service.domain.candidates import get_candidate
from service.models import Application

blp = Blueprint(
    "applications", __name__, description="Applications, their stage moves and their history."
)

_ITEM = {"application_id": "$response.body#/id"}
_IF_MATCH = {**_ITEM, "header.If-Match": "$response.header.ETag"}
_NEXT = {
    "GetApplication": {"operationId": "getApplication", "parameters": _ITEM},
    "GetApplicationTransitions": {"operationId": "listApplicationTransitions", "parameters": _ITEM},
    "RejectApplication": {"operationId": "rejectApplication", "parameters": _IF_MATCH},
    "HireApplication": {"operationId": "hireApplication", "parameters": _IF_MATCH},
    "MoveApplication": {"operationId": "moveApplication", "parameters": _IF_MATCH},
}


def _actor() -> pipeline.Actor:
    principal = current_principal()
    return pipeline.Actor(key_id=principal.key_id, name=principal.name)


def _one(application: Application) -> dict[str, Any]:
    (view,) = pipeline.views(request_session(), [application])
    return application_body(view)


def _response(application: Application, status: int = 200, **headers: str) -> Any:
    return json_response(
        _one(application), status, {"ETag": etag_for(application.row_version), **headers}
    )


def _page(found: list[Application], limit: int, list_name: str) -> Any:
    rows = [application_body(v) for v in pipeline.views(request_session(), found)]
    body, headers = page_response(rows, limit, list_name, lambda r: [str(r["id"])])
    return json_response(body, headers=headers)


def _after(args: dict[str, Any], list_name: str) -> uuid.UUID | None:
    if "cursor" not in args:
        return None
    (cursor_id,) = decode_cursor(args["cursor"], list_name, (str,))
    return parse_uuid_cursor(cursor_id)


@blp.route("/v1/applications")
class Applications(MethodView):
    @requires("pipeline:read")
    @blp.arguments(ApplicationQueryArgsSchema, location="query")
    @blp.response(200, ApplicationPageSchema, headers=LINK_HEADER)
    @problem_doc(blp, 400, "The cursor is invalid or belongs to another list")
    @blp.doc(operationId="listApplications")
    @audited("list", "application")
    def get(self, args: dict[str, Any]) -> Any:
        """List applications in creation order.

        Filters: `job_id`, `candidate_id`, `status`, `stage` (a stage id), `updated_after`.
        """
        found = pipeline.list_applications(
            request_session(),
            limit=args["limit"] + 1,
            after=_after(args, "applications"),
            job_id=args.get("job_id"),
            candidate_id=args.get("candidate_id"),
            status=args.get("status"),
            stage_id=args.get("stage"),
            updated_after=args.get("updated_after"),
        )
        return _page(found, args["limit"], "applications")

    @requires("pipeline:write")
    @write
    @blp.arguments(ApplicationCreateSchema)
    @blp.response(
        201, ApplicationSchema, headers={**LOCATION_HEADER, **ETAG_HEADER, **REPLAYED_HEADER}
    )
    @idempotency_doc(
        blp, conflict="The job is not open, or the candidate has an active application to it"
    )
    @problem_doc(blp, 404, "No such candidate, job, or stage of the job")
    @links_doc(blp, 201, _NEXT)
    @blp.doc(operationId="createApplication")
    @audited("create", "application", ids=lambda body: [body["id"]])
    def post(self, data: dict[str, Any]) -> Any:
        """A candidate applies to an open job, in its first stage unless `stage` says otherwise.

        A candidate has at most one active application per job: a second is a 409 whose
        `existing_id` names it. The history starts with a `created` transition.
        """
        application = pipeline.create_application(request_session(), data, _actor())
        location = url_for("applications.ApplicationItem", application_id=application.id)
        return _response(application, 201, Location=location)


@blp.route("/v1/applications/batch")
class ApplicationBatch(MethodView):
    @requires("pipeline:write")
    @write
    @blp.arguments(ApplicationBatchBodySchema)
    @blp.response(200, ApplicationBatchResponseSchema, headers=REPLAYED_HEADER)
    @idempotency_doc(blp)
    @blp.doc(operationId="createApplications")
    @audited("create", "application", ids=created_ids)
    def post(self, body: dict[str, Any]) -> Any:
        """Create up to 500 applications; one result per item, in order.

        Each item is its own unit, as for POST /v1/applications: a bad one gets a 404, 409 or
        422 result with a problem and never blocks the others. Good ones are written with
        set-based inserts, each with its `created` transition, before this returns.
        """
        results = BatchResults("applications")
        valid = results.load(body["applications"], ApplicationCreateSchema())
        outcome = pipeline.create_many(request_session(), valid, _actor())
        return json_response(results.body(outcome))


@blp.route("/v1/applications/<uuid:application_id>")
class ApplicationItem(MethodView):
    @requires("pipeline:read")
    @blp.response(200, ApplicationSchema, headers=ETAG_HEADER)
    @problem_doc(blp, 404, "No application with this id")
    @links_doc(blp, 200, _NEXT)
    @blp.doc(operationId="getApplication")
    @audited("read", "application", id_arg="application_id")
    def get(self, application_id: uuid.UUID) -> Any:
        """Get an application; the ETag is for its actions' If-Match.

        `match` is the candidate's current stored match against the job's role; an erased
        candidate's applications are a 404.
        """
        return _response(pipeline.get_application(request_session(), application_id))


def _action(action: str, application_id: uuid.UUID, body: dict[str, Any]) -> Any:
    session = request_session()
    application = pipeline.get_application(session, application_id)
    check_if_match(etag_for(application.row_version))
    view = pipeline.act(session, application, action, body, _actor())
    return json_response(
        application_body(view),
        200,
        {"ETag": etag_for(application.row_version)},
    )


# Every action is also refused on an archived job (a closed one still takes decisions).
_ARCHIVED = "; or the job is archived"
_ACTION_DOCS = {
    "move": "The application is not active, or not in `from_stage` (`stage-conflict`)" + _ARCHIVED,
    "reject": "The application is not active, the reason is retired, or `missing-must-have` "
    "is not true of the match" + _ARCHIVED,
    "unreject": "The application is not rejected" + _ARCHIVED,
    "hire": "The application is not active, or the job's openings are filled" + _ARCHIVED,
    "unhire": "The application is not hired" + _ARCHIVED,
}


def _documented(action: str, schema: type) -> Any:
    """The decorators every action has: scope, transaction, If-Match, Idempotency-Key, audit."""

    def decorator(func: Any) -> Any:
        for wrap in reversed(
            [
                requires("pipeline:write"),
                write,
                blp.arguments(schema),
                blp.response(200, ApplicationSchema, headers={**ETAG_HEADER, **REPLAYED_HEADER}),
                if_match_doc(blp),
                idempotency_doc(blp, conflict=_ACTION_DOCS[action]),
                problem_doc(blp, 404, "No application with this id (or stage, or reason)"),
                links_doc(blp, 200, _NEXT),
                blp.doc(operationId=f"{action}Application"),
                audited("update", "application", id_arg="application_id"),
            ]
        ):
            func = wrap(func)
        return func

    return decorator


@blp.route("/v1/applications/<uuid:application_id>/move")
class MoveApplication(MethodView):
    @_documented("move", MoveSchema)
    def post(self, body: dict[str, Any], application_id: uuid.UUID) -> Any:
        """Move an active application to another stage of its job (If-Match required).

        Moves may skip stages and go backwards. `from_stage` must be the stage the application
        is in (else a 409 `stage-conflict` naming the current one): two recruiters never
        silently overwrite each other's move."""
        return _action("move", application_id, body)


@blp.route("/v1/applications/<uuid:application_id>/reject")
class RejectApplication(MethodView):
    @_documented("reject", RejectSchema)
    def post(self, body: dict[str, Any], application_id: uuid.UUID) -> Any:
        """Reject an active application with a reason (If-Match required).

        It keeps its stage. `missing-must-have` is refused (409) when the candidate's stored
        match meets every must-have of the role."""
        return _action("reject", application_id, body)


@blp.route("/v1/applications/<uuid:application_id>/unreject")
class UnrejectApplication(MethodView):
    @_documented("unreject", NoteSchema)
    def post(self, body: dict[str, Any], application_id: uuid.UUID) -> Any:
        """Make a rejected application active again (If-Match required).

        It comes back active in the stage it was rejected in."""
        return _action("unreject", application_id, body)


@blp.route("/v1/applications/<uuid:application_id>/hire")
class HireApplication(MethodView):
    @_documented("hire", NoteSchema)
    def post(self, body: dict[str, Any], application_id: uuid.UUID) -> Any:
        """Hire the candidate of an active application (If-Match required).

        The job's `hired` goes up by one; a hire beyond its `openings` is a 409, also when
        two recruiters hire at the same moment."""
        return _action("hire", application_id, body)


@blp.route("/v1/applications/<uuid:application_id>/unhire")
class UnhireApplication(MethodView):
    @_documented("unhire", NoteSchema)
    def post(self, body: dict[str, Any], application_id: uuid.UUID) -> Any:
        """Undo a hire (If-Match required).

        The application is active again in the stage it was hired from; the job's `hired`
        goes down by one."""
        return _action("unhire", application_id, body)


@blp.route("/v1/applications/<uuid:application_id>/transitions")
class ApplicationTransitions(MethodView):
    @requires("pipeline:read")
    @blp.response(200, TransitionPageSchema)
    @problem_doc(blp, 404, "No application with this id")
    @blp.doc(operationId="listApplicationTransitions")
    @audited("list", "transition", id_arg="application_id")
    def get(self, application_id: uuid.UUID) -> Any:
        """An application's whole history, oldest first.

        Every transition with who acted, why, and the candidate's match at that moment. Never
        changed once written; one page holds them all.
        """
        session = request_session()
        found = pipeline.transitions_of(session, pipeline.get_application(session, application_id))
        stages = pipeline.stages_by_id(
            session, [s for t in found for s in (t.from_stage_id, t.to_stage_id)]
        )
        return json_response(
            {"next_cursor": None, "data": [transition_body(t, stages) for t in found]}
        )


@blp.route("/v1/transitions")
class Transitions(MethodView):
    @requires("pipeline:read")
    @blp.arguments(TransitionQueryArgsSchema, location="query")
    @blp.response(200, TransitionPageSchema, headers=LINK_HEADER)
    @problem_doc(blp, 400, "The cursor is invalid or belongs to another list")
    @blp.doc(operationId="listTransitions")
    @audited("list", "transition")
    def get(self, args: dict[str, Any]) -> Any:
        """Every transition of every job, in the order they were written: a cursor feed for sync.

        Keep the last cursor and come back: nothing written later is ever behind it, also a
        backdated application's `created` (its `occurred_at` is its `applied_at`). Filters:
        `job_id`, `kind`, `occurred_after`.
        """
        after = None
        if "cursor" in args:
            at, last = decode_cursor(args["cursor"], "transitions", (str, str))
            after = (parse_instant_cursor(at), parse_uuid_cursor(last))
        session = request_session()
        found = pipeline.transition_feed(
            session,
            limit=args["limit"] + 1,
            after=after,
            job_id=args.get("job_id"),
            kind=args.get("kind"),
            occurred_after=args.get("occurred_after"),
        )
        stages = pipeline.stages_by_id(
            session, [s for t in found for s in (t.from_stage_id, t.to_stage_id)]
        )
        keys = {t.id: t.recorded_at.isoformat() for t in found}
        rows = [transition_body(t, stages) for t in found]
        body, headers = page_response(
            rows, args["limit"], "transitions", lambda r: [keys[r["id"]], str(r["id"])]
        )
        return json_response(body, headers=headers)


@blp.route("/v1/candidates/<uuid:candidate_id>/applications")
class CandidateApplications(MethodView):
    @requires("pipeline:read")
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, ApplicationPageSchema, headers=LINK_HEADER)
    @problem_doc(blp, 400, "The cursor is invalid or belongs to another list")
    @problem_doc(blp, 404, "No candidate with this id (or it was erased)")
    @blp.doc(operationId="listCandidateApplications")
    @audited("list", "application", id_arg="candidate_id")
    def get(self, args: dict[str, Any], candidate_id: uuid.UUID) -> Any:
        """A candidate's applications, in creation order.

        Cursor-paginated; an erased candidate is a 404.
        """
        session = request_session()
        get_candidate(session, candidate_id)
        list_name = f"candidates/{candidate_id}/applications"
        found = pipeline.list_applications(
            session,
            limit=args["limit"] + 1,
            after=_after(args, list_name),
            candidate_id=candidate_id,
        )
        return _page(found, args["limit"], list_name)
