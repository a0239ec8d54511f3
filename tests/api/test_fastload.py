"""The batch fast path accepts exactly what marshmallow accepts, with identical results."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from service.api.candidates.schemas import CandidateCreateSchema
from service.infra.fast_schema import FastSchema

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["2026-06", "2019-13", "2024-02-30", "x@example.com", "self", "interview"]),
)
records = st.fixed_dictionaries(
    {"competency": st.sampled_from(["technical-depth", "", "x" * 201]), "level": scalars},
    optional={
        "years": scalars,
        "last_used": scalars,
        "evidence": scalars,
        "note": scalars,
        "surprise": scalars,
    },
)
candidates = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(scalars, st.text(min_size=1, max_size=5)),
        "external_id": scalars,
        "source": scalars,
        "email": scalars,
        "phone": st.one_of(scalars, st.sampled_from(["+1 555 0100", "12"])),
        "headline": scalars,
        "years_experience": scalars,
        "competencies": st.one_of(scalars, st.lists(records, max_size=3)),
        "id": scalars,
    },
)


def outcome(load, data):
    try:
        return "ok", load(data)
    except ValidationError as error:
        return "error", error.messages


@settings(max_examples=300, deadline=None)
@given(candidates)
def test_fast_path_agrees_with_marshmallow(data) -> None:
    schema = CandidateCreateSchema()
    assert outcome(schema.load, data) == outcome(lambda d: Schema.load(schema, d), data)


def test_valid_candidate_takes_the_fast_path(monkeypatch) -> None:
    schema = CandidateCreateSchema()
    monkeypatch.setattr(Schema, "load", lambda *a, **k: pytest.fail("fell back to marshmallow"))
    loaded = schema.load(
        {
            "name": "Ada",
            "source": "ats",
            "external_id": "1",
            "email": "ada@example.com",
            "competencies": [{"competency": "technical-depth", "level": 4, "last_used": "2025-01"}],
        }
    )
    assert loaded["competencies"][0]["evidence"] == "self"
    assert str(loaded["competencies"][0]["last_used"]) == "2025-01"


def test_schemas_with_hooks_always_use_marshmallow() -> None:
    class Hooked(FastSchema):
        a = fields.String(validate=validate.Length(max=3))

        @validates_schema
        def check(self, data, **kwargs):
            raise ValidationError("no")

    with pytest.raises(ValidationError):
        Hooked().load({"a": "x"})
