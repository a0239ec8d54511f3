"""A role's rescoring has its own statement timeout, and only its statements get it.

The 5 s statement timeout of ordinary requests used to cancel the rescoring of a million
candidates inside a role's PUT (issue 15). ``long_statements`` gives the statements inside it
``ROLEFIT_RESCORE_TIMEOUT_SECONDS`` with ``SET LOCAL`` and sets the ordinary timeout back when
it is left; the rescoring functions run their statements inside it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from service import create_app
from service.domain import matching
from service.infra.database import Database, long_statements
from tests.conftest import POSTGRES_URL, make_config

postgres_only = pytest.mark.skipif(not POSTGRES_URL, reason="needs ROLEFIT_TEST_DATABASE_URL")


@postgres_only
def test_only_the_statements_inside_get_the_long_timeout(database_url: str) -> None:
    database = Database(database_url, statement_timeout_ms=100, long_statement_timeout_ms=5000)
    try:
        with database.session() as session:
            assert session.execute(text("SHOW statement_timeout")).scalar() == "100ms"
            with long_statements(session):
                assert session.execute(text("SHOW statement_timeout")).scalar() == "5s"
                session.execute(text("SELECT pg_sleep(0.3)"))  # longer than the ordinary 100 ms
            # Back to the ordinary timeout in the same transaction: nothing else runs long.
            assert session.execute(text("SHOW statement_timeout")).scalar() == "100ms"
            with pytest.raises(OperationalError, match="statement timeout"):
                session.execute(text("SELECT pg_sleep(0.3)"))
    finally:
        database.dispose()


def test_a_role_change_rescores_inside_long_statements(
    database: Database,
    database_url: str,
    admin_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PUT /v1/roles/{key} runs the rescoring within ``long_statements``, with the timeout of
    ROLEFIT_RESCORE_TIMEOUT_SECONDS."""
    app = create_app(make_config(database_url, rescore_timeout_seconds=42))
    seen: list[Any] = []
    real = matching.long_statements

    @contextlib.contextmanager
    def spy(session: Any) -> Iterator[None]:
        seen.append(session.info.get("rolefit.long_statement_timeout_ms"))
        with real(session):
            yield

    monkeypatch.setattr(matching, "long_statements", spy)
    client = app.test_client()
    role = client.get("/v1/roles/tpm", headers=admin_headers)
    body = {k: role.json[k] for k in ("title", "summary", "focus", "responsibilities")}
    body["responsibilities"][0]["importance"] = (
        5 if body["responsibilities"][0]["importance"] != 5 else 4
    )
    response = client.put(
        "/v1/roles/tpm", json=body, headers={**admin_headers, "If-Match": role.headers["ETag"]}
    )
    assert response.status_code == 200, response.data
    assert seen == [42_000]
    app.extensions["rolefit.db"].dispose()
