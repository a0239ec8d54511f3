"""The SSRF guard: what a URL says (registration) and what its host resolves to (every
delivery, at connect time, to the very address checked)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from service.infra import webhook_http
from service.infra.webhook_http import WebhookClient, check_url, parse_retry_after
from tests.worker.conftest import Receiver


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/rolefit",
        "https://hooks.example.com:8443/a?b=c",
        "https://93.184.215.14/x",
        "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/x",
    ],
)
def test_public_https_urls_are_accepted(url: str) -> None:
    assert check_url(url, allow_http=False, allow_private=False) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/x", "https"),
        ("ftp://hooks.example.com/x", "https"),
        ("hooks.example.com/x", "https"),
        ("https:///x", "no host"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://localhost:8000/x", "loopback"),
        ("https://api.localhost/x", "loopback"),
        ("https://[::1]/x", "loopback"),
        ("https://10.1.2.3/x", "private"),
        ("https://192.168.0.10/x", "private"),
        ("https://172.16.5.4/x", "private"),
        ("https://[fc00::1]/x", "private"),
        ("https://[::ffff:10.0.0.1]/x", "private"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://[fe80::1]/x", "metadata"),
        ("https://[fd00:ec2::254]/x", "metadata"),
        ("https://[::ffff:169.254.169.254]/x", "metadata"),
        ("https://100.100.100.200/x", "metadata"),
        ("https://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("https://0.0.0.0/x", "metadata"),
        ("https://hooks.example.com:99999/x", "valid"),
    ],
)
def test_refused_urls(url: str, reason: str) -> None:
    refused = check_url(url, allow_http=False, allow_private=False)
    assert refused is not None and reason in refused


def test_the_flags_allow_http_and_private_but_never_metadata() -> None:
    assert check_url("http://127.0.0.1:9000/x", allow_http=True, allow_private=True) is None
    assert check_url("http://10.0.0.5/x", allow_http=True, allow_private=True) is None
    assert check_url("https://localhost/x", allow_http=False, allow_private=True) is None
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://[fe80::1%25eth0]/"):
        assert check_url(url, allow_http=True, allow_private=True) is not None
    assert check_url("http://10.0.0.5/x", allow_http=True, allow_private=False) is not None


def _resolving_to(monkeypatch: pytest.MonkeyPatch, mapping: dict[str, list[str]]) -> list[str]:
    """Make ``getaddrinfo`` answer ``mapping`` for those names; returns the names asked."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in mapping:
            asked.append(host)
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port, 0, 0) if ":" in a else (a, port),
                )
                for a in mapping[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(webhook_http.socket, "getaddrinfo", fake)
    return asked


def test_a_name_resolving_to_metadata_is_refused_at_delivery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The URL passes registration; its name resolves to 169.254.169.254 when delivering."""
    asked = _resolving_to(monkeypatch, {"evil.example.com": ["169.254.169.254"]})
    url = "https://evil.example.com/hook"
    assert check_url(url, allow_http=False, allow_private=True) is None
    client = WebhookClient(allow_http=False, allow_private=True)
    answer = client.post(url, b"{}", {})
    client.close()
    assert answer.status_code is None
    assert answer.error is not None and "address refused" in answer.error
    assert "metadata" in answer.error
    assert asked == ["evil.example.com"]


def test_dns_rebinding_to_loopback_is_refused(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    """A public name that resolves to 127.0.0.1 when delivering: refused without the flag,
    and nothing reaches the receiver listening there."""
    port = receiver.url.split(":")[2].split("/")[0]
    _resolving_to(monkeypatch, {"rebind.example.com": ["127.0.0.1"]})
    client = WebhookClient(allow_http=True, allow_private=False)
    answer = client.post(f"http://rebind.example.com:{port}/hook", b"{}", {})
    client.close()
    assert answer.error is not None and "loopback" in answer.error
    assert receiver.received == []


def test_only_allowed_addresses_are_connected_to(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    """Of a name's addresses the refused ones are dropped and the checked one is connected
    to; the request keeps the name in its Host header."""
    port = receiver.url.split(":")[2].split("/")[0]
    _resolving_to(monkeypatch, {"hooks.example.test": ["169.254.169.254", "127.0.0.1"]})
    client = WebhookClient(allow_http=True, allow_private=True)
    answer = client.post(f"http://hooks.example.test:{port}/hook", b"{}", {"x-a": "1"})
    client.close()
    assert answer.status_code == 204, answer.error
    assert receiver.received[0].headers["host"] == f"hooks.example.test:{port}"


def test_proxies_from_the_environment_are_ignored(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://169.254.169.254:80")
    monkeypatch.setenv("ALL_PROXY", "http://169.254.169.254:80")
    client = WebhookClient(allow_http=True, allow_private=True)
    answer = client.post(receiver.url, b"{}", {})
    client.close()
    assert answer.status_code == 204


def test_no_answer_is_a_failure_within_the_timeout(receiver: Receiver) -> None:
    receiver.delay = 1.0
    client = WebhookClient(allow_http=True, allow_private=True, timeout=0.3)
    answer = client.post(receiver.url, b"{}", {})
    client.close()
    assert answer.status_code is None and answer.error is not None
    assert answer.duration < 0.9


def test_retry_after_parsing() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after("86400") == 3600
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 60) == 60
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
