"""The set-based SQL scoring (``service.domain.matching``) against the pure scoring model.

The pure function :func:`service.domain.scoring.score` is the definition; the SQL that writes the
``matches`` table must agree with it exactly, on SQLite and on PostgreSQL. The agreement test
builds random candidates (records of every level and evidence kind, last used unknown, recently,
around every recency step, very long ago and in the future) and random roles (with an older
version the SQL must ignore), rescores everything in SQL and compares every stored row with the
pure result.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import String, func, literal, select, update
from sqlalchemy.orm import Session

from service.domain import catalog, matching, scoring
from service.infra.orm import utcnow
from service.models import (
    Candidate,
    CandidateCompetency,
    Competency,
    Match,
    Responsibility,
    Role,
    RoleVersion,
)

AS_OF = scoring.Month(2026, 6)


# --------------------------------------------------------------------------- test data


@dataclass
class World:
    """What the test wrote, kept in the pure model's terms for the expected results."""

    competency_ids: dict[str, int]
    records: dict[uuid.UUID, list[scoring.Record]] = field(default_factory=dict)
    roles: dict[int, tuple[str, int, tuple[scoring.Responsibility, ...]]] = field(
        default_factory=dict
    )  # role id -> (key, current version, responsibilities)


def _taxonomy(session: Session, extra: int = 2) -> dict[str, int]:
    """The built-in competencies plus ``extra`` that no role lists."""
    for i in range(extra):
        session.add(Competency(key=f"extra-{i}", name=f"Extra {i}", category="other"))
    session.flush()
    return {key: id_ for key, id_ in session.execute(select(Competency.key, Competency.id))}


def add_candidate(
    session: Session, world: World, records: list[scoring.Record], name: str = "c"
) -> uuid.UUID:
    candidate = Candidate(name=name, records_digest=scoring.records_digest(records))
    candidate.competencies = [
        CandidateCompetency(
            competency_id=world.competency_ids[rec.competency],
            position=position,
            level=rec.level,
            evidence=rec.evidence,
            last_used_month=None if rec.last_used is None else rec.last_used.index,
        )
        for position, rec in enumerate(records)
    ]
    session.add(candidate)
    session.flush()
    world.records[candidate.id] = list(records)
    return candidate.id


def add_role(
    session: Session,
    world: World,
    key: str,
    versions: list[tuple[scoring.Responsibility, ...]],
) -> int:
    """A role whose current version is the last of ``versions``."""
    now = utcnow()
    role = Role(key=key, current_version=len(versions), created_at=now, updated_at=now)
    session.add(role)
    for number, resps in enumerate(versions, start=1):
        session.add(
            RoleVersion(
                role=role,
                version=number,
                title=f"{key} v{number}",
                responsibilities=[
                    Responsibility(
                        position=position,
                        competency_id=world.competency_ids[r.competency],
                        importance=r.importance,
                        level=r.level,
                        must_have=r.must_have,
                    )
                    for position, r in enumerate(resps)
                ],
            )
        )
    session.flush()
    world.roles[role.id] = (key, len(versions), versions[-1])
    return role.id


def load_builtin_roles(session: Session, world: World) -> None:
    profiles = catalog.current(session).roles
    for role in session.scalars(select(Role)):
        world.roles[role.id] = (
            role.key,
            role.current_version,
            profiles[role.key].responsibilities,
        )


def new_world(session: Session, extra_competencies: int = 2) -> World:
    world = World(competency_ids=_taxonomy(session, extra_competencies))
    load_builtin_roles(session, world)
    return world


def random_month(rnd: random.Random, as_of: scoring.Month) -> scoring.Month | None:
    kind = rnd.random()
    if kind < 0.15:
        return None
    if kind < 0.25:  # very old, or as old as Month allows
        return scoring.Month(rnd.choice([1900, 1950, 1999]), rnd.randint(1, 12))
    if kind < 0.35:  # in the future, near or far
        return scoring.Month.from_index(as_of.index + rnd.choice([1, 2, 13, 120, 5000]))
    # ages around every recency step (36, 48, 60, 72, 84, 96 months)
    age = rnd.choice([0, 1, 35, 36, 37, 47, 48, 49, 60, 61, 72, 73, 84, 85, 96, 97, 200])
    return scoring.Month.from_index(as_of.index - age + rnd.choice([0, 0, 0, -1, 1]))


