"""Schemas of the matching endpoints: explained scores, fit, rankings and summaries."""

from __future__ import annotations

from marshmallow import Schema, fields, validate
from webargs.fields import DelimitedList

from service.api.candidates.schemas import CompetencyRecordSchema
from service.api.competencies.schemas import SLUG
from service.api.schemas import PageArgsSchema, PageSchema, Timestamp
from service.domain import scoring
from service.domain.candidates import MAX_RECORDS
from service.infra.fast_schema import FastSchema

_BANDS = {
    "description": "strong >= 80, good >= 60, partial >= 40, weak; not-qualified when a "
    "must-have is missed"
}


class BreakdownRowSchema(Schema):
    competency = fields.String()
    importance = fields.Integer()
    required_level = fields.Integer()
    candidate_level = fields.Integer(allow_none=True, metadata={"description": "null: no record"})
    effective_level = fields.Float(
        metadata={"description": "level x confidence(evidence) x recency(last_used)"}
    )
    coverage = fields.Float(metadata={"description": "min(effective / required, 1)"})
    contribution = fields.Float(metadata={"description": "Score points; the rows sum to score"})
    must_have = fields.Boolean()
    met = fields.Boolean(metadata={"description": "effective_level >= required_level"})
    evidence = fields.String(allow_none=True)
    confidence = fields.Float(allow_none=True)
    recency = fields.Float(allow_none=True)
    surplus = fields.Float(metadata={"description": "Effective level above required; not scored"})


class MatchSchema(Schema):
    role = fields.String()
    role_version = fields.Integer()
    model_version = fields.String()
    score = fields.Float(metadata={"description": "0..100"})
    band = fields.String(validate=validate.OneOf(scoring.BANDS), metadata=_BANDS)
    must_haves_met = fields.Boolean()
    breakdown = fields.List(fields.Nested(BreakdownRowSchema))
    inputs_hash = fields.String(
        metadata={"description": "sha256 of model, role version, month and records: reproduce it"}
    )
    as_of = fields.String(metadata={"description": "Month that recency was computed against"})
    computed_at = Timestamp()


class CandidateMatchesSchema(Schema):
    candidate_id = fields.UUID()
    matches = fields.List(fields.Nested(MatchSchema))


class FitArgsSchema(Schema):
    roles = DelimitedList(
        fields.String(validate=SLUG),
        load_default=lambda: ["tpm", "tmp"],
        validate=validate.Length(equal=2, error="two role keys: a,b"),
        metadata={
            "description": "Two different role keys, comma-separated",
            "uniqueItems": True,
            "default": ["tpm", "tmp"],
        },
    )


class DifferentiatorSchema(Schema):
    competency = fields.String()
    aspect = fields.String(
        allow_none=True,
        metadata={"description": "technical depth, scope or stakeholder interaction"},
    )
    weight_a = fields.Float(metadata={"description": "Share of the first role's importance"})
    weight_b = fields.Float(metadata={"description": "Share of the second role's importance"})
    candidate_coverage = fields.Float(
        metadata={"description": "Coverage under the role that weights it more"}
    )
    coverage_a = fields.Float(allow_none=True)
    coverage_b = fields.Float(allow_none=True)
    effect = fields.Float(
        metadata={"description": "Points towards the first role (negative: towards the second)"}
    )
    favours = fields.String(allow_none=True)


class FitSchema(Schema):
    candidate_id = fields.UUID()
    roles = fields.List(fields.String())
    leaning = fields.String(metadata={"description": "A role key, or balanced (margin < 5)"})
    margin = fields.Float()
    scores = fields.Dict(keys=fields.String(), values=fields.Float())
    matches = fields.Dict(keys=fields.String(), values=fields.Nested(MatchSchema))
    differentiators = fields.List(fields.Nested(DifferentiatorSchema))


class InlineMatchSchema(FastSchema):
    """Body of POST /v1/match: a profile to score; nothing is stored."""

    competencies = fields.List(
        fields.Nested(CompetencyRecordSchema),
        required=True,
        validate=validate.Length(max=MAX_RECORDS),
    )
    roles = fields.List(
        fields.String(validate=SLUG),
        validate=validate.Length(min=1, max=50),
        metadata={
            "description": "Role keys (GET /v1/roles); default every role. An unknown key is a 422",
            "example": ["tpm", "tmp"],
        },
    )


class InlineMatchesSchema(Schema):
    matches = fields.List(fields.Nested(MatchSchema))


class RankingArgsSchema(PageArgsSchema):
    min_score = fields.Float(validate=validate.Range(min=0, max=100))
    must_haves_met = fields.Boolean()


class RankedCandidateSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    headline = fields.String(allow_none=True)


class RankingItemSchema(Schema):
    candidate = fields.Nested(RankedCandidateSchema)
    score = fields.Float()
    band = fields.String(metadata=_BANDS)
    must_haves_met = fields.Boolean()
    role_version = fields.Integer()
    model_version = fields.String()
    computed_at = Timestamp()


class RankingPageSchema(PageSchema):
    data = fields.List(fields.Nested(RankingItemSchema), required=True)


class HistogramBucketSchema(Schema):
    from_ = fields.Integer(data_key="from")
    to = fields.Integer()
    count = fields.Integer()


class SummarySchema(Schema):
    role = fields.String()
    role_version = fields.Integer()
    count = fields.Integer()
    mean = fields.Float(allow_none=True)
    median = fields.Float(allow_none=True)
    p90 = fields.Float(allow_none=True)
    must_haves_met = fields.Integer(metadata={"description": "How many meet every must-have"})
    histogram = fields.List(fields.Nested(HistogramBucketSchema))
