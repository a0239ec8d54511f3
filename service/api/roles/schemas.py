"""Schemas of /v1/roles."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from service.api.competencies.schemas import SLUG
from service.api.schemas import (
    JsonBoolean,
    JsonInteger,
    PageArgsSchema,
    PageSchema,
    Timestamp,
    text,
)
from service.domain.roles import MAX_RESPONSIBILITIES


class ResponsibilitySchema(Schema):
    competency = fields.String(
        required=True,
        validate=text(200, 1),
        metadata={
            "description": "A competency key or alias of the taxonomy (GET /v1/competencies); "
            "returned as the key. An unknown name is a 422",
            "example": "technical-depth",
        },
    )
    importance = JsonInteger(
        required=True,
        validate=validate.Range(min=1, max=5),
        metadata={"description": "How much it matters, 1..5"},
    )
    level = JsonInteger(
        required=True,
        validate=validate.Range(min=1, max=5),
        metadata={"description": "Proficiency the role needs, 1..5"},
    )
    must_have = JsonBoolean(load_default=False)
    rationale = fields.String(load_default="", validate=text(2000))


class RoleBodySchema(Schema):
    """Body of PUT /v1/roles/{key}: a whole new version."""

    title = fields.String(required=True, validate=text(200, 1))
    summary = fields.String(load_default="", validate=text(4000))
    focus = fields.String(load_default="", validate=text(4000))
    responsibilities = fields.List(
        fields.Nested(ResponsibilitySchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_RESPONSIBILITIES),
    )


class RoleCreateSchema(RoleBodySchema):
    """Body of POST /v1/roles: creates version 1."""

    key = fields.String(required=True, validate=SLUG)


class RoleSchema(RoleCreateSchema):
    """A role at one version."""

    version = fields.Integer(dump_only=True)
    created_at = Timestamp(metadata={"description": "When the role was created"})
    updated_at = Timestamp(metadata={"description": "When this version was created"})


class RoleQueryArgsSchema(PageArgsSchema):
    pass


class RolePageSchema(PageSchema):
    data = fields.List(fields.Nested(RoleSchema), required=True)