def random_records(
    rnd: random.Random, competencies: list[str], as_of: scoring.Month
) -> list[scoring.Record]:
    chosen = rnd.sample(competencies, rnd.randint(0, min(10, len(competencies))))
    return [
        scoring.Record(
            key,
            rnd.randint(0, 5),
            rnd.choice(scoring.EVIDENCE_KINDS),
            random_month(rnd, as_of),
        )
        for key in chosen
    ]


def random_responsibilities(
    rnd: random.Random, competencies: list[str]
) -> tuple[scoring.Responsibility, ...]:
    keys = rnd.sample(competencies, rnd.randint(1, len(competencies)))
    return tuple(
        scoring.Responsibility(key, rnd.randint(1, 5), rnd.randint(1, 5), rnd.random() < 0.3)
        for key in keys
    )


def stored(session: Session) -> dict[tuple[int, uuid.UUID], Match]:
    session.expire_all()
    return {(m.role_id, m.candidate_id): m for m in session.scalars(select(Match))}


def expected_row(world: World, role_id: int, candidate_id: uuid.UUID, as_of: scoring.Month) -> Any:
    key, version, resps = world.roles[role_id]
    records = world.records[candidate_id]
    result = scoring.score(resps, records, as_of=as_of)
    return {
        "role_version": version,
        "model_version": scoring.MODEL_VERSION,
        "score_hundredths": result.score_hundredths,
        "must_haves_met": result.must_haves_met,
        "band": result.band,
        "rank_key": int(result.must_haves_met) * matching.RANK_KEY_MUST_HAVES
        + result.score_hundredths,
        "as_of_month": as_of.index,
        "inputs_hash": scoring.inputs_hash(key, version, scoring.records_digest(records), as_of),
    }


def actual_row(match: Match) -> dict[str, Any]:
    return {
        "role_version": match.role_version,
        "model_version": match.model_version,
        "score_hundredths": match.score_hundredths,
        "must_haves_met": match.must_haves_met,
        "band": match.band,
        "rank_key": match.rank_key,
        "as_of_month": match.as_of_month,
        "inputs_hash": match.inputs_hash,
    }


def assert_agrees(
    session: Session,
    world: World,
    as_of: scoring.Month,
    candidate_ids: list[uuid.UUID] | None = None,
) -> None:
    rows = stored(session)
    ids = list(world.records) if candidate_ids is None else candidate_ids
    for role_id in world.roles:
        for candidate_id in ids:
            match = rows.get((role_id, candidate_id))
            assert match is not None, (role_id, candidate_id)
            expected = expected_row(world, role_id, candidate_id, as_of)
            assert actual_row(match) == expected, (
                world.roles[role_id],
                world.records[candidate_id],
            )


# --------------------------------------------------------------------------- agreement


@pytest.mark.parametrize(
    ("seed", "as_of"), [(1, AS_OF), (2, scoring.Month(2031, 1)), (3, scoring.Month(1999, 12))]
)
def test_sql_scores_agree_exactly_with_the_pure_function(
    session: Session, seed: int, as_of: scoring.Month
) -> None:
    rnd = random.Random(seed)
    world = new_world(session)
    keys = sorted(world.competency_ids)
    role_keys = [k for k in keys if not k.startswith("extra-")]
    for i in range(3):
        # An older version with other responsibilities: only the current one may count.
        versions = [random_responsibilities(rnd, role_keys) for _ in range(rnd.randint(1, 3))]
        add_role(session, world, f"random-{seed}-{i}", versions)
    for i in range(300):
        add_candidate(session, world, random_records(rnd, keys, as_of), name=f"c{i}")
    add_candidate(session, world, [], name="no records")

    written = matching.rescore_all(session, as_of=as_of).written

    assert written == len(world.roles) * len(world.records)
    assert session.scalar(select(func.count()).select_from(Match)) == written
    assert_agrees(session, world, as_of)
    # The three entry points write the same rows.
    before = {k: actual_row(m) for k, m in stored(session).items()}
    for role_id in world.roles:
        assert matching.rescore_role(session, role_id, as_of=as_of).written == len(world.records)
    assert {k: actual_row(m) for k, m in stored(session).items()} == before
    matching.rescore_candidates(session, list(world.records), as_of=as_of)
    assert {k: actual_row(m) for k, m in stored(session).items()} == before


