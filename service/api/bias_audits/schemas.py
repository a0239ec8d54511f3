"""Schemas of /v1/bias-audits, self-identification and the model card (they document; the
bodies are built by :mod:`.bodies`)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from service.api.competencies.schemas import SLUG
from service.api.schemas import Instant, JsonBoolean, PageArgsSchema, PageSchema, Timestamp, text
from service.domain import bias_audits
from service.domain.self_identification import RACE_ETHNICITY_ANSWERS, SEX_ANSWERS

_NOT_REQUIRED = "Not required by the DCWP rule; given for the auditor's convenience. "


class SelfIdentificationSchema(Schema):
    """Body of PUT /v1/candidates/{id}/self-identification; an omitted field is unknown."""

    sex = fields.String(validate=validate.OneOf(SEX_ANSWERS))
    race_ethnicity = fields.String(validate=validate.OneOf(RACE_ETHNICITY_ANSWERS))


class WindowSchema(Schema):
    from_ = Instant(
        data_key="from",
        metadata={"description": "RFC 3339; candidates created / applications applied at or after"},
    )
    to = Instant(
        metadata={"description": "RFC 3339; ... and before this (at or before `from`: nobody)"}
    )


_ROLE = {"description": "A role audit: every candidate with a stored match for it"}
_JOB = {
    "description": "A job audit: every application to it, scored by the match snapshot taken "
    "when it was made"
}
_SELECTION = {
    "description": "Who counts as selected. `stage:<kind>` (reached a stage of that kind or a "
    "later one, or was hired) and `hired` are for job audits only"
}
_EXCLUDE = {
    "description": "Leave categories under 2 % of the population out of the impact ratios "
    "(still listed); needs a `justification`"
}
_JUSTIFICATION = {"description": "Why small categories are excluded (required then)"}


class BiasAuditCreateSchema(Schema):
    """Body of POST /v1/bias-audits, as parsed: the document states it as the four variants
    below (role or job, with or without exclusion), which this union and the domain's checks
    enforce together."""

    role = fields.String(validate=SLUG, metadata=_ROLE)
    job_id = fields.UUID(metadata=_JOB)
    selection = fields.String(
        required=True, validate=validate.OneOf(bias_audits.SELECTIONS), metadata=_SELECTION
    )
    window = fields.Nested(WindowSchema)
    exclude_small_categories = JsonBoolean(load_default=False, metadata=_EXCLUDE)
    justification = fields.String(validate=text(2000, 1, named=True), metadata=_JUSTIFICATION)


class _RoleAudit(Schema):
    role = fields.String(required=True, validate=SLUG, metadata=_ROLE)
    selection = fields.String(
        required=True, validate=validate.OneOf(bias_audits.ROLE_SELECTIONS), metadata=_SELECTION
    )
    window = fields.Nested(WindowSchema)


class _JobAudit(Schema):
    job_id = fields.UUID(required=True, metadata=_JOB)
    selection = fields.String(
        required=True, validate=validate.OneOf(bias_audits.JOB_SELECTIONS), metadata=_SELECTION
    )
    window = fields.Nested(WindowSchema)


class _Plain(Schema):
    exclude_small_categories = JsonBoolean(validate=validate.OneOf([False]), metadata=_EXCLUDE)
    justification = fields.String(validate=text(2000, 1, named=True), metadata=_JUSTIFICATION)


class _Excluding(Schema):
    exclude_small_categories = JsonBoolean(
        required=True, validate=validate.OneOf([True]), metadata=_EXCLUDE
    )
    justification = fields.String(
        required=True, validate=text(2000, 1, named=True), metadata=_JUSTIFICATION
    )


class RoleAuditCreateSchema(_RoleAudit, _Plain):
    """A role audit (selection by the stored match)."""


class RoleAuditExcludingSchema(_RoleAudit, _Excluding):
    """A role audit that excludes small categories, with its justification."""


class JobAuditCreateSchema(_JobAudit, _Plain):
    """A job audit (selection by the snapshot at application, a stage reached, or hired)."""


class JobAuditExcludingSchema(_JobAudit, _Excluding):
    """A job audit that excludes small categories, with its justification."""


CREATE_VARIANTS = (
    RoleAuditCreateSchema,
    RoleAuditExcludingSchema,
    JobAuditCreateSchema,
    JobAuditExcludingSchema,
)


class CategorySchema(Schema):
    category = fields.String()
    n = fields.Integer()
    scored_above = fields.Integer(metadata={"description": "Scored strictly above the median"})
    scoring_rate = fields.Float(allow_none=True, metadata={"description": "scored_above / n"})
    scoring_impact_ratio = fields.Float(
        allow_none=True,
        metadata={"description": "scoring_rate / the benchmark's; null when excluded or n = 0"},
    )
    selected = fields.Integer()
    selection_rate = fields.Float(allow_none=True, metadata={"description": "selected / n"})
    selection_impact_ratio = fields.Float(allow_none=True)
    excluded = fields.Boolean(metadata={"description": "Under 2 %, left out of the ratios"})
    low_n = fields.Boolean(metadata={"description": _NOT_REQUIRED + "n < 30"})
    four_fifths_flag_scoring = fields.Boolean(
        allow_none=True, metadata={"description": _NOT_REQUIRED + "scoring impact ratio < 0.8"}
    )
    four_fifths_flag_selection = fields.Boolean(
        allow_none=True, metadata={"description": _NOT_REQUIRED + "selection impact ratio < 0.8"}
    )
    fisher_p_scoring = fields.Float(
        allow_none=True,
        metadata={
            "description": _NOT_REQUIRED + "two-sided Fisher exact test against the benchmark "
            "category (null for the benchmark itself)"
        },
    )
    fisher_p_selection = fields.Float(allow_none=True, metadata={"description": _NOT_REQUIRED})


class DimensionSchema(Schema):
    dimension = fields.String(validate=validate.OneOf(bias_audits.DIMENSIONS))
    # ``unknown`` is a Schema option in marshmallow: the field takes another attribute name.
    unknown_ = fields.Integer(
        data_key="unknown", metadata={"description": "No answer for this dimension"}
    )
    benchmark_scoring = fields.String(
        allow_none=True, metadata={"description": "The category with the highest scoring rate"}
    )
    benchmark_selection = fields.String(allow_none=True)
    categories = fields.List(fields.Nested(CategorySchema))


class WindowOutSchema(Schema):
    from_ = fields.String(data_key="from", allow_none=True, metadata={"format": "date-time"})
    to = fields.String(allow_none=True, metadata={"format": "date-time"})


class BiasAuditSchema(Schema):
    """A bias audit report: immutable; the same stored inputs give the same numbers."""

    id = fields.UUID()
    created_at = Timestamp()
    method_version = fields.String(metadata={"example": bias_audits.METHOD_VERSION})
    model_version = fields.String(
        allow_none=True, metadata={"description": "null when the scores span several"}
    )
    role = fields.String()
    role_version = fields.Integer(
        allow_none=True, metadata={"description": "null when the scores span several"}
    )
    job_id = fields.UUID(allow_none=True)
    selection = fields.String()
    window = fields.Nested(WindowOutSchema, allow_none=True)
    exclude_small_categories = fields.Boolean()
    justification = fields.String(allow_none=True)
    population = fields.Integer()
    median = fields.Float(allow_none=True, metadata={"description": "Median score, 0..100"})
    ties_at_median = fields.Integer()
    share_above = fields.Float(allow_none=True)
    inputs_hash = fields.String(
        metadata={"description": "SHA-256 of the request and the aggregates computed from"}
    )
    dimensions = fields.List(fields.Nested(DimensionSchema))


class BiasAuditQueryArgsSchema(PageArgsSchema):
    role = fields.String(validate=SLUG)
    job_id = fields.UUID()


class BiasAuditPageSchema(PageSchema):
    data = fields.List(fields.Nested(BiasAuditSchema), required=True)
