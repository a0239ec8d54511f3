"""Bodies the parser must refuse however they are framed: a key given twice in one object is a
400 naming it; a body over 1 MiB is a 413 with or without a Content-Length (chunked)."""

from __future__ import annotations

import io
import json

from flask.testing import FlaskClient

from tests.api.test_candidates import candidate_body
from tests.api.test_ops_and_errors import assert_problem

URL = "/v1/candidates"
LIMIT = 1024 * 1024


def post_chunked(client: FlaskClient, body: bytes, headers: dict[str, str]):
    """A POST without Content-Length, its stream marked terminated as gunicorn marks a chunked
    body's (the test client cannot frame chunks; the app sees what it sees under gunicorn)."""
    return client.post(
        URL,
        input_stream=io.BytesIO(body),
        headers={**headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def padded(size: int) -> bytes:
    """A complete, valid candidate document padded with whitespace to ``size`` bytes."""
    document = json.dumps(candidate_body(name="Padded")).encode()
    return document[:-1] + b" " * (size - len(document)) + b"}"


def test_a_key_twice_is_a_400_naming_it(client: FlaskClient, admin_headers) -> None:
    body = b'{"name": "Ada", "headline": "x", "name": "Eve", "competencies": []}'
    response = client.post(
        URL, data=body, headers={**admin_headers, "Content-Type": "application/json"}
    )
    problem = assert_problem(response, 400)
    assert "'name'" in problem["errors"]["_schema"][0]
    assert "more than once" in problem["errors"]["_schema"][0]


def test_a_key_twice_in_a_nested_object_is_a_400_too(client: FlaskClient, admin_headers) -> None:
    nested = (
        b'{"name": "Ada", "headline": "x", "competencies": '
        b'[{"competency": "technical-depth", "level": 3, "level": 5}]}'
    )
    response = client.post(
        URL, data=nested, headers={**admin_headers, "Content-Type": "application/json"}
    )
    assert "'level'" in assert_problem(response, 400)["errors"]["_schema"][0]


def test_a_key_twice_is_found_on_the_strict_fallback_path(
    client: FlaskClient, admin_headers
) -> None:
    # A lone surrogate makes orjson refuse the body; the standard library's pass decides.
    body = b'{"name": "\\ud800", "name": "Eve", "headline": "x", "competencies": []}'
    response = client.post(
        URL, data=body, headers={**admin_headers, "Content-Type": "application/json"}
    )
    assert "'name'" in assert_problem(response, 400)["errors"]["_schema"][0]


def test_the_same_key_in_sibling_objects_is_fine(client: FlaskClient, admin_headers) -> None:
    body = candidate_body(
        competencies=[
            {"competency": "technical-depth", "level": 3},
            {"competency": "project-lifecycle", "level": 4},
        ]
    )
    assert client.post(URL, json=body, headers=admin_headers).status_code == 201


def test_a_chunked_body_over_one_mebibyte_is_a_413(client: FlaskClient, admin_headers) -> None:
    for size in (LIMIT + 1, 2 * LIMIT):
        problem = assert_problem(post_chunked(client, padded(size), admin_headers), 413)
        assert problem["detail"] == "the body is over 1 MiB"


def test_a_chunked_body_within_the_limit_is_read_whole(client: FlaskClient, admin_headers) -> None:
    response = post_chunked(client, padded(LIMIT), admin_headers)
    assert response.status_code == 201, response.data
    assert response.get_json()["name"] == "Padded"


def test_a_declared_length_over_the_limit_is_a_413_with_the_same_detail(
    client: FlaskClient, admin_headers
) -> None:
    response = client.post(
        URL,
        data=padded(LIMIT + 1),
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert assert_problem(response, 413)["detail"] == "the body is over 1 MiB"
