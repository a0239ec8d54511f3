"""Bearer authentication and scopes: 401 with WWW-Authenticate, 403 for a missing scope."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from service.cli import main
from tests.api.test_ops_and_errors import assert_problem
from tests.conftest import bearer


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer not-a-key",
        "Bearer rf_000000000000_unknownsecret",
        "Bearer " + "x" * 5000,
    ],
)
def test_missing_malformed_or_unknown_key_is_401(client: FlaskClient, header) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.get("/v1/roles", headers=headers)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_right_prefix_wrong_secret_is_401(client: FlaskClient, make_key) -> None:
    token = make_key("admin")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert_problem(client.get("/v1/roles", headers=bearer(forged)), 401)


def test_missing_scope_is_403(client: FlaskClient, make_key) -> None:
    token = make_key("dashboard")
    response = client.post("/v1/competencies", json={}, headers=bearer(token))
    body = assert_problem(response, 403)
    assert "roles:write" in body["detail"]


def test_key_lifecycle_through_the_cli(client: FlaskClient, database_url: str, monkeypatch) -> None:
    monkeypatch.setenv("ROLEFIT_DATABASE_URL", database_url)
    runner = CliRunner()
    created = runner.invoke(main, ["keys", "create", "--name", "ats sync", "--preset", "recruiter"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("rf_")
    assert client.get("/v1/roles", headers=bearer(token)).status_code == 200

    listed = runner.invoke(main, ["keys", "list"])
    line = next(row for row in listed.stdout.splitlines() if "ats sync" in row)
    key_id, name, preset, _created_at, last_used, revoked = line.split("\t")
    assert (name, preset, revoked) == ("ats sync", "recruiter", "-")
    assert last_used != "-"  # the request above used it
    assert token not in listed.output and token.split("_", 2)[2] not in listed.output

    revoked_run = runner.invoke(main, ["keys", "revoke", key_id])
    assert revoked_run.exit_code == 0
    assert_problem(client.get("/v1/roles", headers=bearer(token)), 401)
    assert runner.invoke(main, ["keys", "list"]).output.count("\t-") < listed.output.count("\t-")


def test_cli_refuses_unknown_preset_and_unknown_key(database_url: str, monkeypatch) -> None:
    monkeypatch.setenv("ROLEFIT_DATABASE_URL", database_url)
    runner = CliRunner()
    assert runner.invoke(main, ["keys", "create", "--name", "x", "--preset", "god"]).exit_code != 0
    result = runner.invoke(main, ["keys", "revoke", "key_000000000000"])
    assert result.exit_code != 0
    assert "no API key" in result.output


def test_keys_are_stored_hashed(make_key, session) -> None:
    from sqlalchemy import select

    from service.models import ApiKey

    token = make_key("admin")
    stored = session.scalars(select(ApiKey)).all()
    for key in stored:
        assert token not in (key.secret_hash, key.prefix, key.id, key.name)
        assert len(key.secret_hash) == 64
