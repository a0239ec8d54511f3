"""Retention: `rolefit retention run --older-than DAYS [--dry-run]` erases candidates untouched
for that long, except those on legal hold, through the same erasure path as DELETE."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.cli import main
from service.infra.database import Database
from service.infra.orm import utcnow
from service.models import AuditEvent, Candidate, CandidateTombstone, IdempotencyRecord


def _create(client: FlaskClient, headers: dict[str, str], name: str, **extra: str) -> str:
    response = client.post("/v1/candidates", json={"name": name, **extra}, headers=headers)
    assert response.status_code == 201
    return str(response.get_json()["id"])


def _age(database: Database, candidate_id: str, days: int) -> None:
    with database.session() as session:
        session.execute(
            update(Candidate)
            .where(Candidate.id == uuid.UUID(candidate_id))
            .values(updated_at=utcnow() - timedelta(days=days))
        )
        session.commit()


@pytest.fixture
def people(client: FlaskClient, admin_headers, database: Database) -> dict[str, str]:
    """Two stale candidates, a stale one on legal hold, and a recent one."""
    ids = {
        "stale": _create(client, admin_headers, "Stale One"),
        "staler": client.post(
            "/v1/candidates",
            json={"name": "Stale Two", "email": "two@example.org"},
            headers={**admin_headers, "Idempotency-Key": "retention-1"},
        ).get_json()["id"],
        "held": _create(client, admin_headers, "Held"),
        "recent": _create(client, admin_headers, "Recent"),
    }
    url = f"/v1/candidates/{ids['held']}"
    etag = client.get(url, headers=admin_headers).headers["ETag"]
    held = client.patch(url, json={"legal_hold": True}, headers={**admin_headers, "If-Match": etag})
    assert held.status_code == 200
    _age(database, ids["stale"], 400)
    _age(database, ids["staler"], 800)
    _age(database, ids["held"], 900)
    _age(database, ids["recent"], 10)
    return ids


def _run(database_url: str, monkeypatch, *args: str):
    monkeypatch.setenv("ROLEFIT_DATABASE_URL", database_url)
    return CliRunner().invoke(main, ["retention", "run", *args])


def test_dry_run_lists_who_would_go_and_changes_nothing(
    database_url: str, monkeypatch, people, session: Session
) -> None:
    result = _run(database_url, monkeypatch, "--older-than", "365", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert [line.split()[2] for line in lines[:-1]] == [people["staler"], people["stale"]]
    assert all(line.startswith("would erase ") for line in lines[:-1])
    assert "would erase 2 candidate(s)" in lines[-1] and "1 on legal hold kept" in lines[-1]
    assert "dry run" in lines[-1]
    session.rollback()
    assert len(session.scalars(select(Candidate)).all()) == 4
    assert session.scalars(select(CandidateTombstone)).all() == []


def test_run_erases_through_the_erasure_path_and_records_the_cli_as_actor(
    app: Flask,
    client: FlaskClient,
    admin_headers,
    database_url: str,
    monkeypatch,
    people,
    session: Session,
) -> None:
    result = _run(database_url, monkeypatch, "--older-than", "365")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert sorted(line.split()[1] for line in lines[:-1]) == sorted(
        [people["stale"], people["staler"]]
    )
    assert "erased 2 candidate(s)" in lines[-1] and "1 on legal hold kept" in lines[-1]
    run_id = re.search(r"retention run (\S+):", lines[-1]).group(1)

    for who in ("stale", "staler"):
        response = client.get(f"/v1/candidates/{people[who]}", headers=admin_headers)
        assert response.status_code == 404
    for who in ("held", "recent"):
        assert client.get(f"/v1/candidates/{people[who]}", headers=admin_headers).status_code == 200

    session.rollback()
    tombstones = session.scalars(select(CandidateTombstone)).all()
    assert sorted(str(t.candidate_id) for t in tombstones) == sorted(
        [people["stale"], people["staler"]]
    )
    assert {(t.actor, t.erased_by_key_id) for t in tombstones} == {("cli:retention", None)}
    # The stored response of the create went with the candidate it named.
    assert session.scalars(select(IdempotencyRecord)).all() == []
    erasures = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "erase", AuditEvent.actor == "cli:retention")
    ).all()
    assert sorted(e.resource_id for e in erasures) == sorted([people["stale"], people["staler"]])
    assert {(e.actor, e.api_key_id, e.request_id, e.outcome) for e in erasures} == {
        ("cli:retention", None, run_id, "success")
    }

    again = _run(database_url, monkeypatch, "--older-than", "365")
    assert "erased 0 candidate(s)" in again.stdout


def test_older_than_must_be_a_positive_number_of_days(database_url: str, monkeypatch) -> None:
    for bad in ("0", "-3", "soon"):
        assert _run(database_url, monkeypatch, "--older-than", bad).exit_code != 0
    assert _run(database_url, monkeypatch).exit_code != 0
