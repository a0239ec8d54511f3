"""The client's address behind a trusted proxy: ``REMOTE_ADDR`` from ``X-Forwarded-For``.

gunicorn believes ``X-Forwarded-Proto`` from the addresses in ``forwarded_allow_ips`` but leaves
``REMOTE_ADDR`` the proxy's own. :class:`ForwardedFor` applies the same trust
(``ROLEFIT_FORWARDED_ALLOW_IPS``, the variable gunicorn.conf.py reads) to the client address:
when the peer is a trusted proxy, the client is the rightmost address of ``X-Forwarded-For``
that is not itself a trusted proxy (each proxy appends the address it saw, so only the entries
added by trusted hops can be believed; deploy/nginx.conf replaces the header with the one
address it saw). From any other peer the header is ignored, so a client cannot choose the
address its failed authentications are counted against.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(setting: str) -> tuple[bool, list[Network]]:
    """``(trust every peer, networks)`` of a list like ``127.0.0.1,10.0.0.0/8`` (or ``*``)."""
    entries = [entry.strip() for entry in setting.split(",") if entry.strip()]
    networks = [ipaddress.ip_network(entry, strict=False) for entry in entries if entry != "*"]
    return "*" in entries, networks


class ForwardedFor:
    """WSGI middleware: ``REMOTE_ADDR`` becomes the client a trusted proxy saw (the proxy's own
    address stays in ``rolefit.proxy_addr``)."""

    def __init__(self, app: Any, trusted: str) -> None:
        self.app = app
        self._any, self._networks = trusted_networks(trusted)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")
        peer = environ.get("REMOTE_ADDR") or ""
        if forwarded and self._trusted(peer, unix_socket_ok=True):
            client = self._client(forwarded)
            if client is not None:
                environ["rolefit.proxy_addr"] = peer
                environ["REMOTE_ADDR"] = client
        response: Iterable[bytes] = self.app(environ, start_response)
        return response

    def _trusted(self, address: str, *, unix_socket_ok: bool = False) -> bool:
        if self._any:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            # A unix socket has no address: only a local proxy can reach it (gunicorn trusts
            # such connections unconditionally too).
            return unix_socket_ok
        return any(ip in network for network in self._networks)

    def _client(self, forwarded: str) -> str | None:
        hops = [hop.strip() for hop in forwarded.split(",")]
        for hop in reversed(hops):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return None  # a hop no proxy of ours wrote: believe none of it
            if not self._trusted(hop):
                return hop
        return hops[0]  # every hop is one of our proxies: the first one is the client
