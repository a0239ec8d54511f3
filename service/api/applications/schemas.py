"""Schemas of /v1/applications, their actions, and /v1/transitions."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from service.api.competencies.schemas import SLUG
from service.api.jobs.schemas import StageSchema
from service.api.matching.schemas import RankedCandidateSchema
from service.api.schemas import Instant, PageArgsSchema, PageSchema, ProblemSchema, Timestamp, text
from service.domain import scoring
from service.domain.applications import NOTE_MAX
from service.models.application import APPLICATION_STATUSES, SOURCE_CHANNELS, TRANSITION_KINDS

_NOTE = fields.String(allow_none=True, validate=text(NOTE_MAX))


class SourceSchema(Schema):
    channel = fields.String(load_default="applied", validate=validate.OneOf(SOURCE_CHANNELS))
    detail = fields.String(allow_none=True, validate=text(200))


class RejectionSchema(Schema):
    reason = fields.String(metadata={"description": "A rejection reason's key"})
    type = fields.String()
    note = fields.String(allow_none=True)


class MatchSnapshotSchema(Schema):
    score = fields.Float(metadata={"description": "0..100"})
    band = fields.String(validate=validate.OneOf(scoring.BANDS))
    must_haves_met = fields.Boolean()
    role_version = fields.Integer()
    model_version = fields.String()


class ApplicationSchema(Schema):
    """A candidate's application to a job."""

    id = fields.UUID()
    candidate_id = fields.UUID()
    job_id = fields.UUID()
    status = fields.String(validate=validate.OneOf(APPLICATION_STATUSES))
    stage = fields.Nested(StageSchema, metadata={"description": "Where it is (or was rejected)"})
    source = fields.Nested(SourceSchema)
    applied_at = Timestamp()
    rejected_at = Timestamp(allow_none=True)
    hired_at = Timestamp(allow_none=True)
    rejection = fields.Nested(RejectionSchema, allow_none=True)
    match = fields.Nested(
        MatchSnapshotSchema,
        allow_none=True,
        metadata={"description": "The candidate's current stored match for the job's role"},
    )
    created_at = Timestamp()
    updated_at = Timestamp()


class ApplicationCreateSchema(Schema):
    """Body of POST /v1/applications: the job must be open."""

    candidate_id = fields.UUID(required=True)
    job_id = fields.UUID(required=True)
    stage = fields.UUID(metadata={"description": "A stage of the job; default its first"})
    source = fields.Nested(SourceSchema)
    applied_at = Instant(metadata={"description": "RFC 3339, not in the future; default now"})


class ApplicationQueryArgsSchema(PageArgsSchema):
    job_id = fields.UUID()
    candidate_id = fields.UUID()
    status = fields.String(validate=validate.OneOf(APPLICATION_STATUSES))
    stage = fields.UUID(metadata={"description": "A stage id"})
    updated_after = Instant()


class ApplicationPageSchema(PageSchema):
    data = fields.List(fields.Nested(ApplicationSchema), required=True)


class JobApplicationSchema(ApplicationSchema):
    candidate = fields.Nested(RankedCandidateSchema)


class JobApplicationsArgsSchema(PageArgsSchema):
    status = fields.String(validate=validate.OneOf(APPLICATION_STATUSES))
    stage = fields.UUID(metadata={"description": "A stage id"})
    min_score = fields.Float(validate=validate.Range(min=0, max=100))
    must_haves_met = fields.Boolean()


class JobApplicationPageSchema(PageSchema):
    data = fields.List(fields.Nested(JobApplicationSchema), required=True)


# --------------------------------------------------------------------------- actions


class MoveSchema(Schema):
    from_stage = fields.UUID(
        required=True, metadata={"description": "The stage you saw it in: else a 409"}
    )
    to_stage = fields.UUID(required=True, metadata={"description": "A stage of the job"})
    note = _NOTE


class RejectSchema(Schema):
    reason = fields.String(
        required=True,
        validate=SLUG,
        metadata={"description": "An active rejection reason's key", "example": "other"},
    )
    note = _NOTE


class NoteSchema(Schema):
    note = _NOTE


# --------------------------------------------------------------------------- transitions


class ActorSchema(Schema):
    key_id = fields.String(allow_none=True)
    name = fields.String(allow_none=True)


class TransitionMatchSchema(MatchSnapshotSchema):
    inputs_hash = fields.String()


class TransitionSchema(Schema):
    """One step of an application's history: never changed once written."""

    id = fields.UUID()
    application_id = fields.UUID()
    job_id = fields.UUID()
    seq = fields.Integer(metadata={"description": "1, 2, 3... within the application"})
    kind = fields.String(validate=validate.OneOf(TRANSITION_KINDS))
    from_stage = fields.Nested(StageSchema, allow_none=True)
    to_stage = fields.Nested(StageSchema)
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    reason = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    actor = fields.Nested(ActorSchema)
    match = fields.Nested(
        TransitionMatchSchema,
        allow_none=True,
        metadata={"description": "The candidate's stored match then: what the recruiter saw"},
    )
    occurred_at = Timestamp()


class TransitionPageSchema(PageSchema):
    data = fields.List(fields.Nested(TransitionSchema), required=True)


class TransitionQueryArgsSchema(PageArgsSchema):
    job_id = fields.UUID()
    kind = fields.String(validate=validate.OneOf(TRANSITION_KINDS))
    occurred_after = Instant()


# --------------------------------------------------------------------------- batch

MAX_BATCH = 500


class ApplicationBatchBodySchema(Schema):
    """Body of POST /v1/applications/batch. Items are checked one by one, not here."""

    applications = fields.List(
        # Any JSON value: an item that is not a valid ApplicationCreate is that item's own 422.
        fields.Raw(
            allow_none=True,
            metadata={"description": "An ApplicationCreate, as for POST /v1/applications"},
        ),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH),
        metadata={"description": f"1..{MAX_BATCH} applications"},
    )


class ApplicationBatchResultSchema(Schema):
    index = fields.Integer(required=True)
    status = fields.Integer(required=True, metadata={"description": "201, 404, 409 or 422"})
    id = fields.UUID(metadata={"description": "The new application's id (status 201)"})
    problem = fields.Nested(
        ProblemSchema, metadata={"description": "Why this item was not created (status 4xx)"}
    )


class ApplicationBatchResponseSchema(Schema):
    results = fields.List(fields.Nested(ApplicationBatchResultSchema), required=True)
