"""Schemas of POST /v1/candidates/import: the JSON Resume body, the query, the answer.

The body is checked by :func:`service.domain.resume_import.check_document` against the
vendored JSON Resume 1.0.0 schema with rolefit's rules on top; :func:`resume_body_schema`
documents that same schema in OpenAPI 3.0 form, so the document states exactly what is checked.
"""

from __future__ import annotations

import copy
from typing import Any

from marshmallow import Schema, fields, validate

from service.api.candidates.schemas import MONTH_PATTERN, CandidateSchema
from service.api.schemas import text
from service.domain import resume_import
from service.domain.candidate_import import DEFAULT_SOURCE, OUTCOMES

_SCHEMA_KEYWORDS_DROPPED = {
    "$schema",  # the JSON Schema draft marker (OpenAPI 3.0 has its own dialect)
    "definitions",  # inlined where referred to
    "additionalItems",  # meaningless without tuple items, and not OpenAPI 3.0
    "format",  # annotations only here: not checked (the email's rule is its pattern)
}


def resume_body_schema() -> dict[str, Any]:
    """The request body's schema, in OpenAPI 3.0 form: the checked JSON Schema, with its
    ``$ref`` inlined and the keywords OpenAPI 3.0 lacks (or that are not checked) left out."""
    schema = resume_import.import_schema()
    definitions = schema["definitions"]

    def convert(node: Any, in_properties: bool = False) -> Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        if in_properties:  # keys are property names (one of them is "$schema")
            return {name: convert(child) for name, child in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            return convert(copy.deepcopy(definitions[ref.rsplit("/", 1)[-1]]))
        return {
            key: convert(child, in_properties=key == "properties")
            for key, child in node.items()
            if key not in _SCHEMA_KEYWORDS_DROPPED
        }

    converted: dict[str, Any] = convert(schema)
    converted["description"] = (
        f"A JSON Resume document (schema {resume_import.SCHEMA_VERSION}, "
        "https://jsonresume.org/schema), checked against the published schema with these "
        "rules on top: top-level sections the schema does not define are allowed and ignored; "
        "`basics.name` is required; dates are YYYY, YYYY-MM or YYYY-MM-DD with a real month, "
        "years 1900..2999; the fields read are bounded (below) and plain text (no control "
        "characters but tab and line breaks); `basics.email` and `basics.phone` follow the "
        "candidate's rules; every string and member name is valid Unicode (no lone "
        "surrogates). URL and email "
        "formats are not otherwise checked. A breach is a 422 whose `errors` are keyed by the "
        "document's paths, e.g. `work[1].startDate`."
    )
    return converted


class ImportArgsSchema(Schema):
    """Query of POST /v1/candidates/import."""

    source = fields.String(
        load_default=DEFAULT_SOURCE,
        validate=text(64, 1),
        metadata={
            "description": "The system the résumé comes from; with `external_id`, the pair "
            "that identifies the candidate to replace",
            "default": DEFAULT_SOURCE,
        },
    )
    external_id = fields.String(
        validate=text(255, 1),
        metadata={
            "description": "The résumé's id in `source`: a candidate with the same "
            "(source, external_id) has its profile and records replaced; without it, every "
            "import creates a new candidate"
        },
    )
    dry_run = fields.Boolean(
        load_default=False,
        metadata={"description": "`true`: answer the mapping, store nothing"},
    )


class EvidenceSchema(Schema):
    path = fields.String(
        required=True,
        metadata={
            "description": "Where in the résumé",
            "example": "skills[2].keywords[0]",
        },
    )
    text = fields.String(
        required=True,
        metadata={"description": "The words there that matched, as written (a substring)"},
    )
    term = fields.String(
        required=True,
        metadata={"description": "The taxonomy term (key or alias, normalised) they match"},
    )


class LevelReadingSchema(Schema):
    level = fields.Integer(required=True, validate=validate.Range(min=0, max=5))
    rule = fields.String(
        required=True,
        validate=validate.OneOf(["word", "number", "absent", "unrecognized"]),
        metadata={
            "description": "`word`: a word of the level table; `number`: a digit 0..5; "
            f"`absent` or `unrecognized`: the default, {resume_import.DEFAULT_LEVEL}"
        },
    )
    path = fields.String(
        required=True, allow_none=True, metadata={"description": "The `skills[i].level` read"}
    )
    text = fields.String(required=True, allow_none=True)


class MappedRecordSchema(Schema):
    """One competency record, and why it exists."""

    competency = fields.String(required=True, metadata={"example": "strategic-alignment"})
    level = fields.Integer(required=True, validate=validate.Range(min=0, max=5))
    years = fields.Float(
        required=True,
        allow_none=True,
        validate=validate.Range(min=0, max=80),
        metadata={"description": "Months of the work entries that mention it, over 12"},
    )
    last_used = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "YYYY-MM: the end of the latest work entry that mentions it",
            "pattern": MONTH_PATTERN.pattern,
        },
    )
    evidence = fields.String(required=True, metadata={"example": "self"})
    level_from = fields.Nested(LevelReadingSchema, required=True)
    skills = fields.List(
        fields.Nested(EvidenceSchema),
        required=True,
        metadata={"description": "The skill names and keywords that name it"},
    )
    work = fields.List(
        fields.Nested(EvidenceSchema),
        required=True,
        metadata={"description": "The work positions, summaries and highlights that mention it"},
    )


class SuggestionSchema(Schema):
    competency = fields.String(required=True)
    term = fields.String(required=True, metadata={"description": "The key or alias that is close"})


class UnmappedSchema(Schema):
    """A skill name or keyword that names no competency: never an error."""

    path = fields.String(required=True, metadata={"example": "skills[0].keywords[1]"})
    text = fields.String(required=True)
    suggestions = fields.List(
        fields.Nested(SuggestionSchema),
        required=True,
        validate=validate.Length(max=resume_import.MAX_SUGGESTIONS),
        metadata={"description": "The closest taxonomy terms, best first (may be empty)"},
    )


class IgnoredSchema(Schema):
    path = fields.String(required=True, metadata={"example": "basics.email"})
    reason = fields.String(required=True)


class ImportProfileSchema(Schema):
    """What the résumé gives the profile. ``email`` and ``phone`` only for keys with
    candidates:pii."""

    name = fields.String(required=True)
    headline = fields.String(required=True, allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    years_experience = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "Months covered by the work entries with a start, over 12"},
    )


class ImportResultSchema(Schema):
    """The answer of an import: what was done, the candidate, and why each record exists."""

    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    candidate = fields.Nested(
        CandidateSchema,
        required=True,
        allow_none=True,
        metadata={"description": "The stored candidate; null on a dry run"},
    )
    replaces = fields.UUID(
        required=True,
        allow_none=True,
        metadata={
            "description": "The candidate whose profile and records were (on a dry run: would "
            "be) replaced; null when the candidate is (would be) new"
        },
    )
    profile = fields.Nested(ImportProfileSchema, required=True)
    mapping = fields.List(fields.Nested(MappedRecordSchema), required=True)
    unmapped = fields.List(fields.Nested(UnmappedSchema), required=True)
    ignored = fields.List(
        fields.Nested(IgnoredSchema),
        required=True,
        metadata={"description": "What was read and not stored (contact fields without pii)"},
    )
