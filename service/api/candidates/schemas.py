"""Schemas of /v1/candidates."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, fields, validate

from service.api.schemas import (
    Instant,
    JsonBoolean,
    JsonFloat,
    JsonInteger,
    PageArgsSchema,
    PageSchema,
    Pattern,
    ProblemSchema,
    Timestamp,
    text,
)
from service.domain import scoring
from service.domain.candidates import MAX_RECORDS
from service.infra.fast_schema import FastSchema

MAX_BATCH = 500
# YYYY-MM or YYYY-MM-DD, years 1900..2999; the day (01..31) is read, then ignored.
MONTH_PATTERN = re.compile(r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?$")
# An email address as HTML defines a valid one, with at least one dot in the domain.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


class MonthField(fields.Field[scoring.Month]):
    """A month, ``YYYY-MM`` (a full date is accepted on input; the day is ignored). Bodies show
    it as ``YYYY-MM`` (:mod:`.bodies`)."""

    default_error_messages = {"invalid": "a month as YYYY-MM, e.g. 2026-06"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> scoring.Month:
        if not isinstance(value, str) or not MONTH_PATTERN.fullmatch(value):
            raise self.make_error("invalid")
        try:
            return scoring.Month.parse(value[:7])  # the day of a full date is ignored
        except ValueError as error:
            raise self.make_error("invalid") from error


class CompetencyRecordSchema(FastSchema):
    competency = fields.String(
        required=True,
        validate=text(200, 1),
        metadata={
            "description": "Key or any alias (case and spacing ignored) of a competency of "
            "the taxonomy (GET /v1/competencies); returned as key. An unknown name is a 422 "
            "naming the closest known ones",
            "example": "technical-depth",
        },
    )
    level = JsonInteger(
        required=True,
        validate=validate.Range(min=0, max=5),
        metadata={
            "description": "0 none, 1 awareness, 2 working, 3 practitioner, 4 expert, 5 authority"
        },
    )
    years = JsonFloat(allow_none=True, validate=validate.Range(min=0, max=80))
    last_used = MonthField(
        allow_none=True,
        metadata={
            "description": "YYYY-MM (a full date is accepted; the day is ignored); "
            "unknown counts as recent",
            "type": "string",
            "pattern": MONTH_PATTERN.pattern,
            "example": "2026-06",
        },
    )
    evidence = fields.String(
        load_default=scoring.DEFAULT_EVIDENCE, validate=validate.OneOf(scoring.EVIDENCE_KINDS)
    )
    note = fields.String(allow_none=True, validate=text(1000))


_records = fields.List(
    fields.Nested(CompetencyRecordSchema), validate=validate.Length(max=MAX_RECORDS)
)


class CandidateSchema(FastSchema):
    """A candidate. ``email`` and ``phone`` are present only for keys with candidates:pii."""

    id = fields.UUID(dump_only=True)
    external_id = fields.String(
        allow_none=True,
        validate=text(255, 1),
        metadata={"description": "The id in `source`; needs `source`"},
    )
    source = fields.String(
        allow_none=True,
        validate=text(64, 1),
        metadata={"description": "The system the candidate comes from, e.g. greenhouse"},
    )
    name = fields.String(required=True, validate=text(200, 1))
    email = fields.String(
        allow_none=True,
        validate=[
            validate.Length(max=320),
            Pattern(EMAIL_PATTERN, error="an email address, e.g. ada@example.com"),
        ],
        metadata={"description": "An email address (as HTML defines a valid one)"},
    )
    phone = fields.String(
        allow_none=True,
        validate=[
            validate.Length(min=3, max=50),
            Pattern(r"^\+?[0-9 ().\-]{3,50}$", error="digits, spaces, + ( ) . - only"),
        ],
    )
    headline = fields.String(allow_none=True, validate=text(300))
    years_experience = JsonFloat(allow_none=True, validate=validate.Range(min=0, max=80))
    competencies = fields.List(
        fields.Nested(CompetencyRecordSchema),
        load_default=list,
        validate=validate.Length(max=MAX_RECORDS),
    )
    created_at = Timestamp()
    updated_at = Timestamp()
    legal_hold = fields.Boolean(
        dump_only=True,
        metadata={
            "description": "On hold, the candidate is never erased (retention skips them, "
            "DELETE is a 409). Set through PATCH, by keys with candidates:erase"
        },
    )


class CandidateCreateSchema(CandidateSchema):
    """Body of POST /v1/candidates (and of each batch item). An ``external_id`` needs a
    ``source`` (the system it comes from): a 422 otherwise."""


class CandidatePatchSchema(CandidateSchema):
    """Body of PATCH: any subset of the writable fields; ``competencies`` replaces the list.

    Nothing is required and nothing defaults, so a field left out stays as it is. (Not
    ``partial=True``: that would also make the fields of each competency record optional.)
    """

    name = fields.String(validate=text(200, 1))
    competencies = fields.List(
        fields.Nested(CompetencyRecordSchema), validate=validate.Length(max=MAX_RECORDS)
    )
    legal_hold = JsonBoolean(
        metadata={"description": "Set or lift a legal hold; needs the scope candidates:erase"}
    )


class CompetenciesBodySchema(FastSchema):
    """Body of PUT /v1/candidates/{id}/competencies: the whole new list."""

    competencies = fields.List(
        fields.Nested(CompetencyRecordSchema),
        required=True,
        validate=validate.Length(max=MAX_RECORDS),
    )


class CandidateQueryArgsSchema(PageArgsSchema):
    updated_after = Instant(metadata={"description": "RFC 3339; only candidates changed after it"})
    external_id = fields.String(validate=text(255, 1))
    source = fields.String(validate=text(64, 1))
    q = fields.String(
        validate=text(200, 1),
        metadata={"description": "Case-insensitive substring of name or headline"},
    )


class CandidatePageSchema(PageSchema):
    data = fields.List(fields.Nested(CandidateSchema), required=True)


class BatchBodySchema(Schema):
    """Body of POST /v1/candidates/batch. Items are checked one by one, not here."""

    candidates = fields.List(
        # Deliberately any JSON value: an item that is not a valid CandidateCreate (not even
        # an object) is that item's own 422 result, never a rejection of the whole batch.
        fields.Raw(
            allow_none=True,
            metadata={
                "description": "A CandidateCreate, as for POST /v1/candidates; "
                "anything else gets a 422 result for this item"
            },
        ),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH),
        metadata={"description": f"1..{MAX_BATCH} candidates, each as for POST /v1/candidates"},
    )


class BatchResultSchema(Schema):
    index = fields.Integer(required=True)
    status = fields.Integer(required=True, metadata={"description": "201, 409 or 422"})
    id = fields.UUID(metadata={"description": "The new candidate's id (status 201)"})
    problem = fields.Nested(
        ProblemSchema,
        metadata={"description": "Why this item was not created (status 409 or 422)"},
    )


class BatchResponseSchema(Schema):
    results = fields.List(fields.Nested(BatchResultSchema), required=True)
