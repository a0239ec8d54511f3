"""/v1/roles: role profiles with immutable, numbered versions."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView
from sqlalchemy import select

from service.api.audit.recording import audited
from service.api.auth import current_principal, requires
from service.api.blueprint import Blueprint
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
from service.api.roles.bodies import role_body
from service.api.roles.schemas import (
    RoleBodySchema,
    RoleCreateSchema,
    RolePageSchema,
    RoleQueryArgsSchema,
    RoleSchema,
)
from service.api.schemas import PageArgsSchema
from service.api.unit_of_work import check_if_match, etag_for, request_session, write
from service.domain.roles import RoleDraft, add_version, create_role, get_role, get_version
from service.models import Competency, Role, RoleVersion
from service.observability import Timer

blp = Blueprint("roles", __name__, url_prefix="/v1/roles", description="Role profiles.")

# OpenAPI links: what a client (and schemathesis' stateful tests) can call next with a response.
_KEY = {"key": "$response.body#/key"}
_NEXT = {
    "GetRole": {"operationId": "getRole", "parameters": _KEY},
    "ReplaceRole": {
        "operationId": "replaceRole",
        "parameters": {**_KEY, "header.If-Match": "$response.header.ETag"},
    },
    "ListRoleVersions": {"operationId": "listRoleVersions", "parameters": _KEY},
    "GetRoleVersion": {
        "operationId": "getRoleVersion",
        "parameters": {**_KEY, "version": "$response.body#/version"},
    },
}
_MATCHES = {
    "GetRoleRanking": {
        "operationId": "getRoleRanking",
        "parameters": _KEY,
    },
    "GetRoleSummary": {
        "operationId": "getRoleSummary",
        "parameters": _KEY,
    },
}


def _competency_keys() -> dict[int, str]:
    return dict(request_session().execute(select(Competency.id, Competency.key)).all())


def _etag(version: RoleVersion) -> str:
    return etag_for(f"v{version.version}")


@blp.route("")
class Roles(MethodView):
    @requires("roles:read")
    @blp.arguments(RoleQueryArgsSchema, location="query")
    @blp.response(200, RolePageSchema, headers=LINK_HEADER)
    @problem_doc(blp, 400, "The cursor is invalid or belongs to another list")
    @blp.doc(operationId="listRoles")
    def get(self, args: dict[str, Any]) -> Any:
        """List roles at their current version, ordered by key.

        Cursor-paginated: pass `next_cursor` (or follow the `Link` header) for the next page.
        Earlier versions are under /v1/roles/{key}/versions.
        """
        session = request_session()
        query = (
            select(Role, RoleVersion)
            .join(
                RoleVersion,
                (RoleVersion.role_id == Role.id) & (RoleVersion.version == Role.current_version),
            )
            .order_by(Role.key)
            .limit(args["limit"] + 1)
        )
        if "cursor" in args:
            (after,) = decode_cursor(args["cursor"], "roles", (str,))
            query = query.where(Role.key > after)
        keys = _competency_keys()
        rows = [role_body(role, version, keys) for role, version in session.execute(query)]
        body, headers = page_response(rows, args["limit"], "roles", lambda r: [r["key"]])
        return json_response(body, headers=headers)

    @requires("roles:write")
    @write
    @blp.arguments(RoleCreateSchema)
    @blp.response(201, RoleSchema, headers={**LOCATION_HEADER, **ETAG_HEADER, **REPLAYED_HEADER})
    @idempotency_doc(blp, conflict="A role with this key exists")
    @links_doc(blp, 201, {**_NEXT, **_MATCHES})
    @blp.doc(operationId="createRole")
    @audited("create", "role", ids=lambda body: [body["key"]])
    def post(self, data: dict[str, Any]) -> Any:
        """Create a role at version 1 and score every candidate against it.

        When this returns, every candidate has a stored score for the role (see
        /v1/roles/{key}/matches). An existing key is a 409; send `Idempotency-Key` to make
        retries safe.
        """
        session = request_session()
        key = data.pop("key")
        with Timer("rescore_role"):  # creating the role scores every candidate against it
            version = create_role(
                session, key, RoleDraft(**data), by_key=current_principal().key_id
            )
        headers = {"Location": url_for("roles.RoleItem", key=key), "ETag": _etag(version)}
        return json_response(role_body(version.role, version, _competency_keys()), 201, headers)


@blp.route("/<string:key>", parameters=key_parameter("role"))
class RoleItem(MethodView):
    @requires("roles:read")
    @blp.response(200, RoleSchema, headers=ETAG_HEADER)
    @problem_doc(blp, 404, "No role with this key")
    @links_doc(blp, 200, _NEXT)
    @blp.doc(operationId="getRole")
    def get(self, key: str) -> Any:
        """Get a role at its current version; the ETag is for PUT's If-Match.

        Responsibilities name competencies by key, with importance, required level and whether
        each is a must-have. An unknown key is a 404.
        """
        session = request_session()
        role = get_role(session, key)
        version = get_version(session, role, role.current_version)
        body = role_body(role, version, _competency_keys())
        return json_response(body, headers={"ETag": _etag(version)})

    @requires("roles:write")
    @write
    @blp.arguments(RoleBodySchema)
    @blp.response(200, RoleSchema, headers=ETAG_HEADER)
    @if_match_doc(blp)
    @problem_doc(blp, 404, "No role with this key")
    @links_doc(blp, 200, {**_NEXT, **_MATCHES})
    @blp.doc(operationId="replaceRole")
    @audited("update", "role", id_arg="key")
    def put(self, data: dict[str, Any], key: str) -> Any:
        """Write the next version of a role (If-Match required) and rescore every candidate.

        Earlier versions stay readable under /versions; every stored match records the version
        that produced it. When this returns, every candidate's score reflects the new version.
        """
        session = request_session()
        role = get_role(session, key)
        check_if_match(etag_for(f"v{role.current_version}"))
        with Timer("rescore_role"):  # the new version rescores every candidate
            version = add_version(
                session, role, role.current_version, RoleDraft(**data), current_principal().key_id
            )
        body = role_body(role, version, _competency_keys())
        return json_response(body, headers={"ETag": _etag(version)})


@blp.route("/<string:key>/versions", parameters=key_parameter("role"))
class RoleVersions(MethodView):
    @requires("roles:read")
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, RolePageSchema, headers=LINK_HEADER)
    @problem_doc(blp, 400, "The cursor is invalid or belongs to another list")
    @problem_doc(blp, 404, "No role with this key")
    @blp.doc(operationId="listRoleVersions")
    def get(self, args: dict[str, Any], key: str) -> Any:
        """List every version of a role, oldest first.

        Versions are immutable; every stored match records the version that produced it.
        Cursor-paginated like every list.
        """
        session = request_session()
        role = get_role(session, key)
        query = (
            select(RoleVersion)
            .where(RoleVersion.role_id == role.id)
            .order_by(RoleVersion.version)
            .limit(args["limit"] + 1)
        )
        if "cursor" in args:
            (after,) = decode_cursor(args["cursor"], f"roles/{key}/versions", (int,))
            query = query.where(RoleVersion.version > after)
        keys = _competency_keys()
        rows = [role_body(role, v, keys) for v in session.scalars(query)]
        body, headers = page_response(
            rows, args["limit"], f"roles/{key}/versions", lambda r: [r["version"]]
        )
        return json_response(body, headers=headers)


@blp.route("/<string:key>/versions/<int:version>", parameters=key_parameter("role"))
class RoleVersionItem(MethodView):
    @requires("roles:read")
    @blp.response(200, RoleSchema, headers=ETAG_HEADER)
    @problem_doc(blp, 404, "No role with this key, or no such version of it")
    @blp.doc(operationId="getRoleVersion")
    def get(self, key: str, version: int) -> Any:
        """Get one immutable version of a role.

        404 when the role or that version of it does not exist. The ETag identifies the
        version; only the current version's ETag is accepted by PUT's If-Match.
        """
        session = request_session()
        role = get_role(session, key)
        found = get_version(session, role, version)
        body = role_body(role, found, _competency_keys())
        return json_response(body, headers={"ETag": _etag(found)})
