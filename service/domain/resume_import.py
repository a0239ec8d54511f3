"""A JSON Resume document read as competency records, with the reason for every record (pure).

No database and no Flask: plain data in (the parsed document, a :class:`Taxonomy`, today's
date), plain dataclasses out. :mod:`service.domain.candidate_import` stores the result through
the candidates' own use cases; the API and the CLI both come through there.

**Validation.** A document is checked against the published JSON Resume schema, version 1.0.0
(``service/data/jsonresume/``, vendored unchanged), with rolefit's rules on top
(:func:`import_schema`): unknown top-level sections are allowed (the issue asks for it, and
the format is meant to be extended; the published 1.0.0 schema alone refuses them),
``basics.name`` is required (a candidate needs a name), dates are real months from 1900 to 2999,
and every field that is read is bounded and plain text. Every breach is an :class:`Invalid`
whose ``errors`` are keyed by the document's own paths (``skills[2].keywords[0]``).

**Mapping.**

- every ``skills[i].name`` and ``skills[i].keywords[j]`` resolves through the taxonomy's keys
  and aliases (:meth:`Taxonomy.resolve`, the catalog's resolver: case and spacing ignored);
  one record per competency found, in order of first appearance;
- ``level`` comes from the ``skills[i].level`` of the entries naming the competency (the
  highest, when several do), by :data:`LEVEL_WORDS`: a word of the table, a digit ``0``..``5``
  as is, and :data:`DEFAULT_LEVEL` when absent or not in the table; evidence ``self``;
- ``last_used`` is the end month of the latest ``work[]`` entry whose ``position``, ``summary``
  or a ``highlights`` item mentions one of the competency's terms (its key, its aliases) as whole
  words, the current month for an entry without ``endDate``; ``years`` are the months those
  entries cover (overlaps counted once; entries without ``startDate`` add none) over 12;
- a name or keyword that resolves to nothing is *unmapped*, never an error: it is listed with
  the closest taxonomy terms.

Every record lists the paths it came from; each path's text contains the words shown.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import jsonschema_rs

from service.domain import scoring
from service.domain.candidates import MAX_RECORDS
from service.domain.errors import Invalid
from service.domain.taxonomy import Taxonomy
from service.domain.text import closest, normalize_name

SCHEMA_VERSION = "1.0.0"
SCHEMA_FILE = f"schema-{SCHEMA_VERSION}.json"

# Bounds of the sections that are read (the body itself is at most 1 MiB). Skill terms are
# bounded as a competency name is on POST /v1/candidates.
MAX_SKILLS = 200
MAX_KEYWORDS = 50
MAX_TERM_LENGTH = 200
MAX_LEVEL_LENGTH = 50
MAX_WORK = 100
MAX_HIGHLIGHTS = 50
MAX_POSITION_LENGTH = 200
MAX_SUMMARY_LENGTH = 5000
MAX_HIGHLIGHT_LENGTH = 2000
MAX_SUGGESTIONS = 3
MAX_NOTE_LENGTH = 1000
MAX_YEARS = 80.0
MAX_ERROR_PATHS = 50
MAX_MESSAGE_LENGTH = 300

DEFAULT_LEVEL = 3
LEVEL_WORDS: dict[str, int] = {
    "none": 0,
    "beginner": 1,
    "novice": 1,
    "basic": 1,
    "elementary": 1,
    "junior": 2,
    "familiar": 2,
    "working": 2,
    "intermediate": 3,
    "competent": 3,
    "proficient": 3,
    "practitioner": 3,
    "advanced": 4,
    "experienced": 4,
    "senior": 4,
    "expert": 5,
    "master": 5,
    "authority": 5,
}
"""``skills[].level`` words (case and spacing ignored) to levels 0..5; a digit 0..5 is taken as
is; absent, empty or any other word: :data:`DEFAULT_LEVEL`."""

# The text rules of the API's string fields (service.api.schemas.PLAIN_TEXT_PATTERN, and the
# candidate's email and phone, service.api.candidates.schemas), restated here because the
# domain cannot import the API; tests/unit/test_resume_mapping.py checks they are the same.
_CONTROL = r"\x00-\x08\x0B\x0C\x0E-\x1F"
PLAIN_TEXT_PATTERN = f"^[^{_CONTROL}]*$"
EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
PHONE_PATTERN = r"^\+?[0-9 ().\-]{3,50}$"
# YYYY, YYYY-MM or YYYY-MM-DD with a real month, years 1900..2999 (the months of scoring). The
# published pattern also takes month 00..19 and years 1000..2999; the day is read, then ignored.
DATE_PATTERN = r"^(19|2[0-9])[0-9]{2}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$"


# What a pattern means, said as a person would (the validator's message quotes the regex).
_PATTERN_MESSAGES = {
    PLAIN_TEXT_PATTERN: "must not contain control characters (tab and line breaks aside)",
    EMAIL_PATTERN: "an email address, e.g. ada@example.com",
    PHONE_PATTERN: "3 to 50 of: digits, spaces, + ( ) . -",
    DATE_PATTERN: "a date as YYYY, YYYY-MM or YYYY-MM-DD (a real month, years 1900..2999)",
}


def _text(
    max_length: int, min_length: int = 0, pattern: str = PLAIN_TEXT_PATTERN
) -> dict[str, Any]:
    rule: dict[str, Any] = {"maxLength": max_length, "pattern": pattern}
    if min_length:
        rule["minLength"] = min_length
    return rule


@cache
def published_schema() -> dict[str, Any]:
    """The vendored JSON Resume 1.0.0 schema, as published."""
    raw = resources.files("service.data").joinpath("jsonresume", SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(raw)
    return schema


@cache
def import_schema() -> dict[str, Any]:
    """The published schema with rolefit's rules on top (see the module docstring); the API
    documents this one, so the document states exactly what is checked. Do not mutate."""
    schema = copy.deepcopy(published_schema())
    schema["additionalProperties"] = True
    schema["required"] = ["basics"]
    schema["definitions"]["iso8601"]["pattern"] = DATE_PATTERN
    schema["definitions"]["iso8601"]["description"] = (
        "YYYY, YYYY-MM or YYYY-MM-DD (e.g. 2014-06-29), years 1900..2999; the day is ignored"
    )
    props = schema["properties"]
    basics = props["basics"]
    basics["required"] = ["name"]
    basics["description"] = "`name` and `label` become the candidate's name and headline"
    basics["properties"]["name"].update(_text(200, 1))
    basics["properties"]["label"].update(_text(300))
    email = basics["properties"]["email"]
    email.pop("format", None)  # stated as the pattern the candidate's email obeys
    email.update(_text(320, pattern=EMAIL_PATTERN))
    basics["properties"]["phone"].update(_text(50, 3, PHONE_PATTERN))
    skills = props["skills"]
    skills["maxItems"] = MAX_SKILLS
    skill = skills["items"]["properties"]
    skill["name"].update(_text(MAX_TERM_LENGTH))
    skill["level"].update(_text(MAX_LEVEL_LENGTH))
    skill["keywords"]["maxItems"] = MAX_KEYWORDS
    skill["keywords"]["items"].update(_text(MAX_TERM_LENGTH))
    work = props["work"]
    work["maxItems"] = MAX_WORK
    job = work["items"]["properties"]
    job["position"].update(_text(MAX_POSITION_LENGTH))
    job["summary"].update(_text(MAX_SUMMARY_LENGTH))
    job["highlights"]["maxItems"] = MAX_HIGHLIGHTS
    job["highlights"]["items"].update(_text(MAX_HIGHLIGHT_LENGTH))
    return schema


@cache
def _validator() -> jsonschema_rs.Validator:
    # Formats (uri, email) are annotations here, as draft 4 allows: a résumé is not refused
    # for a profile URL without a scheme; the email's rule is its pattern.
    return jsonschema_rs.Draft4Validator(import_schema(), validate_formats=False)


def path_of(parts: Any) -> str:
    """A location in the document as JSON Resume users write it: ``work[1].highlights[3]``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "_schema"


