"""The JSON Resume mapping as a pure function (service.domain.resume_import): no app, no DB."""

from __future__ import annotations

import hashlib
from datetime import date
from importlib import resources

import pytest

from service.api.candidates import schemas as candidate_schemas
from service.api.schemas import PLAIN_TEXT_PATTERN
from service.domain import resume_import as ri
from service.domain.errors import Invalid
from service.domain.scoring import Month
from service.domain.taxonomy import Taxonomy
from service.domain.text import normalize_name

TODAY = date(2026, 6, 15)


def taxonomy(entries: dict[str, list[str]]) -> Taxonomy:
    by_name: dict[str, tuple[int, str]] = {}
    key_by_id: dict[int, str] = {}
    for cid, (key, aliases) in enumerate(entries.items()):
        key_by_id[cid] = key
        by_name[normalize_name(key)] = (cid, key)
        for alias in aliases:
            by_name[normalize_name(alias)] = (cid, key)
    return Taxonomy(by_name, key_by_id)


TAXONOMY = taxonomy(
    {
        "program-oversight": ["program management", "portfolio management"],
        "strategic-alignment": ["strategic planning", "okrs"],
        "business-acumen": ["p&l", "budgeting"],
    }
)


def read(document: dict) -> ri.ResumeMapping:
    return ri.read_resume(document, TAXONOMY, TODAY)


def test_the_vendored_schema_is_the_published_one() -> None:
    raw = resources.files("service.data").joinpath("jsonresume", ri.SCHEMA_FILE).read_bytes()
    assert (
        hashlib.sha256(raw).hexdigest()
        == "ff6e39e79cfe6dedddf7c1e313ddb4da346bde8b055a884d7f6d849965dc27a6"
    )
    assert ri.published_schema()["additionalProperties"] is False  # what rolefit relaxes
    assert ri.import_schema()["additionalProperties"] is True


def test_the_text_rules_are_the_apis() -> None:
    assert ri.PLAIN_TEXT_PATTERN == PLAIN_TEXT_PATTERN
    assert ri.EMAIL_PATTERN == candidate_schemas.EMAIL_PATTERN
    phone = candidate_schemas.CandidateSchema().fields["phone"].validators[1]
    assert phone.regex.pattern == ri.PHONE_PATTERN


@pytest.mark.parametrize(
    ("value", "level", "rule"),
    [
        ("Beginner", 1, "word"),
        ("novice", 1, "word"),
        ("  INTERMEDIATE ", 3, "word"),
        ("Advanced", 4, "word"),
        ("Expert", 5, "word"),
        ("Master", 5, "word"),
        ("none", 0, "word"),
        ("0", 0, "number"),
        ("4", 4, "number"),
        ("6", 3, "unrecognized"),
        ("Guru", 3, "unrecognized"),
        ("", 3, "absent"),
        (None, 3, "absent"),
    ],
)
def test_the_level_table(value: str | None, level: int, rule: str) -> None:
    reading = ri.read_level(value, "skills[0].level")
    assert (reading.level, reading.rule) == (level, rule)
    assert reading.path == (None if rule == "absent" else "skills[0].level")


def test_names_and_keywords_resolve_case_and_spacing_insensitively_one_record_each() -> None:
    mapping = read(
        {
            "basics": {"name": "Ada", "label": "TMP"},
            "skills": [
                {"name": "Program  MANAGEMENT", "level": "beginner", "keywords": ["OKRs"]},
                {"name": "Portfolio management", "level": "expert", "keywords": ["Cobol"]},
            ],
        }
    )
    assert [r.competency for r in mapping.records] == ["program-oversight", "strategic-alignment"]
    oversight = mapping.records[0]
    assert oversight.level == ri.LevelReading(5, "word", "skills[1].level", "expert")
    assert [e.path for e in oversight.skills] == ["skills[0].name", "skills[1].name"]
    assert oversight.skills[0] == ri.Evidence(
        "skills[0].name", "Program  MANAGEMENT", "program management"
    )
    assert mapping.records[1].skills == [ri.Evidence("skills[0].keywords[0]", "OKRs", "okrs")]
    assert [(u.path, u.text) for u in mapping.unmapped] == [("skills[1].keywords[0]", "Cobol")]
    assert mapping.profile.headline == "TMP"
    record = oversight.as_record()
    assert record["evidence"] == "self" and record["last_used"] is None
    assert record["note"] == (
        "JSON Resume: skills[0].name 'Program  MANAGEMENT', skills[1].name 'Portfolio management'"
    )


