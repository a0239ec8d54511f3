"""Schemas of /v1/competencies."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from service.api.schemas import (
    SLUG_PATTERN,
    PageArgsSchema,
    PageSchema,
    Pattern,
    Timestamp,
    text,
)

SLUG = Pattern(
    SLUG_PATTERN,
    error="a slug of 2 to 64 lowercase letters, digits and dashes, starting with a letter",
)
MAX_ALIASES = 50


class CompetencySchema(Schema):
    key = fields.String(required=True, validate=SLUG)
    name = fields.String(required=True, validate=text(200, 1))
    category = fields.String(required=True, validate=text(64, 1))
    description = fields.String(load_default="", validate=text(2000))
    aliases = fields.List(
        fields.String(validate=text(200, 1, named=True)),
        load_default=list,
        validate=validate.Length(max=MAX_ALIASES),
    )
    created_at = Timestamp()
    updated_at = Timestamp()


class CompetencyCreateSchema(CompetencySchema):
    """Body of POST /v1/competencies."""


class CompetencyPatchSchema(Schema):
    """Body of PATCH: any subset of the writable fields; ``aliases`` replaces the list."""

    name = fields.String(validate=text(200, 1))
    category = fields.String(validate=text(64, 1))
    description = fields.String(validate=text(2000))
    aliases = fields.List(
        fields.String(validate=text(200, 1, named=True)),
        validate=validate.Length(max=MAX_ALIASES),
    )


class CompetencyQueryArgsSchema(PageArgsSchema):
    category = fields.String(validate=text(64))
    q = fields.String(
        validate=text(200, 1),
        metadata={"description": "Case-insensitive match on key, name or alias"},
    )


class CompetencyPageSchema(PageSchema):
    data = fields.List(fields.Nested(CompetencySchema), required=True)