def _bad_text(document: Any) -> Iterator[tuple[str, str]]:
    """(path, message) for strings and member names that are not Unicode text (lone surrogates
    from ``\\ud800``): nothing could check, store or show them. Other member names are
    anything JSON allows: an unknown section is ignored whatever its name."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(document, ())]
    while stack:
        value, parts = stack.pop()
        if isinstance(value, str):
            if not _encodes(value):
                yield path_of(parts), "must be valid Unicode text (no lone surrogates)"
        elif isinstance(value, dict):
            for key, child in value.items():
                if not _encodes(key):
                    name = key.encode("utf-8", "backslashreplace").decode("ascii", "replace")
                    yield path_of(parts), f"member name {name!r} must be valid Unicode text"
                else:
                    stack.append((child, (*parts, key)))
        elif isinstance(value, list):
            stack.extend((child, (*parts, i)) for i, child in enumerate(value))


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validation_errors(document: Any) -> dict[str, list[str]]:
    """What makes ``document`` not a JSON Resume that rolefit can read, by path (empty: none).

    At most :data:`MAX_ERROR_PATHS` paths, each message at most :data:`MAX_MESSAGE_LENGTH`
    characters (a message may quote the offending value).
    """
    errors: dict[str, list[str]] = {}
    for path, problem in _bad_text(document):
        errors.setdefault(path, []).append(problem)
        if len(errors) >= MAX_ERROR_PATHS:
            return errors
    if errors:
        return errors
    for error in _validator().iter_errors(document):
        pattern = getattr(error.kind, "pattern", None)
        message = _PATTERN_MESSAGES.get(pattern or "", error.message)
        if len(message) > MAX_MESSAGE_LENGTH:
            message = message[: MAX_MESSAGE_LENGTH - 1] + "…"
        path = path_of(error.instance_path)
        if path not in errors and len(errors) >= MAX_ERROR_PATHS:
            break
        errors.setdefault(path, []).append(message)
    return errors


def check_document(document: Any) -> None:
    """Raise a 422 :class:`Invalid` listing every path that breaks the schema."""
    errors = validation_errors(document)
    if errors:
        raise Invalid(
            f"the document is not a JSON Resume {SCHEMA_VERSION} that rolefit can read; see errors",
            errors,
        )


# --------------------------------------------------------------------------- the mapping


@dataclass(frozen=True)
class Evidence:
    """Words of the résumé behind a record: where (``path``), what they say there (``text``,
    a substring of that field, as written), and the taxonomy term they matched (``term``)."""

    path: str
    text: str
    term: str


@dataclass(frozen=True)
class LevelReading:
    """How a level was read: ``rule`` is ``word``, ``number``, ``absent`` or ``unrecognized``."""

    level: int
    rule: str
    path: str | None = None
    text: str | None = None


@dataclass
class MappedRecord:
    """One competency record, and every reason for it."""

    competency: str
    level: LevelReading
    skills: list[Evidence] = field(default_factory=list)
    work: list[Evidence] = field(default_factory=list)
    years: float | None = None
    last_used: scoring.Month | None = None
    evidence: str = scoring.DEFAULT_EVIDENCE

    @property
    def note(self) -> str:
        """The stored record's note: where it came from, so the candidate keeps the reason."""
        parts = [f"{e.path} {e.text!r}" for e in self.skills]
        note = "JSON Resume: " + ", ".join(parts)
        if self.work:
            note += "; dated by " + ", ".join(sorted({e.path.split(".")[0] for e in self.work}))
        if len(note) > MAX_NOTE_LENGTH:
            note = note[: MAX_NOTE_LENGTH - 1] + "…"
        return note

    def as_record(self) -> dict[str, Any]:
        """The record as :func:`service.domain.candidates.create_candidate` takes one."""
        return {
            "competency": self.competency,
            "level": self.level.level,
            "years": self.years,
            "last_used": self.last_used,
            "evidence": self.evidence,
            "note": self.note,
        }


