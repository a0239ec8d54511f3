"""Schema of GET /v1/model (documents the card that :mod:`service.domain.model_card` builds)."""

from __future__ import annotations

from marshmallow import Schema, fields


class BandSchema(Schema):
    band = fields.String()
    min_score = fields.Float()
    needs_must_haves = fields.Boolean()


class RecencyStepSchema(Schema):
    from_months = fields.Integer(metadata={"description": "Age of the last use, in months"})
    to_months = fields.Integer(allow_none=True, metadata={"description": "null: and beyond"})
    factor = fields.Float()


class ModelConstantsSchema(Schema):
    confidence_by_evidence = fields.Dict(keys=fields.String(), values=fields.Float())
    default_evidence = fields.String()
    recent_months = fields.Integer()
    minimum_recency = fields.Float()
    recency_by_age = fields.List(fields.Nested(RecencyStepSchema))
    unknown_last_used_counts_as_recent = fields.Boolean()
    bands = fields.List(fields.Nested(BandSchema))
    candidate_levels = fields.List(fields.Integer(), metadata={"description": "[lowest, highest]"})
    required_levels = fields.List(fields.Integer())
    importances = fields.List(fields.Integer())
    fit_leaning_margin = fields.Float(
        metadata={"description": "Points by which one role must win for a `fit` leaning"}
    )


class ModelCardSchema(Schema):
    """The scoring model as data: formula, constants, properties, intended use, limits."""

    model_version = fields.String()
    formula = fields.String()
    constants = fields.Nested(ModelConstantsSchema)
    properties = fields.List(fields.String())
    intended_use = fields.String()
    known_limits = fields.List(fields.String())
    reading_a_breakdown = fields.String()
    human_oversight = fields.List(fields.String())
    bias_audit_method_version = fields.String()
