"""Tamper evidence: `rolefit audit seal` / `verify` catch an audit trail edited behind the
service's back (both databases), and PostgreSQL's triggers refuse edits of the history except
the erasure's clearing of transition notes."""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from service.cli import main
from service.domain import audit, audit_seals
from service.infra.database import Database
from service.infra.tamper_guard import HorizonBusy, allow_history_rewrite, committed_horizon
from service.models import AuditEvent, AuditSeal, Transition
from tests.conftest import POSTGRES_URL, triggers_off

ACTOR = audit.Actor("cli:test", request_id="tamper-test")


def record(database: Database, count: int) -> list[int]:
    """``count`` committed events, through the domain's own writer; their ids."""
    with database.session() as session:
        before = session.scalar(sa.select(sa.func.max(AuditEvent.id))) or 0
        audit.record(
            session,
            [audit.event(ACTOR, "read", "candidate", uuid.uuid4()) for _ in range(count)],
        )
        session.commit()
        return list(
            session.scalars(
                sa.select(AuditEvent.id).where(AuditEvent.id > before).order_by(AuditEvent.id)
            )
        )


def seal(database: Database) -> AuditSeal | None:
    with database.session() as session:
        new = audit_seals.seal(session)
        session.commit()
        if new is not None:
            session.refresh(new)
            session.expunge(new)
        return new


def verify(database: Database, anchor: str | None = None) -> audit_seals.Verification:
    with database.session() as session:
        return audit_seals.verify(session, anchor=anchor)


def behind_the_back(database: Database, statement: sa.Executable) -> None:
    """Run ``statement`` as the database owner would, past the service and its triggers."""
    with database.engine.begin() as connection:
        triggers_off(connection)
        connection.execute(statement)


@pytest.fixture(autouse=True)
def quiet_trail(app: Flask, database: Database) -> None:
    """No event of an earlier test's requests lands in this one: the app's buffered writer is
    flushed, then the trail wiped (as test_audit's ``audit_log`` does)."""
    app.extensions["rolefit.audit"].flush()
    behind_the_back(database, sa.delete(AuditEvent))


@pytest.fixture
def two_seals(database: Database) -> tuple[AuditSeal, AuditSeal]:
    """Seal 1 over five events, seal 2 over the next four, nothing unsealed."""
    record(database, 5)
    first = seal(database)
    record(database, 4)
    second = seal(database)
    assert first is not None and second is not None
    return first, second


def test_seal_covers_every_new_event_once_and_chains_to_the_previous_seal(
    database: Database,
) -> None:
    ids = record(database, 5)
    first = seal(database)
    assert first is not None
    assert (first.first_event_id, first.last_event_id, first.event_count) == (ids[0], ids[-1], 5)
    assert first.previous_sha256 == audit_seals.GENESIS
    assert seal(database) is None  # nothing new: nothing stored
    later = record(database, 3)
    second = seal(database)
    assert second is not None
    assert (second.first_event_id, second.last_event_id, second.event_count) == (
        later[0],
        later[-1],
        3,
    )
    assert second.previous_sha256 == first.chain_sha256
    found = verify(database)
    assert found.ok and found.mismatch is None
    assert (found.seals, found.events, found.unsealed) == (2, 8, 0)
    assert found.head_sha256 == second.chain_sha256


def test_events_after_the_last_seal_are_reported_not_called_tampering(
    database: Database, two_seals: tuple[AuditSeal, AuditSeal]
) -> None:
    record(database, 2)
    found = verify(database)
    assert found.ok
    assert found.unsealed == 2 and found.unsealed_since is not None


EDITS: dict[str, Any] = {
    "occurred_at": datetime(2020, 1, 1, tzinfo=UTC),
    "actor": "api",
    "api_key_id": "key_forged",
    "action": "list",
    "resource_type": "role",
    "resource_id": "someone-else",
    "request_id": "forged",
    "status": 200,
    "outcome": "denied",
}


def test_every_column_of_an_event_is_sealed() -> None:
    assert set(audit_seals.SEALED_COLUMNS) == {c.name for c in AuditEvent.__table__.columns}
    assert set(EDITS) | {"id"} == set(audit_seals.SEALED_COLUMNS)


@pytest.mark.parametrize("column", sorted(EDITS))
def test_verify_names_the_range_of_an_edited_event(
    database: Database, two_seals: tuple[AuditSeal, AuditSeal], column: str
) -> None:
    _, second = two_seals
    victim = second.first_event_id + 1
    behind_the_back(
        database,
        sa.update(AuditEvent).where(AuditEvent.id == victim).values({column: EDITS[column]}),
    )
    found = verify(database)
    assert not found.ok and found.mismatch is not None
    assert found.mismatch.seal_id == second.id
    assert (found.mismatch.first_event_id, found.mismatch.last_event_id) == (
        second.first_event_id,
        second.last_event_id,
    )
    assert "edited" in found.mismatch.problem
    assert found.seals == 1  # the first seal still verified