def test_records_and_responsibilities_round_trip(session: Session) -> None:
    rnd = random.Random(7)
    world = new_world(session)
    keys = sorted(world.competency_ids)
    resps = random_responsibilities(rnd, keys)
    add_role(session, world, "round-trip", [resps])
    assert catalog.current(session).roles["round-trip"].responsibilities == resps
    for _ in range(20):
        records = random_records(rnd, keys, AS_OF)
        candidate_id = add_candidate(session, world, records)
        inputs = matching.candidate_inputs(session.connection(), candidate_id)
        assert inputs is not None
        assert inputs[1] == records
        assert inputs[0] == scoring.records_digest(records)
    assert matching.candidate_inputs(session.connection(), uuid.uuid4()) is None


# --------------------------------------------------------------------------- behaviour


def test_rescore_candidates_touches_only_the_given_candidates(session: Session) -> None:
    world = new_world(session)
    strong = [scoring.Record(k, 5, "assessment") for k in world.competency_ids]
    ids = [add_candidate(session, world, [], name=f"c{i}") for i in range(4)]
    earlier = scoring.Month(2026, 1)
    matching.rescore_all(session, as_of=earlier)
    before = stored(session)
    before_rows = {k: (actual_row(m), m.computed_at) for k, m in before.items()}

    # Two candidates gain records, only the first two are rescored.
    for candidate_id in ids[:3]:
        candidate = session.get(Candidate, candidate_id)
        assert candidate is not None
        for position, rec in enumerate(strong):
            session.add(
                CandidateCompetency(
                    candidate_id=candidate_id,
                    competency_id=world.competency_ids[rec.competency],
                    position=position,
                    level=rec.level,
                    evidence=rec.evidence,
                )
            )
        candidate.records_digest = scoring.records_digest(strong)
        world.records[candidate_id] = strong
    matching.rescore_candidates(session, [ids[0], ids[1], ids[0]], as_of=AS_OF)

    after = stored(session)
    assert after.keys() == before.keys()
    assert_agrees(session, world, AS_OF, ids[:2])
    for (role_id, candidate_id), match in after.items():
        if candidate_id in ids[:2]:
            assert match.score_hundredths == 10000
            assert match.band == "strong"
            assert match.computed_at > before_rows[(role_id, candidate_id)][1]
        else:  # untouched, even the candidate whose records changed
            assert (actual_row(match), match.computed_at) == before_rows[(role_id, candidate_id)]
            assert match.as_of_month == earlier.index


def test_rescore_candidates_works_in_chunks(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matching, "CHUNK_SIZE", 3)
    rnd = random.Random(11)
    world = new_world(session)
    keys = sorted(world.competency_ids)
    ids = [add_candidate(session, world, random_records(rnd, keys, AS_OF)) for _ in range(10)]
    matching.rescore_candidates(session, ids, as_of=AS_OF)
    assert session.scalar(select(func.count()).select_from(Match)) == 10 * len(world.roles)
    assert_agrees(session, world, AS_OF)
    matching.rescore_candidates(session, [], as_of=AS_OF)  # nothing to do
    assert session.scalar(select(func.count()).select_from(Match)) == 10 * len(world.roles)


