"""A real webhook receiver on 127.0.0.1 and helpers to register endpoints and emit events."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy.orm import Session

from service.domain.events import emit
from service.infra.secrets import SecretBox, new_signing_secret
from service.models import WebhookEndpoint
from tests.conftest import make_config

TEST_KEY = "test key"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with the next of ``script`` (status, headers), then ``default``;
    waits ``delay`` seconds before answering."""

    url: str
    received: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    default: int = 204
    delay: float = 0.0
    started: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"received {len(self.received)} of {count}")
            time.sleep(0.01)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            with receiver.lock:
                receiver.started += 1
                status, headers = (
                    receiver.script.pop(0) if receiver.script else (receiver.default, {})
                )
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if receiver.delay:
                time.sleep(receiver.delay)
            with receiver.lock:
                receiver.received.append(
                    Received(
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        time.monotonic(),
                    )
                )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            reply = b"" if status == 204 else b"ok"
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *_: Any) -> None:
            pass

    return Handler


@contextlib.contextmanager
def _serving(ports: Iterable[int]) -> Iterator[Receiver]:
    server = None
    for port in ports:
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), BaseHTTPRequestHandler)
            break
        except OSError:
            continue
    assert server is not None, "no free port"
    receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook")
    server.RequestHandlerClass = _handler(receiver)
    server.daemon_threads = True
    server.handle_error = lambda *_: None  # type: ignore[method-assign] # a client hung up
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with _serving([0]) as receiver:
        yield receiver


@pytest.fixture
def named_receiver() -> Iterator[Receiver]:
    """A receiver at ``http://localhost:<port below 10000>/hook``, a URL the API's
    registration accepts (a host name, a port of at most four digits)."""
    start = 8100 + os.getpid() % 1500
    with _serving(range(start, start + 200)) as receiver:
        receiver.url = receiver.url.replace("127.0.0.1", "localhost")
        yield receiver


def add_endpoint(
    session: Session,
    url: str,
    event_types: list[str] | None = None,
    *,
    previous: str | None = None,
    previous_expires: datetime | None = None,
    created_at: datetime | None = None,
) -> tuple[WebhookEndpoint, str]:
    """An endpoint as the API registers it; its secret."""
    box = SecretBox(TEST_KEY)
    secret = new_signing_secret()
    endpoint = WebhookEndpoint(
        url=url,
        event_types=event_types or ["candidate.*"],
        secret_encrypted=box.seal(secret),
        previous_secret_encrypted=box.seal(previous) if previous else None,
        previous_secret_expires_at=previous_expires,
    )
    if created_at is not None:
        endpoint.created_at = created_at
    session.add(endpoint)
    session.commit()
    return endpoint, secret


def emit_events(session: Session, count: int, type: str = "candidate.created") -> list[str]:
    """``count`` events about new subjects, committed; their subject ids."""
    subjects = [str(uuid.uuid4()) for _ in range(count)]
    for subject in subjects:
        emit(session, type, ("candidate", subject), {"source": "test", "external_id": None})
    session.commit()
    return subjects


def worker_config(database_url: str, **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "secret_key": TEST_KEY,
        "webhooks_allow_http": True,
        "webhooks_allow_private": True,
    }
    options.update(overrides)
    return make_config(database_url, **options)


RunWorker = Callable[..., None]
