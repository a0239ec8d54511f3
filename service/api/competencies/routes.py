"""/v1/competencies: the taxonomy that roles require and candidates are rated on."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView

from service.api.audit.recording import audited
from service.api.auth import requires
from service.api.blueprint import Blueprint
from service.api.competencies.bodies import competency_body
from service.api.competencies.schemas import (
    CompetencyCreateSchema,
    CompetencyPageSchema,
    CompetencyPatchSchema,
    CompetencyQueryArgsSchema,
    CompetencySchema,
)
from service.api.jsonio import json_response
from service.api.openapi import (
    ETAG_HEADER,
    LOCATION_HEADER,
    REPLAYED_HEADER,
    idempotency_doc,
    if_match_doc,
    key_parameter,
    links_doc,
    problem_doc,
)
from service.api.pagination import LINK_HEADER, decode_cursor, page_response
from service.api.unit_of_work import check_if_match, etag_for, request_session, write
from service.domain.competencies import (
    create_competency,
    get_competency,
    list_competencies,
    update_competency,
)

blp = Blueprint(
    "competencies", __name__, url_prefix="/v1/competencies", description="Competency taxonomy."
)

# OpenAPI links: what a client (and schemathesis' stateful tests) can call next with a response.
_KEY = {"key": "$response.body#/key"}
_NEXT = {
    "GetCompetency": {"operationId": "getCompetency", "parameters": _KEY},
    "UpdateCompetency": {
        "operationId": "updateCompetency",
        "parameters": {**_KEY, "header.If-Match": "$response.header.ETag"},
    },
}


@blp.route("")
class Competencies(MethodView):
    @requires("roles:read")
    @blp.arguments(CompetencyQueryArgsSchema, location="query")
    @blp.response(200, CompetencyPageSchema, headers=LINK_HEADER)
    @problem_doc(blp, 400, "The cursor is invalid or belongs to another list")
    @blp.doc(operationId="listCompetencies")
    def get(self, args: dict[str, Any]) -> Any:
        """List competencies, ordered by key.

        Filter by `category`, or by `q`, a case-insensitive substring of key, name or alias.
        """
        after = None
        if "cursor" in args:
            (after,) = decode_cursor(args["cursor"], "competencies", (str,))
        found = list_competencies(
            request_session(),
            limit=args["limit"] + 1,
            after=after,
            category=args.get("category"),
            q=args.get("q"),
        )
        rows = [competency_body(c) for c in found]
        body, headers = page_response(rows, args["limit"], "competencies", lambda c: [c["key"]])
        return json_response(body, headers=headers)

    @requires("roles:write")
    @write
    @blp.arguments(CompetencyCreateSchema)
    @blp.response(
        201, CompetencySchema, headers={**LOCATION_HEADER, **ETAG_HEADER, **REPLAYED_HEADER}
    )
    @idempotency_doc(blp, conflict="The key or an alias is taken; `owner` names the holder")
    @links_doc(blp, 201, _NEXT)
    @blp.doc(operationId="createCompetency")
    @audited("create", "competency", ids=lambda body: [body["key"]])
    def post(self, data: dict[str, Any]) -> Any:
        """Create a competency, with aliases unique across the taxonomy.

        A key or alias that another competency holds is a 409 whose `owner` names it. Answers
        201 with `Location` and the `ETag` for a later PATCH; send `Idempotency-Key` to make
        retries safe.
        """
        competency = create_competency(request_session(), **data)
        location = url_for("competencies.CompetencyItem", key=competency.key)
        headers = {"Location": location, "ETag": etag_for(competency.row_version)}
        return json_response(competency_body(competency), 201, headers)


@blp.route("/<string:key>", parameters=key_parameter("competency"))
class CompetencyItem(MethodView):
    @requires("roles:read")
    @blp.response(200, CompetencySchema, headers=ETAG_HEADER)
    @problem_doc(blp, 404, "No competency with this key")
    @links_doc(blp, 200, _NEXT)
    @blp.doc(operationId="getCompetency")
    def get(self, key: str) -> Any:
        """Get one competency; the ETag is for PATCH's If-Match.

        `key` is the competency's key, not an alias; an unknown key is a 404.
        """
        competency = get_competency(request_session(), key)
        return json_response(
            competency_body(competency), headers={"ETag": etag_for(competency.row_version)}
        )

    @requires("roles:write")
    @write
    @blp.arguments(CompetencyPatchSchema)
    @blp.response(200, CompetencySchema, headers=ETAG_HEADER)
    @if_match_doc(blp)
    @problem_doc(blp, 404, "No competency with this key")
    @problem_doc(blp, 409, "An alias belongs to another competency; `owner` names it")
    @links_doc(blp, 200, _NEXT)
    @blp.doc(operationId="updateCompetency")
    @audited("update", "competency", id_arg="key")
    def patch(self, changes: dict[str, Any], key: str) -> Any:
        """Change a competency (If-Match required). `aliases`, when sent, replaces the list.

        Send any subset of `name`, `category`, `description` and `aliases`. Without `If-Match`
        the answer is 428, with a stale one 412 (nothing written); an alias that another
        competency holds is a 409 whose `owner` names it.
        """
        session = request_session()
        competency = get_competency(session, key)
        check_if_match(etag_for(competency.row_version))
        update_competency(session, competency, changes)
        return json_response(
            competency_body(competency), headers={"ETag": etag_for(competency.row_version)}
        )