def test_verify_names_the_range_of_a_deleted_event(
    database: Database, two_seals: tuple[AuditSeal, AuditSeal]
) -> None:
    first, _ = two_seals
    behind_the_back(database, sa.delete(AuditEvent).where(AuditEvent.id == first.last_event_id))
    found = verify(database)
    assert found.mismatch is not None and found.mismatch.seal_id == first.id
    assert "1 event(s) fewer than sealed: deleted" in found.mismatch.problem
    assert found.seals == 0


def test_verify_names_the_range_of_an_inserted_event(database: Database) -> None:
    # A gap inside the range, as a rolled-back insert leaves one on PostgreSQL; the intruder
    # then fills it after the seal.
    ids = record(database, 6)
    behind_the_back(database, sa.delete(AuditEvent).where(AuditEvent.id == ids[2]))
    first = seal(database)
    assert first is not None and first.event_count == 5
    assert verify(database).ok
    forged = audit.event(ACTOR, "read", "candidate", "forged")
    behind_the_back(database, sa.insert(AuditEvent).values(id=ids[2], **forged))
    found = verify(database)
    assert found.mismatch is not None and found.mismatch.seal_id == first.id
    assert "1 event(s) more than sealed: inserted" in found.mismatch.problem


def test_a_removed_or_edited_seal_breaks_the_chain(
    database: Database, two_seals: tuple[AuditSeal, AuditSeal]
) -> None:
    first, second = two_seals
    behind_the_back(
        database,
        sa.update(AuditSeal).where(AuditSeal.id == first.id).values(event_count=4),
    )
    found = verify(database)
    assert found.mismatch is not None and found.mismatch.seal_id == first.id
    assert "the seal's own fields were changed" in found.mismatch.problem
    behind_the_back(database, sa.delete(AuditSeal).where(AuditSeal.id == first.id))
    found = verify(database)
    assert found.mismatch is not None and found.mismatch.seal_id == second.id
    assert "chain broken" in found.mismatch.problem


def test_only_an_anchor_kept_elsewhere_catches_the_newest_seal_removed(
    database: Database, two_seals: tuple[AuditSeal, AuditSeal]
) -> None:
    _, second = two_seals
    assert verify(database, anchor=second.chain_sha256).ok
    behind_the_back(database, sa.delete(AuditSeal).where(AuditSeal.id == second.id))
    without = verify(database)
    assert without.ok and without.unsealed == second.event_count  # what the seals alone see
    with_anchor = verify(database, anchor=second.chain_sha256)
    assert not with_anchor.ok and with_anchor.anchor_found is False


def _cli(database_url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("ROLEFIT_DATABASE_URL", database_url)
    return CliRunner().invoke(main, ["audit", *args])


def test_the_commands_seal_verify_and_exit_1_naming_the_first_bad_range(
    database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = record(database, 3)
    sealed = _cli(database_url, monkeypatch, "seal")
    assert sealed.exit_code == 0, sealed.output
    line = re.fullmatch(
        rf"sealed events {ids[0]}\.\.{ids[-1]} \(3\) as seal (\d+) at \S+;"
        r" chain ([0-9a-f]{64})\n",
        sealed.output,
    )
    assert line is not None, sealed.output
    again = _cli(database_url, monkeypatch, "seal")
    assert again.exit_code == 0 and "nothing to seal" in again.output
    record(database, 1)
    clean = _cli(database_url, monkeypatch, "verify", "--anchor", line[2])
    assert clean.exit_code == 0, clean.output
    assert "seals verified: 1 (3 events)" in clean.output
    assert "events after the last seal: 1" in clean.output
    assert f"chain head: {line[2]}" in clean.output
    behind_the_back(database, sa.delete(AuditEvent).where(AuditEvent.id == ids[1]))
    broken = _cli(database_url, monkeypatch, "verify")
    assert broken.exit_code == 1
    assert (
        f"MISMATCH: seal {line[1]} (events {ids[0]}..{ids[-1]}): 1 event(s) fewer than sealed"
        in broken.output
    )


def test_erasure_rewrites_no_audit_event_and_is_itself_in_the_sealed_trail(
    client: FlaskClient, admin_headers: dict[str, str], database: Database, app: Flask
) -> None:
    job, cid = _application_with_a_note(client, admin_headers)
    app.extensions["rolefit.audit"].flush()
    assert seal(database) is not None
    erased = client.delete(f"/v1/candidates/{cid}", headers=admin_headers)
    assert erased.status_code == 204, erased.data
    assert verify(database).ok  # the sealed range is untouched by erasure
    after = seal(database)
    assert after is not None
    with database.session() as session:
        erase = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "erase", AuditEvent.resource_id == cid)
        ).one()
        notes = session.scalars(
            sa.select(Transition.note).where(Transition.job_id == uuid.UUID(job))
        ).all()
    assert after.first_event_id <= erase.id <= after.last_event_id
    assert notes and all(note is None for note in notes)
    assert verify(database).ok


