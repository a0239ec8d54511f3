"""Migrations run up and down on SQLite and PostgreSQL, and models never drift from them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, make_url, text

from service.infra.database import Database
from service.infra.orm import Base
from service.migrate import downgrade, upgrade
from tests.conftest import POSTGRES_URL


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


@pytest.fixture(params=_backends())
def empty_database(request: pytest.FixtureRequest, tmp_path) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        yield database
        database.dispose()
        return
    assert POSTGRES_URL
    name = f"rolefit_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        make_url(POSTGRES_URL).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    database = Database(
        make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    )
    yield database
    database.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrade_then_downgrade_on_an_empty_database(empty_database: Database) -> None:
    report = upgrade(empty_database)
    assert {"tpm", "tmp"} == set(report.roles_added)
    tables = set(inspect(empty_database.engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    downgrade(empty_database, "base")
    assert set(inspect(empty_database.engine).get_table_names()) <= {"alembic_version"}
    # And up again: a downgrade leaves nothing behind that breaks the next upgrade.
    upgrade(empty_database)


def test_models_and_migrations_do_not_drift(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models differ from migrations; run alembic revision --autogenerate: {diff}"


def test_upgrade_twice_changes_nothing(database: Database) -> None:
    def snapshot() -> dict[str, list]:
        with database.engine.connect() as connection:
            return {
                table: connection.execute(text(f"SELECT * FROM {table} ORDER BY 1")).fetchall()
                for table in (
                    "competencies",
                    "competency_aliases",
                    "roles",
                    "role_versions",
                    "responsibilities",
                )
            }

    before = snapshot()
    report = upgrade(database)
    assert report.competencies_added == [] and report.roles_added == []
    assert snapshot() == before


def test_0004_copies_names_onto_existing_matches(empty_database: Database) -> None:
    """Matches stored before the candidate's name was kept on them get it from candidates."""
    assert upgrade(empty_database, "0003") is None  # built-in data waits for the head
    candidate = uuid.uuid4()
    stored = uuid.uuid4().hex if empty_database.dialect == "sqlite" else str(candidate)
    with empty_database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO roles (key, current_version, scored_month, created_at, updated_at)"
                " VALUES ('old-role', 1, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        role_id = connection.execute(text("SELECT id FROM roles WHERE key = 'old-role'")).scalar()
        connection.execute(
            text(
                "INSERT INTO candidates (id, name, headline, legal_hold, records_digest,"
                " row_version, created_at, updated_at) VALUES (:id, 'Ada', 'TPM', false, '', 1,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"id": stored},
        )
        connection.execute(
            text(
                "INSERT INTO matches (role_id, candidate_id, role_version, model_version,"
                " score_hundredths, must_haves_met, band, rank_key, as_of_month, inputs_hash,"
                " computed_at) VALUES (:role, :id, 1, 'v1', 0, false, 'not-qualified', 0, 0, '',"
                " CURRENT_TIMESTAMP)"
            ),
            {"role": role_id, "id": stored},
        )
    upgrade(empty_database)
    with empty_database.engine.connect() as connection:
        row = connection.execute(
            text("SELECT candidate_name, candidate_headline FROM matches WHERE role_id = :role"),
            {"role": role_id},
        ).one()
    assert tuple(row) == ("Ada", "TPM")
    downgrade(empty_database, "0003")
    upgrade(empty_database)


def test_builtin_roles_start_scored_for_the_current_month(empty_database: Database) -> None:
    """Else the first ranking read after an install would rescore the whole role."""
    from service.domain.matching import current_month

    upgrade(empty_database)
    with empty_database.engine.connect() as connection:
        months = connection.execute(text("SELECT key, scored_month FROM roles")).all()
    assert {key for key, _ in months} == {"tpm", "tmp"}
    assert {month for _, month in months} == {current_month().index}
