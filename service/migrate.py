"""Schema migrations (Alembic) and the built-in data, as ``rolefit db upgrade`` runs them."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from service.domain.builtin import LoadReport, load_builtin
from service.infra.database import Database

# Serializes concurrent upgrades (several instances starting at once) on PostgreSQL.
_ADVISORY_LOCK_ID = 0x726F6C65666974  # "rolefit"


def migrations_dir() -> Path:
    """``migrations/`` beside the ``service`` package (repository checkout or image /app)."""
    configured = os.environ.get("ROLEFIT_MIGRATIONS_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(connection: Connection | None = None, url: str | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["configure_logger"] = False
    if connection is not None:
        config.attributes["connection"] = connection
    if url is not None:
        config.attributes["database_url"] = url
    return config


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of an SQLite file URL, so the laptop default just works."""
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def upgrade(database: Database, revision: str = "head") -> LoadReport | None:
    """Migrate to ``revision``; at the head, also load the built-in data that is missing.

    Only at the head (None otherwise): the built-in data is written by this release's code
    (roles are scored as they are created), which knows the head schema only.
    """
    ensure_sqlite_folder(database.url)
    with database.engine.begin() as connection:
        if database.dialect == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
        config = alembic_config(connection)
        command.upgrade(config, revision)
        at_head = revision in ("head", ScriptDirectory.from_config(config).get_current_head())
    if not at_head:
        return None
    with database.session() as session:
        report = load_builtin(session)
        session.commit()
    return report


def downgrade(database: Database, revision: str) -> None:
    with database.engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)