@dataclass(frozen=True)
class Suggestion:
    competency: str
    term: str


@dataclass(frozen=True)
class Unmapped:
    """A skill name or keyword that names no competency, and the closest terms that do."""

    path: str
    text: str
    suggestions: tuple[Suggestion, ...]


@dataclass(frozen=True)
class Profile:
    """What ``basics`` and ``work`` give the candidate's profile (contact fields as written)."""

    name: str
    headline: str | None
    email: str | None
    phone: str | None
    years_experience: float | None


@dataclass
class ResumeMapping:
    profile: Profile
    records: list[MappedRecord]
    unmapped: list[Unmapped]

    def candidate_data(self, *, with_contact: bool) -> dict[str, Any]:
        """Profile fields and records, as the candidates' use cases take them; ``email`` and
        ``phone`` only ``with_contact`` (the key may write contact data)."""
        data: dict[str, Any] = {
            "name": self.profile.name,
            "headline": self.profile.headline,
            "years_experience": self.profile.years_experience,
            "competencies": [r.as_record() for r in self.records],
        }
        if with_contact:
            data["email"] = self.profile.email
            data["phone"] = self.profile.phone
        return data


def read_level(value: Any, path: str) -> LevelReading:
    """A ``skills[].level`` by :data:`LEVEL_WORDS` (see there)."""
    if not isinstance(value, str) or not value.split():
        return LevelReading(DEFAULT_LEVEL, "absent")
    word = normalize_name(value)
    if word in LEVEL_WORDS:
        return LevelReading(LEVEL_WORDS[word], "word", path, value)
    if len(word) == 1 and word in "012345":
        return LevelReading(int(word), "number", path, value)
    return LevelReading(DEFAULT_LEVEL, "unrecognized", path, value)