def test_rescore_role_after_a_new_version_records_it(session: Session) -> None:
    rnd = random.Random(5)
    world = new_world(session)
    keys = sorted(k for k in world.competency_ids if not k.startswith("extra-"))
    for _ in range(30):
        add_candidate(session, world, random_records(rnd, keys, AS_OF))
    matching.rescore_all(session, as_of=AS_OF)
    tpm = session.scalars(select(Role).where(Role.key == "tpm")).one()
    tmp_id = session.scalars(select(Role.id).where(Role.key == "tmp")).one()
    other_before = {k: actual_row(m) for k, m in stored(session).items() if k[0] == tmp_id}

    new_resps = (
        scoring.Responsibility("technical-depth", 5, 2, must_have=True),
        scoring.Responsibility("business-acumen", 1, 5),
    )
    session.add(
        RoleVersion(
            role_id=tpm.id,
            version=tpm.current_version + 1,
            title="TPM, rewritten",
            responsibilities=[
                Responsibility(
                    position=i,
                    competency_id=world.competency_ids[r.competency],
                    importance=r.importance,
                    level=r.level,
                    must_have=r.must_have,
                )
                for i, r in enumerate(new_resps)
            ],
        )
    )
    tpm.current_version += 1
    session.flush()
    world.roles[tpm.id] = ("tpm", tpm.current_version, new_resps)

    assert matching.rescore_role(session, tpm.id, as_of=AS_OF).written == len(world.records)

    rows = stored(session)
    assert {m.role_version for k, m in rows.items() if k[0] == tpm.id} == {2}
    assert_agrees(session, world, AS_OF)
    assert {k: actual_row(m) for k, m in rows.items() if k[0] == tmp_id} == other_before


def test_a_candidate_with_no_records_scores_0(session: Session) -> None:
    world = new_world(session)
    lenient = add_role(
        session,
        world,
        "lenient",
        [(scoring.Responsibility("technical-depth", 3, 2),)],
    )
    candidate_id = add_candidate(session, world, [])
    matching.rescore_candidates(session, [candidate_id], as_of=AS_OF)
    rows = stored(session)
    assert len(rows) == len(world.roles)
    for (role_id, _), match in rows.items():
        assert match.score_hundredths == 0
        if role_id == lenient:  # no must-have to miss
            assert (match.must_haves_met, match.band, match.rank_key) == (True, "weak", 100000)
        else:  # tpm and tmp each have a must-have
            assert (match.must_haves_met, match.band, match.rank_key) == (
                False,
                "not-qualified",
                0,
            )
    assert_agrees(session, world, AS_OF)


def test_unrelated_records_score_0_too(session: Session) -> None:
    world = new_world(session)
    records = [scoring.Record("extra-0", 5, "assessment"), scoring.Record("extra-1", 5)]
    candidate_id = add_candidate(session, world, records)
    matching.rescore_candidates(session, [candidate_id], as_of=AS_OF)
    assert {m.score_hundredths for m in stored(session).values()} == {0}
    assert_agrees(session, world, AS_OF)


def test_refresh_when_the_month_changed(session: Session) -> None:
    world = new_world(session)
    now = matching.current_month()
    # Last used 37 months before the current month: fully recent last month (age 36), 0.9 now.
    records = [
        scoring.Record(k, 4, "assessment", scoring.Month.from_index(now.index - 37))
        for k in world.competency_ids
    ]
    add_candidate(session, world, records)
    previous = scoring.Month.from_index(now.index - 1)
    matching.rescore_all(session, as_of=previous)
    tpm_id, tmp_id = (
        session.scalars(select(Role.id).where(Role.key == key)).one() for key in ("tpm", "tmp")
    )
    assert {m.score_hundredths for m in stored(session).values()} == {10000}

    def refresh(role_id: int) -> bool:
        scored = session.scalar(select(Role.scored_month).where(Role.id == role_id))
        return matching.refresh_if_month_changed(session, role_id, scored)

    assert refresh(tpm_id) is True
    rows = stored(session)
    tpm_row = next(m for (r, _), m in rows.items() if r == tpm_id)
    tmp_row = next(m for (r, _), m in rows.items() if r == tmp_id)
    assert tpm_row.as_of_month == now.index
    assert tpm_row.score_hundredths < 10000
    assert actual_row(tpm_row) == expected_row(world, tpm_id, tpm_row.candidate_id, now)
    assert tmp_row.as_of_month == previous.index  # another role: not refreshed

    assert refresh(tpm_id) is False  # up to date
    assert refresh(tmp_id) is True
    assert refresh(tmp_id) is False
    # A stale scored_month from a worker's cache: the locked re-read sees it is done.
    assert matching.refresh_if_month_changed(session, tmp_id, previous.index) is False