def _application_with_a_note(
    client: FlaskClient, headers: dict[str, str], note: str = "spoke with their old manager"
) -> tuple[str, str]:
    """A candidate, an open job, an application moved once with a note: (job id, candidate)."""
    cid = client.post("/v1/candidates", json={"name": "Tamper Test"}, headers=headers).get_json()[
        "id"
    ]
    job = client.post(
        "/v1/jobs", json={"title": "Tamper job", "role": "tpm", "status": "open"}, headers=headers
    ).get_json()
    created = client.post(
        "/v1/applications", json={"candidate_id": cid, "job_id": job["id"]}, headers=headers
    )
    assert created.status_code == 201, created.data
    stages = [s["id"] for s in job["stages"]]
    moved = client.post(
        f"/v1/applications/{created.get_json()['id']}/move",
        json={"from_stage": stages[0], "to_stage": stages[1], "note": note},
        headers={**headers, "If-Match": created.headers["ETag"]},
    )
    assert moved.status_code == 200, moved.data
    return job["id"], cid


# --------------------------------------------------------------------------- PostgreSQL only

postgresql_only = pytest.mark.skipif(
    not POSTGRES_URL, reason="the triggers and the committed horizon's lock are PostgreSQL's"
)


def _refused(database: Database, statement: str, *, erasure: bool = False) -> str:
    def run(session: Session) -> None:
        if not erasure:
            session.execute(sa.text(statement))
            return
        with allow_history_rewrite(session, "erasure"):
            session.execute(sa.text(statement))

    with database.session() as session:
        with pytest.raises(sa.exc.DBAPIError) as refused:
            run(session)
        session.rollback()
    return str(refused.value.orig)


@postgresql_only
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET outcome = 'success'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "UPDATE transitions SET note = NULL",
        "DELETE FROM transitions",
        "TRUNCATE transitions",
        "TRUNCATE applications CASCADE",
        "UPDATE audit_seals SET event_count = 0",
        "DELETE FROM audit_seals",
        "TRUNCATE audit_seals",
    ],
)
def test_the_triggers_refuse_rewriting_the_history(
    client: FlaskClient, admin_headers: dict[str, str], database: Database, statement: str
) -> None:
    _application_with_a_note(client, admin_headers)
    record(database, 2)
    assert seal(database) is not None
    message = _refused(database, statement)
    assert "refused: the history is append-only" in message
    assert "allow_history_rewrite" in message  # the hint says where the one door is


@postgresql_only
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE transitions SET note = 'rewritten'",
        "UPDATE transitions SET note = NULL, kind = 'hired'",
        "UPDATE transitions SET note = NULL, actor_name = 'someone else'",
        "DELETE FROM transitions",
        "UPDATE audit_events SET outcome = 'success'",
        "DELETE FROM audit_events",
    ],
)
def test_the_erasure_allowance_only_clears_transition_notes(
    client: FlaskClient, admin_headers: dict[str, str], database: Database, statement: str
) -> None:
    _application_with_a_note(client, admin_headers)
    record(database, 1)
    assert "append-only" in _refused(database, statement, erasure=True)


@postgresql_only
def test_the_allowance_ends_with_its_block(
    client: FlaskClient, admin_headers: dict[str, str], database: Database
) -> None:
    job, _ = _application_with_a_note(client, admin_headers)
    with database.session() as session:
        with allow_history_rewrite(session, "erasure"):
            session.execute(sa.update(Transition).values(note=None))
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            session.execute(sa.update(Transition).values(note=None))
        session.rollback()
        notes = session.scalars(
            sa.select(Transition.note).where(Transition.job_id == uuid.UUID(job))
        ).all()
    assert "spoke with their old manager" in notes  # the rollback took the cleared note back


@postgresql_only
def test_an_event_committed_late_with_a_lower_id_is_sealed_not_skipped(database: Database) -> None:
    """Seal waits for the writer that holds a lower id, then covers both events."""
    late = database.engine.connect()
    transaction = late.begin()
    audit.record(Session(bind=late), [audit.event(ACTOR, "read", "candidate", "late")])
    lower = late.scalar(sa.text("SELECT max(id) FROM audit_events"))
    higher = record(database, 1)[0]
    assert higher > lower
    with pytest.raises(HorizonBusy):
        committed_horizon(database.engine, lock_timeout_ms=50, attempts=2)
    sealed: list[AuditSeal | None] = []
    sealer = threading.Thread(target=lambda: sealed.append(seal(database)))
    sealer.start()
    time.sleep(0.3)
    transaction.commit()
    late.close()
    sealer.join(timeout=30)
    assert sealed and sealed[0] is not None
    assert (sealed[0].first_event_id, sealed[0].last_event_id, sealed[0].event_count) == (
        lower,
        higher,
        2,
    )
    assert verify(database).ok