def _month(value: Any, *, end: bool) -> scoring.Month | None:
    """The month of a JSON Resume date; a bare year is its January (start) or December (end)."""
    if not isinstance(value, str) or not re.fullmatch(DATE_PATTERN, value):
        return None
    year = int(value[:4])
    month = int(value[5:7]) if len(value) >= 7 else (12 if end else 1)
    return scoring.Month(year, month)


@dataclass(frozen=True)
class _Job:
    index: int
    start: scoring.Month | None
    end: scoring.Month  # clamped to the current month
    texts: tuple[tuple[str, str], ...]  # (path, text) of position, summary, highlights


def _jobs(document: dict[str, Any], today: scoring.Month) -> list[_Job]:
    jobs = []
    for index, entry in enumerate(document.get("work") or []):
        if not isinstance(entry, dict):
            continue
        start = _month(entry.get("startDate"), end=False)
        end = _month(entry.get("endDate"), end=True) or today
        end = min(end, today)
        texts: list[tuple[str, str]] = []
        for name in ("position", "summary"):
            if isinstance(entry.get(name), str):
                texts.append((f"work[{index}].{name}", entry[name]))
        for h, text in enumerate(entry.get("highlights") or []):
            if isinstance(text, str):
                texts.append((f"work[{index}].highlights[{h}]", text))
        jobs.append(_Job(index, start, end, tuple(texts)))
    return jobs


def _months_covered(jobs: list[_Job]) -> int:
    """Months covered by at least one job that has a start (an end before the start: none)."""
    spans = sorted((j.start.index, j.end.index) for j in jobs if j.start and j.start <= j.end)
    total, reach = 0, -1
    for low, high in spans:
        low = max(low, reach + 1)
        if high >= low:
            total += high - low + 1
            reach = high
    return total


def _years(months: int) -> float | None:
    return min(round(months / 12, 1), MAX_YEARS) if months else None


def _words(term: str) -> str:
    """A taxonomy term as a regular expression of free text: its words, any spacing between."""
    return r"\s+".join(re.escape(word) for word in term.split())


def _terms_by_competency(taxonomy: Taxonomy) -> dict[int, list[str]]:
    """Every term of each competency: its key (also spelt with spaces) and its aliases."""
    terms: dict[int, set[str]] = {}
    for term, (competency_id, key) in taxonomy.by_name.items():
        terms.setdefault(competency_id, set()).add(term)
        terms[competency_id].add(normalize_name(key.replace("-", " ")))
    return {cid: sorted(found) for cid, found in terms.items()}


def suggestions_for(taxonomy: Taxonomy, text: str) -> tuple[Suggestion, ...]:
    """The closest taxonomy terms (keys, aliases) to ``text``, one per competency, best first
    (difflib's ratio; ties by term), at most :data:`MAX_SUGGESTIONS`."""
    shown: list[Suggestion] = []
    seen: set[int] = set()
    for near in closest(text, taxonomy.by_name, n=MAX_SUGGESTIONS * 3):
        competency_id, key = taxonomy.by_name[near]
        if competency_id not in seen:
            seen.add(competency_id)
            shown.append(Suggestion(key, near))
        if len(shown) == MAX_SUGGESTIONS:
            break
    return tuple(shown)