def test_refresh_of_a_role_scored_this_month_does_nothing(session: Session) -> None:
    new_world(session)
    role_id = session.scalars(select(Role.id).where(Role.key == "tpm")).one()
    matching.rescore_role(session, role_id)
    now = matching.current_month()
    assert matching.refresh_if_month_changed(session, role_id, now.index) is False


def test_rescoring_defaults_to_the_current_month_and_now(session: Session) -> None:
    world = new_world(session)
    add_candidate(session, world, [scoring.Record("technical-depth", 3)])
    start = utcnow()
    assert matching.rescore_all(session).written == len(world.roles)
    for match in stored(session).values():
        assert match.as_of_month == matching.current_month().index
        assert start <= match.computed_at <= utcnow()
        assert match.computed_at.tzinfo is not None


def test_writing_over_existing_rows_updates_them(session: Session) -> None:
    """The insert is an upsert: a row committed by a concurrent rescore cannot make it fail."""
    world = new_world(session)
    candidate_id = add_candidate(session, world, [scoring.Record("technical-depth", 4)])
    matching.rescore_all(session, as_of=scoring.Month(2020, 1))
    session.execute(update(Match).values(score_hundredths=1, band="stale"))
    written = matching._write(session, AS_OF, utcnow(), candidate_ids=[candidate_id])
    assert written == len(world.roles)  # no DELETE before it
    assert_agrees(session, world, AS_OF)


def test_sql_sha256_is_hashlib_sha256(session: Session) -> None:
    dialect = session.get_bind().dialect.name
    for text in ["", "v1|tpm|3|2026-06|abc", "gestión|ünïcødé|✓"]:
        value = session.scalar(select(matching._sha256_hex(literal(text, String), dialect)))
        assert value == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_current_month() -> None:
    assert matching.current_month(datetime(2026, 6, 30, 23, 59, tzinfo=UTC)) == AS_OF
    # 2026-07-01 01:00 at UTC+02:00 is still June in UTC.
    plus_two = timezone(timedelta(hours=2))
    assert matching.current_month(datetime(2026, 7, 1, 1, 0, tzinfo=plus_two)) == AS_OF
    now = datetime.now(UTC)
    assert matching.current_month() in {
        scoring.Month.from_date(now.date()),
        scoring.Month.from_date((now + timedelta(seconds=5)).date()),
    }
    with pytest.raises(ValueError, match="naive"):
        matching.current_month(datetime(2026, 6, 1))


def test_rolefit_rescore_rewrites_every_score_for_this_month(
    session: Session, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command an operator runs after a scoring-model change: every match, this month."""
    from click.testing import CliRunner

    from service.cli import main

    world = new_world(session)
    rnd = random.Random(11)
    keys = sorted(world.competency_ids)
    for _ in range(5):
        add_candidate(session, world, random_records(rnd, keys, AS_OF))
    matching.rescore_all(session, as_of=scoring.Month(2020, 1))
    session.commit()

    monkeypatch.setenv("ROLEFIT_DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["rescore"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"scores written: {5 * len(world.roles)}, band changes: ")
    session.expire_all()
    month = matching.current_month().index
    assert {m.as_of_month for m in stored(session).values()} == {month}
    assert set(session.scalars(select(Role.scored_month))) == {month}