def test_last_used_and_years_come_from_the_work_entries_that_mention_the_skill() -> None:
    mapping = read(
        {
            "basics": {"name": "Ada"},
            "skills": [{"name": "program management"}, {"name": "budgeting"}],
            "work": [
                {"startDate": "2015-01", "endDate": "2016-12", "summary": "Program management."},
                # overlaps the first by a year: counted once
                {"startDate": "2016-01", "endDate": "2017-12", "highlights": ["x", "P&L owner"]},
                {"startDate": "2020-01", "position": "Head of Program  Management"},
                {"endDate": "2025-03", "highlights": ["budgeting for 3 teams"]},
                {"summary": "program managements"},  # not the whole word
            ],
        }
    )
    oversight, acumen = mapping.records
    assert [e.path for e in oversight.work] == ["work[0].summary", "work[2].position"]
    assert oversight.work[1].text == "Program  Management"
    assert oversight.last_used == Month(2026, 6)  # no end date: the current month
    assert oversight.years == round((24 + 78) / 12, 1)
    assert [e.path for e in acumen.work] == ["work[1].highlights[1]", "work[3].highlights[0]"]
    assert acumen.last_used == Month(2025, 3)
    assert acumen.years == 2.0  # the entry without a start adds no months
    # 2015-01 .. 2017-12 and 2020-01 .. 2026-06
    assert mapping.profile.years_experience == round((36 + 78) / 12, 1)


def test_future_ends_are_the_current_month_and_years_are_bounded() -> None:
    mapping = read(
        {
            "basics": {"name": "Ada"},
            "skills": [{"name": "okrs"}],
            "work": [{"startDate": "1900", "endDate": "2999-12", "summary": "OKRs"}],
        }
    )
    (record,) = mapping.records
    assert record.last_used == Month(2026, 6)
    assert record.years == ri.MAX_YEARS


def test_suggestions_name_the_closest_terms_one_per_competency() -> None:
    mapping = read({"basics": {"name": "Ada"}, "skills": [{"name": "programme managment"}]})
    (unmapped,) = mapping.unmapped
    assert unmapped.suggestions[0] == ri.Suggestion("program-oversight", "program management")
    assert len({s.competency for s in unmapped.suggestions}) == len(unmapped.suggestions)
    assert len(unmapped.suggestions) <= ri.MAX_SUGGESTIONS


def test_more_records_than_a_candidate_holds_is_invalid() -> None:
    many = taxonomy({f"c-{i:03d}": [] for i in range(201)})
    document = {"basics": {"name": "Ada"}, "skills": [{"name": f"c-{i:03d}"} for i in range(201)]}
    with pytest.raises(Invalid) as raised:
        ri.read_resume(document, many, TODAY)
    assert "skills" in raised.value.errors


def test_validation_names_paths_as_the_document_writes_them() -> None:
    errors = ri.validation_errors(
        {
            "basics": {"name": "Ada", "email": "ada@example"},
            "work": [{}, {"highlights": ["ok", 3]}],
            "skills": [{"name": "x\x07"}],
        }
    )
    assert set(errors) == {"basics.email", "work[1].highlights[1]", "skills[0].name"}
    assert errors["skills[0].name"] == [
        "must not contain control characters (tab and line breaks aside)"
    ]
    assert ri.validation_errors({"basics": {"name": "a" * 5000}})["basics.name"][0].endswith("…")
    assert list(ri.validation_errors(5)) == ["_schema"]
    assert ri.path_of(["work", 1, "highlights", 3]) == "work[1].highlights[3]"


def test_errors_are_bounded() -> None:
    errors = ri.validation_errors({"basics": {"name": "Ada"}, "skills": [{"name": 1}] * 200})
    assert len(errors) == ri.MAX_ERROR_PATHS


def test_a_long_note_is_cut() -> None:
    record = ri.MappedRecord(
        "x",
        ri.LevelReading(3, "absent"),
        [ri.Evidence(f"skills[{i}].name", "y" * 50, "y") for i in range(40)],
    )
    assert len(record.note) == ri.MAX_NOTE_LENGTH and record.note.endswith("…")