def map_resume(document: dict[str, Any], taxonomy: Taxonomy, today: date) -> ResumeMapping:
    """Read a document that :func:`check_document` accepted (see the module docstring).

    Raises :class:`Invalid` when it maps to more than :data:`MAX_RECORDS` competencies.
    """
    records: dict[int, MappedRecord] = {}
    unmapped: list[Unmapped] = []
    for i, skill in enumerate(document.get("skills") or []):
        if not isinstance(skill, dict):
            continue
        level = read_level(skill.get("level"), f"skills[{i}].level")
        terms = [(f"skills[{i}].name", skill.get("name"))]
        terms += [
            (f"skills[{i}].keywords[{j}]", k) for j, k in enumerate(skill.get("keywords") or [])
        ]
        for path, text in terms:
            if not isinstance(text, str) or not text.split():
                continue
            hit = taxonomy.resolve(text)
            if hit is None:
                unmapped.append(Unmapped(path, text, suggestions_for(taxonomy, text)))
                continue
            competency_id, key = hit
            record = records.get(competency_id)
            if record is None:
                record = records[competency_id] = MappedRecord(key, level)
            elif level.level > record.level.level:
                record.level = level
            record.skills.append(Evidence(path, text, normalize_name(text)))
    if len(records) > MAX_RECORDS:
        raise Invalid(
            f"the résumé names {len(records)} competencies; a candidate has at most {MAX_RECORDS}",
            {"skills": [f"maps to {len(records)} competencies, at most {MAX_RECORDS}"]},
        )
    this_month = scoring.Month.from_date(today)
    jobs = _jobs(document, this_month)
    _date_records(records, jobs, _terms_by_competency(taxonomy))
    basics = document.get("basics") or {}
    profile = Profile(
        name=basics["name"],
        headline=basics.get("label"),
        email=basics.get("email"),
        phone=basics.get("phone"),
        years_experience=_years(_months_covered(jobs)),
    )
    return ResumeMapping(profile, list(records.values()), unmapped)


def _date_records(
    records: dict[int, MappedRecord], jobs: list[_Job], terms: dict[int, list[str]]
) -> None:
    """``last_used`` and ``years`` of each record, from the jobs that mention its competency.

    One pattern for every term of every recorded competency, longest first (at a position the
    most specific term wins), and one scan per text: the whole document's text (at most 1 MiB)
    is read once, not once per competency.
    """
    owner = {term: cid for cid in records for term in terms.get(cid, [])}
    if not owner or not jobs:
        return
    ordered = sorted(owner, key=lambda t: (-len(t), t))
    pattern = re.compile(
        r"(?<!\w)(?:" + "|".join(_words(t) for t in ordered) + r")(?!\w)", re.IGNORECASE
    )
    mentioning: dict[int, list[_Job]] = {cid: [] for cid in records}
    for job in jobs:
        for path, text in job.texts:
            shown: set[int] = set()
            for match in pattern.finditer(text):
                term = _term_of(match.group(0), owner, ordered)
                cid = owner[term]
                if cid in shown:
                    continue
                shown.add(cid)
                records[cid].work.append(Evidence(path, match.group(0), term))
                if not mentioning[cid] or mentioning[cid][-1] is not job:
                    mentioning[cid].append(job)
    for cid, found in mentioning.items():
        if found:
            records[cid].last_used = max(job.end for job in found)
            records[cid].years = _years(_months_covered(found))


def _term_of(matched: str, owner: dict[str, int], ordered: list[str]) -> str:
    """Which term some matched words are (case folding can differ from IGNORECASE)."""
    normalized = normalize_name(matched)
    if normalized in owner:
        return normalized
    return next(t for t in ordered if re.fullmatch(_words(t), matched, re.IGNORECASE) is not None)


def read_resume(document: Any, taxonomy: Taxonomy, today: date) -> ResumeMapping:
    """Check a parsed document (:func:`check_document`) and map it (:func:`map_resume`)."""
    check_document(document)
    return map_resume(document, taxonomy, today)
