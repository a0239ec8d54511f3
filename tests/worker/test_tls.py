"""https through the guard: the connection goes to the checked address while SNI and the
certificate check use the URL's name (a self-signed certificate, trusted by the test only)."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from service.infra.webhook_http import WebhookClient
from tests.worker.test_ssrf import _resolving_to

NAME = "hooks.example.test"


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        _Handler.seen.append(self.headers.get("host", ""))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    cert, key = _certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    server.handle_error = lambda *_: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    _Handler.seen = []
    yield server.server_address[1], cert
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_https_to_the_checked_address_with_the_names_certificate(
    tls_server: tuple[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, cert = tls_server
    _resolving_to(monkeypatch, {NAME: ["127.0.0.1"], "other.example.test": ["127.0.0.1"]})
    trusted = ssl.create_default_context(cafile=str(cert))
    client = WebhookClient(allow_http=False, allow_private=True, ssl_context=trusted)
    answer = client.post(f"https://{NAME}:{port}/hook", b"{}", {})
    assert answer.status_code == 204, answer.error
    assert _Handler.seen == [f"{NAME}:{port}"]
    # The same address under a name the certificate does not carry: refused by verification.
    wrong = client.post(f"https://other.example.test:{port}/hook", b"{}", {})
    client.close()
    assert wrong.status_code is None and wrong.error is not None
    assert "certificate" in wrong.error.lower() or "hostname" in wrong.error.lower()
    assert _Handler.seen == [f"{NAME}:{port}"]  # nothing sent over the unverified connection
