"""Schemas of /v1/jobs and /v1/rejection-reasons."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from service.api.competencies.schemas import SLUG
from service.api.schemas import (
    Instant,
    JsonBoolean,
    JsonInteger,
    PageArgsSchema,
    PageSchema,
    Timestamp,
    text,
)
from service.domain.jobs import MAX_STAGES
from service.models.application import SOURCE_CHANNELS
from service.models.job import JOB_STATUSES, STAGE_KINDS

_STATUS = {
    "description": "draft -> open -> closed -> archived, and closed -> open; applications are "
    "taken while open"
}


class StageSchema(Schema):
    """A stage of a job's pipeline."""

    id = fields.UUID(dump_only=True)
    name = fields.String(required=True, validate=text(100, 1))
    kind = fields.String(required=True, validate=validate.OneOf(STAGE_KINDS))
    position = fields.Integer(
        dump_only=True, metadata={"description": "1, 2, 3... in order; 0 once removed"}
    )


class StageInputSchema(Schema):
    """A stage as sent in PUT /v1/jobs/{id}/stages: with its `id` it is kept, without it new."""

    id = fields.UUID(metadata={"description": "An existing stage of this job, kept"})
    name = fields.String(required=True, validate=text(100, 1))
    kind = fields.String(required=True, validate=validate.OneOf(STAGE_KINDS))


_STAGES = validate.Length(min=1, max=MAX_STAGES)


class _JobFields(Schema):
    """What a job's body and its creation share."""

    title = fields.String(required=True, validate=text(200, 1))
    role = fields.String(
        required=True,
        validate=SLUG,
        metadata={"description": "Key of a role profile (GET /v1/roles)", "example": "tpm"},
    )
    department = fields.String(allow_none=True, validate=text(200))
    location = fields.String(allow_none=True, validate=text(200))
    status = fields.String(validate=validate.OneOf(JOB_STATUSES), metadata=_STATUS)


class JobSchema(_JobFields):
    """A job, opened against a role profile: its applications are scored against that role."""

    id = fields.UUID(dump_only=True)
    openings = JsonInteger(validate=validate.Range(min=1, max=1000))
    hired = fields.Integer(dump_only=True, metadata={"description": "Hires so far (server-owned)"})
    stages = fields.List(fields.Nested(StageSchema), dump_only=True)
    opened_at = Timestamp(allow_none=True)
    closed_at = Timestamp(allow_none=True)
    created_at = Timestamp()
    updated_at = Timestamp()


class JobCreateSchema(_JobFields):
    """Body of POST /v1/jobs: without `stages`, Applied / Screen / Assessment / Interview / Offer;
    `status` is draft unless given."""

    openings = JsonInteger(load_default=1, validate=validate.Range(min=1, max=1000))
    stages = fields.List(
        fields.Nested(StageSchema),
        validate=_STAGES,
        metadata={"description": "In order; names unique within the job"},
    )


class JobPatchSchema(Schema):
    """Body of PATCH /v1/jobs/{id}: any subset; `openings` never below `hired`."""

    title = fields.String(validate=text(200, 1))
    department = fields.String(allow_none=True, validate=text(200))
    location = fields.String(allow_none=True, validate=text(200))
    openings = JsonInteger(validate=validate.Range(min=1, max=1000))
    status = fields.String(validate=validate.OneOf(JOB_STATUSES), metadata=_STATUS)


class StagesBodySchema(Schema):
    """Body of PUT /v1/jobs/{id}/stages: the whole ordered list."""

    stages = fields.List(fields.Nested(StageInputSchema), required=True, validate=_STAGES)


class JobQueryArgsSchema(PageArgsSchema):
    status = fields.String(validate=validate.OneOf(JOB_STATUSES))
    role = fields.String(validate=SLUG)
    q = fields.String(
        validate=text(200, 1),
        metadata={"description": "Case-insensitive substring of title, department or location"},
    )


class JobPageSchema(PageSchema):
    data = fields.List(fields.Nested(JobSchema), required=True)


class FunnelArgsSchema(Schema):
    applied_after = Instant(metadata={"description": "RFC 3339; the cohort applied at or after it"})
    applied_before = Instant(metadata={"description": "RFC 3339; the cohort applied before it"})
    source = fields.String(validate=validate.OneOf(SOURCE_CHANNELS))


class PercentilesSchema(Schema):
    median = fields.Float(allow_none=True)
    p90 = fields.Float(allow_none=True)


class FunnelStageSchema(Schema):
    stage = fields.Nested(StageSchema)
    reached = fields.Integer(
        metadata={"description": "Ever in this stage or a later one (a skip passes through)"}
    )
    current = fields.Integer(metadata={"description": "Active and in this stage now"})
    rejected_here = fields.Integer()
    advanced = fields.Integer(metadata={"description": "Of those reached: got further or hired"})
    conversion = fields.Float(allow_none=True, metadata={"description": "advanced / reached"})
    days_in_stage = fields.Nested(
        PercentilesSchema, metadata={"description": "Over completed stays in the stage"}
    )


class FunnelSourceSchema(Schema):
    channel = fields.String()
    applications = fields.Integer()
    hired = fields.Integer()


class FunnelSchema(Schema):
    job_id = fields.UUID()
    applications = fields.Integer()
    active = fields.Integer()
    hired = fields.Integer()
    rejected = fields.Integer()
    time_to_hire_days = fields.Nested(PercentilesSchema)
    stages = fields.List(fields.Nested(FunnelStageSchema))
    sources = fields.List(fields.Nested(FunnelSourceSchema))


# --------------------------------------------------------------------------- rejection reasons

REASON_TYPES = ("we_rejected", "candidate_withdrew", "other")


class RejectionReasonSchema(Schema):
    key = fields.String(required=True, validate=SLUG)
    name = fields.String(required=True, validate=text(200, 1))
    type = fields.String(required=True, validate=validate.OneOf(REASON_TYPES))
    active = JsonBoolean(
        load_default=True, metadata={"description": "Only active reasons reject applications"}
    )


class RejectionReasonPatchSchema(Schema):
    name = fields.String(validate=text(200, 1))
    active = JsonBoolean()


class RejectionReasonPageSchema(PageSchema):
    data = fields.List(fields.Nested(RejectionReasonSchema), required=True)
