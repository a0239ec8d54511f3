"""Operational endpoints, request ids, and every error status rendered as a problem."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_smorest import Blueprint

from service import create_app
from service.api.auth import requires
from tests.conftest import make_config

PROBLEM = "application/problem+json"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.data
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status
    assert {"type", "title", "detail", "instance", "request_id"} <= set(body)
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def test_healthz_never_needs_the_database() -> None:
    app = create_app(make_config("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_a_503_problem_when_the_database_is_unreachable() -> None:
    app = create_app(make_config("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    response = app.test_client().get("/readyz")
    body = assert_problem(response, 503)
    assert response.headers["Retry-After"]
    assert "unreachable" in body["detail"]


def test_readyz_ok_with_a_database(client: FlaskClient) -> None:
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_v1_route_is_503_not_500_while_the_database_is_down() -> None:
    app = create_app(make_config("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    response = app.test_client().get(
        "/v1/roles", headers={"Authorization": "Bearer rf_0123456789ab_x"}
    )
    body = assert_problem(response, 503)
    assert response.headers["Retry-After"] == "5"
    assert "psycopg" not in json.dumps(body)


def test_request_id_is_echoed_or_generated(client: FlaskClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == (
        "abc-123"
    )
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    # A header that could inject into logs is replaced, not echoed.
    assert (
        client.get("/healthz", headers={"X-Request-ID": "a b\tc"}).headers["X-Request-ID"]
        != "a b\tc"
    )


def test_unknown_path_is_a_404_problem(client: FlaskClient) -> None:
    assert_problem(client.get("/v1/nothing-here"), 404)


def test_wrong_method_is_a_405_problem_with_allow(client: FlaskClient) -> None:
    response = client.delete("/healthz")
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_docs_and_openapi_are_served_locally(client: FlaskClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert b"/docs/assets/swagger-ui-bundle.js" in page.data
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs/assets/../../../etc/passwd").status_code == 404
    assert client.get("/openapi.json").get_json()["info"]["title"] == "rolefit"
    assert client.get("/openapi.yaml").data.startswith(b"components:") or b"openapi:" in (
        client.get("/openapi.yaml").data
    )


def test_metrics_are_prometheus_text(client: FlaskClient) -> None:
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"rolefit_http_requests_total" in response.data


@pytest.fixture
def error_app(database_url: str, database) -> Flask:
    """An app with extra routes that fail on purpose."""
    app = create_app(make_config(database_url))
    blp = Blueprint("failing", __name__)

    @blp.route("/v1/_test/boom", methods=["POST", "GET"])
    @requires("roles:read")
    def boom():
        raise RuntimeError("secret=hunter2 SELECT * FROM api_keys")

    app.extensions["rolefit.api"].register_blueprint(blp)
    return app


def test_unexpected_error_is_a_500_problem_without_internals(
    error_app: Flask, admin_headers
) -> None:
    response = error_app.test_client().get("/v1/_test/boom", headers=admin_headers)
    body = assert_problem(response, 500)
    text = json.dumps(body)
    assert "hunter2" not in text and "SELECT" not in text and "Traceback" not in text


def test_body_over_one_mebibyte_is_a_413_problem(error_app: Flask, admin_headers) -> None:
    payload = b'{"x": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    response = error_app.test_client().post(
        "/v1/roles", data=payload, headers={**admin_headers, "Content-Type": "application/json"}
    )
    assert_problem(response, 413)


def test_non_json_body_is_a_415_problem(client: FlaskClient, admin_headers) -> None:
    response = client.post(
        "/v1/competencies", data="key=x", headers={**admin_headers, "Content-Type": "text/plain"}
    )
    assert_problem(response, 415)


def test_invalid_json_is_a_400_problem(client: FlaskClient, admin_headers) -> None:
    response = client.post(
        "/v1/competencies",
        data="{not json",
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert_problem(response, 400)


def test_validation_error_is_a_422_problem_with_field_paths(
    client: FlaskClient, admin_headers
) -> None:
    response = client.post(
        "/v1/competencies",
        json={"key": "Bad Key", "name": "x", "category": "c", "surprise": 1},
        headers=admin_headers,
    )
    body = assert_problem(response, 422)
    assert "key" in body["errors"]
    assert body["errors"]["surprise"] == ["Unknown field."]


def test_security_headers(client: FlaskClient, admin_headers) -> None:
    response = client.get("/v1/roles", headers=admin_headers)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
