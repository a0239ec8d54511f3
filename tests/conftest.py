"""Shared fixtures: ``database`` (migrated once), ``app``, ``client``, ``session``, API keys.

The suite runs on SQLite by default and on PostgreSQL when ROLEFIT_TEST_DATABASE_URL is set
(``make test`` does both when it is). Every test starts from the built-in data only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from service import create_app
from service.config import Config
from service.domain import apikeys
from service.domain.builtin import load_builtin
from service.infra.database import Database
from service.infra.orm import Base
from service.migrate import upgrade

POSTGRES_URL = os.environ.get("ROLEFIT_TEST_DATABASE_URL")
# Set when ROLEFIT_TEST_DATABASE_URL goes through PgBouncer in transaction mode: the same
# database straight, for the key cache's listener (and the suite runs as a pooled deployment).
POSTGRES_DIRECT_URL = os.environ.get("ROLEFIT_TEST_DATABASE_DIRECT_URL") or None
POOLED = POSTGRES_DIRECT_URL is not None


def _fresh_postgres(url: str) -> None:
    database = Database(url, transaction_pooler=POOLED)
    with database.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    database.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    if POSTGRES_URL:
        _fresh_postgres(POSTGRES_URL)
        return POSTGRES_URL
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'rolefit.db'}"


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url, transaction_pooler=POOLED)
    upgrade(database)
    yield database
    database.dispose()


def make_config(database_url: str, **overrides: Any) -> Config:
    settings: dict[str, Any] = {
        "secret_key": "a test key for webhook secrets",
        "webhooks_allow_http": True,
        "webhooks_allow_private": True,
        # Every test client is 127.0.0.1, and many tests answer 401 on purpose: the limit on
        # failed authentications per address is tested by tests/api/test_auth_failure_limit.py.
        "auth_failure_limit": 0,
        **({"database_direct_url": POSTGRES_DIRECT_URL} if POOLED else {}),
        "database_transaction_pooler": POOLED,
        **overrides,
    }
    return Config(database_url=database_url, testing=True, log_format="json", **settings)


@pytest.fixture(scope="session")
def app(database: Database, database_url: str) -> Flask:
    return create_app(make_config(database_url))


def triggers_off(connection: Connection) -> None:
    """Turn PostgreSQL's triggers off for the rest of ``connection``'s transaction (superuser
    only); nothing on SQLite, which has none.

    The history's triggers (migration 0009) refuse UPDATE, DELETE and TRUNCATE of the audit
    trail and the transitions. Wiping tables between tests, or tampering on purpose in a test,
    is no product path, so it does not borrow the erasure's allowance: it acts as an owner
    restoring a dump (or an intruder with the owner's rights) would, with triggers off.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL session_replication_role = replica"))


def reset_database(database: Database) -> None:
    """Empty every table and reload the built-in data."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as connection:
        triggers_off(connection)
        if database.dialect == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))
    with database.session() as session:
        load_builtin(session)
        session.commit()


@pytest.fixture(autouse=True)
def _clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empty every table and reload the built-in data, so each test starts the same."""
    if "database" not in request.fixturenames and "app" not in request.fixturenames:
        yield
        return
    reset_database(request.getfixturevalue("database"))
    yield


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    with database.session() as session:
        yield session


@pytest.fixture
def make_key(database: Database) -> Callable[..., str]:
    """``make_key("dashboard")`` returns a fresh token with that preset; ``without=`` narrows
    it (no preset lacks, say, candidates:pii while having candidates:write)."""

    def make(
        preset: str = "admin", name: str | None = None, without: set[str] = frozenset()
    ) -> str:
        with database.session() as session:
            key, token = apikeys.create_key(session, name=name or f"test {preset}", preset=preset)
            key.scopes = " ".join(sorted(key.scope_set - without))
            session.commit()
        return token

    return make


@pytest.fixture
def admin_headers(make_key: Callable[[str], str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key('admin')}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


REPO_ROOT = Path(__file__).resolve().parent.parent
