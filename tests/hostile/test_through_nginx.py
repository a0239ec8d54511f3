"""Hostile and malformed traffic through deploy/nginx.conf in front of ``rolefit serve``.

Every answer is an RFC 9457 problem with the right status, whoever gives it (nginx for what it
refuses itself, the app for the rest); nothing a client sends gets one of gunicorn's HTML pages;
a client that stops sending is cut off at nginx's timeout without ever holding a gunicorn
worker; a flood of bad keys from one address is refused within a second, costs a bounded number
of key lookups, and a client on another address does not notice.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import time

import httpx

from tests.hostile import nginx
from tests.hostile.conftest import CLIENT_TIMEOUT_SECONDS, FAILURE_LIMIT, WORKERS, Stack

PROBLEM = "application/problem+json"
MIB = 1024 * 1024


class Answer:
    """One raw HTTP/1.1 response: status, headers (lower-case names), body."""

    def __init__(self, data: bytes) -> None:
        head, _, self.body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:])
        }

    def problem(self, status: int) -> dict:
        assert self.status == status, (self.status, self.headers, self.body[:300])
        assert self.headers["content-type"] == PROBLEM, self.headers
        body = json.loads(self.body)
        assert body["status"] == status
        assert {"type", "title", "detail", "request_id"} <= set(body)
        assert body["request_id"] == self.headers["x-request-id"]
        return body


def exchange(
    stack: Stack, data: bytes, *, source: str = "127.0.0.1", timeout: float = 10
) -> Answer:
    """Send ``data`` as is on a fresh connection; read one response (Content-Length framed)."""
    with socket.create_connection(
        ("127.0.0.1", stack.nginx.port), timeout=timeout, source_address=(source, 0)
    ) as sock:
        sock.sendall(data)
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"\r\n\r\n" in received:
                head, _, body = received.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                if length and len(body) >= int(length.group(1)):
                    break
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return Answer(received)


def get(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: rolefit.test", *headers, "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post_head(stack: Stack, *headers: str) -> bytes:
    lines = [
        "POST /v1/candidates HTTP/1.1",
        "Host: rolefit.test",
        f"Authorization: Bearer {stack.key}",
        "Content-Type: application/json",
        *headers,
        "Connection: close",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_the_rendered_configuration_is_valid(tmp_path) -> None:
    config = nginx.configure("127.0.0.1:8000", tmp_path, port=nginx.free_port())
    result = nginx.check(config)
    assert result.returncode == 0, result.stderr


def test_a_header_over_8_kib_is_a_431_problem(stack: Stack) -> None:
    answer = exchange(stack, get("/healthz", "X-Big: " + "a" * 9000))
    assert "8 KiB" in answer.problem(431)["detail"]


def test_headers_over_32_kib_in_all_are_a_431_problem(stack: Stack) -> None:
    answer = exchange(stack, get("/healthz", *(f"X-H{n}: {'v' * 20}" for n in range(1500))))
    answer.problem(431)


def test_many_headers_within_nginx_limits_reach_the_app(stack: Stack) -> None:
    # 300 headers: over gunicorn's default of 100 (its HTML 431), within nginx's 32 KiB.
    answer = exchange(stack, get("/healthz", *(f"X-H{n}: v" for n in range(300))))
    assert answer.status == 200 and answer.headers["content-type"] == "application/json"
    # A header line just within nginx's limit: over gunicorn's default 8190 bytes.
    answer = exchange(stack, get("/healthz", "X-Big: " + "a" * (8190 - len("X-Big: "))))
    assert answer.status == 200, answer.body[:200]


def test_a_request_line_over_8_kib_is_a_414_problem(stack: Stack) -> None:
    answer = exchange(stack, get("/v1/roles?q=" + "a" * 9000))
    answer.problem(414)


def test_a_request_line_just_within_the_limit_reaches_the_app(stack: Stack) -> None:
    path = "/healthz?q="
    padding = 8190 - len(f"GET {path} HTTP/1.1")
    assert exchange(stack, get(path + "a" * padding)).status == 200


def test_a_request_that_is_not_http_is_a_400_problem(stack: Stack) -> None:
    exchange(stack, b"HELLO THERE\r\n\r\n").problem(400)


def test_a_2_mib_body_is_a_413_problem(stack: Stack) -> None:
    head = post_head(stack, f"Content-Length: {2 * MIB}")
    # nginx answers on the declared length, before the body: it is never sent.
    assert "1 MiB" in exchange(stack, head).problem(413)["detail"]


def test_a_2_mib_chunked_body_is_a_413_problem(stack: Stack) -> None:
    chunk = b" " * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(32)) + b"0\r\n\r\n"
    answer = exchange(stack, post_head(stack, "Transfer-Encoding: chunked") + body)
    answer.problem(413)


def test_a_chunked_body_within_the_limit_reaches_the_app_whole(stack: Stack) -> None:
    document = json.dumps({"name": "Chunked", "headline": "through nginx", "competencies": []})
    padded = (document[:-1] + " " * (MIB - len(document)) + "}").encode()
    assert len(padded) == MIB
    chunks = [padded[i : i + 65536] for i in range(0, len(padded), 65536)]
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    answer = exchange(stack, post_head(stack, "Transfer-Encoding: chunked") + body)
    assert answer.status == 201, answer.body[:300]
    assert json.loads(answer.body)["name"] == "Chunked"


def test_bad_json_is_the_apps_400_problem(stack: Stack) -> None:
    body = b'{"name": "x",'
    answer = exchange(stack, post_head(stack, f"Content-Length: {len(body)}") + body)
    assert "not valid JSON" in answer.problem(400)["errors"]["_schema"][0]


def test_a_duplicated_key_is_a_400_problem_naming_it(stack: Stack) -> None:
    body = b'{"name": "Ada", "headline": "x", "competencies": [], "name": "Eve"}'
    answer = exchange(stack, post_head(stack, f"Content-Length: {len(body)}") + body)
    assert "'name'" in answer.problem(400)["errors"]["_schema"][0]


def closed_after(stack: Stack, data: bytes) -> tuple[float, bytes]:
    """Send ``data`` (an incomplete request) and wait: (seconds until closed, bytes received)."""
    started = time.monotonic()
    received = b""
    with socket.create_connection(("127.0.0.1", stack.nginx.port), timeout=10) as sock:
        sock.sendall(data)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return time.monotonic() - started, received


def test_a_slow_header_is_cut_off_at_the_timeout_without_reaching_gunicorn(stack: Stack) -> None:
    """nginx answers nothing to a client that stopped sending (there is nobody reading): it
    resets the connection at client_header_timeout and logs a 408."""
    seconds, received = closed_after(stack, b"GET /healthz HTTP/1.1\r\nHost: slow.test\r\nX-A: ")
    assert CLIENT_TIMEOUT_SECONDS - 0.5 <= seconds <= CLIENT_TIMEOUT_SECONDS + 3
    assert received == b""  # in particular no HTML error page
    assert re.search(
        r'"- -" 408 |"GET /healthz" 408 ', (stack.nginx.folder / "access.log").read_text()
    )


def test_a_slow_body_is_cut_off_at_the_timeout(stack: Stack) -> None:
    seconds, received = closed_after(stack, post_head(stack, "Content-Length: 100") + b'{"na')
    assert CLIENT_TIMEOUT_SECONDS - 0.5 <= seconds <= CLIENT_TIMEOUT_SECONDS + 3
    assert received == b""


def test_gunicorn_unreachable_is_a_502_problem() -> None:
    with nginx.running(f"127.0.0.1:{nginx.free_port()}") as proxy:
        response = httpx.get(proxy.base + "/v1/roles", timeout=10)
    assert response.status_code == 502
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 502 and response.headers["Retry-After"] == "5"


def test_the_request_id_is_passed_through_or_made_by_nginx(stack: Stack) -> None:
    with httpx.Client(base_url=stack.base, timeout=10) as client:
        given = client.get("/healthz", headers={"X-Request-ID": "trace-42.a:b"})
        assert given.headers["X-Request-ID"] == "trace-42.a:b"
        made = client.get("/healthz", headers={"X-Request-ID": "not valid!"})
        assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    wanted = f"request_id={made.headers['X-Request-ID']}"
    # nginx writes a request's access-log line after it has sent the response: wait for it.
    log = ""
    deadline = time.monotonic() + 5
    while wanted not in log and time.monotonic() < deadline:
        log = (stack.nginx.folder / "access.log").read_text()
        if wanted not in log:
            time.sleep(0.05)
    assert wanted in log


def test_a_bad_key_flood_is_refused_within_a_second_and_a_good_client_elsewhere_is_not(
    stack: Stack,
) -> None:
    good = httpx.Client(
        base_url=stack.base,
        headers={"Authorization": f"Bearer {stack.key}"},
        transport=httpx.HTTPTransport(local_address="127.0.0.2"),
        timeout=10,
    )
    flood = httpx.Client(
        base_url=stack.base,
        # Claiming another address is no use: nginx replaces X-Forwarded-For with the one it saw.
        headers={"X-Forwarded-For": "10.1.2.3"},
        transport=httpx.HTTPTransport(local_address="127.0.0.1"),
        timeout=10,
    )
    statuses: list[int] = []
    first_refusal = None
    started = time.monotonic()
    with good, flood:
        for n in range(300):
            key = f"rf_{secrets.token_hex(6)}_{secrets.token_urlsafe(24)}"
            response = flood.get("/v1/roles", headers={"Authorization": f"Bearer {key}"})
            statuses.append(response.status_code)
            assert response.headers["content-type"] == PROBLEM
            if response.status_code == 429 and first_refusal is None:
                first_refusal = time.monotonic() - started
                assert int(response.headers["Retry-After"]) >= 1
            if n % 20 == 0:
                assert good.get("/v1/roles").status_code == 200
        assert good.get("/v1/roles").status_code == 200

    assert set(statuses) <= {401, 429}
    assert first_refusal is not None and first_refusal < 1.0
    # Each 401 of a well-formed key is one lookup: at most the limit, plus one for each other
    # worker that learns of the block by its own failure.
    assert statuses.count(401) <= FAILURE_LIMIT + WORKERS - 1
    assert statuses.index(429) <= FAILURE_LIMIT + WORKERS - 1


def test_a_request_without_a_body_is_not_kept_waiting_for_one(stack: Stack) -> None:
    """gunicorn marks every body stream terminated; one without Content-Length reads as empty."""
    started = time.monotonic()
    lines = [
        "DELETE /v1/candidates/0190a6b4-0000-7000-8000-000000000000 HTTP/1.1",
        "Host: rolefit.test",
        f"Authorization: Bearer {stack.key}",
        "Connection: close",
    ]
    answer = exchange(stack, ("\r\n".join(lines) + "\r\n\r\n").encode(), source="127.0.0.2")
    answer.problem(404)
    assert time.monotonic() - started < 3
