"""HTTP requests out (the ``HttpSender`` port), to public addresses only.

An automation's URL is a template a tenant's administrator writes, sent from the runner, whose
network reaches what a tenant must not: its own loopback (the Lambda Runtime API), link-local and
metadata endpoints, and whatever private network it may be attached to. So the host is resolved here, every
address it resolves to is checked (``refusal``), and the connection is made to the checked address
itself, with the URL's host kept for the ``Host`` header and TLS (SNI and certificate check): a
name that resolves to a public address when checked and to 10.0.0.1 a moment later (DNS
rebinding) is never asked again. Redirects are not followed (the next hop would go unchecked).

https only. ``allow_loopback`` (the ``HTTP_ALLOW_LOOPBACK`` setting, on in the local harness and
the tests, never in template.yaml) lets plain http reach 127.0.0.1 and ::1, and nothing else.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from dealflow.ports import AmbiguousCall, HttpReply, NotPerformed, OutgoingRequest

MAX_REPLY_BYTES = 1_000_000  # read at most this much of an answer (the run keeps an excerpt)
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# The cloud's instance metadata services (EC2 IMDS over IPv4 and IPv6, the ECS task endpoint,
# Amazon Time Sync): named apart, as they are what a forged URL aims at.
METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "169.254.169.123")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
Resolver = Callable[[str, int], list[str]]


def _embedded(address: Address) -> Address:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), which is where it leads."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal(address: str, *, allow_loopback: bool = False) -> str | None:
    """Why a request may not go to ``address`` (None: it may): metadata, loopback (unless
    allowed), link-local, private, and every other address that is not globally reachable."""
    ip = _embedded(ipaddress.ip_address(address.split("%", 1)[0]))
    if ip in METADATA:
        return f"{address} is a cloud metadata address"
    if ip.is_loopback:
        return None if allow_loopback else f"{address} is a loopback address"
    if ip.is_link_local:
        return f"{address} is a link-local address"
    if ip.is_private:
        return f"{address} is a private address"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return f"{address} is not a public address"
    return None


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an address given as such, as it is)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _PinnedHttp(http.client.HTTPConnection):
    """Plain http to ``address``, whatever ``host`` resolves to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHttps(http.client.HTTPSConnection):
    """https to ``address``; the certificate is checked against ``host``, which SNI names."""

    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address, self._tls = address, context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


class GuardedHttp:
    """``HttpSender``: one request, to a checked address, answered or not within its timeout."""

    def __init__(
        self, *, allow_loopback: bool = False, resolver: Resolver = resolve, tls: ssl.SSLContext | None = None
    ) -> None:
        self.allow_loopback = allow_loopback
        self._resolve = resolver
        self._tls = tls or ssl.create_default_context()

    def _address(self, url: str) -> tuple[str, str, int, str]:
        """The request's scheme, host, port and the checked address it goes to."""
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
        if scheme not in ("https", "http") or not host:
            raise NotPerformed(f"url: '{url[:200]}' is not an https:// address")
        if parts.username or parts.password:
            raise NotPerformed("url: credentials in the address are not sent (use secret_headers)")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise NotPerformed(f"url: '{url[:200]}' has an invalid port") from None
        try:
            addresses = self._resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise NotPerformed(f"url: the host '{host}' could not be resolved ({exc})", failure="timeout") from None
        if not addresses:
            raise NotPerformed(f"url: the host '{host}' resolves to no address", failure="timeout")
        refused = [r for r in (refusal(a, allow_loopback=self.allow_loopback) for a in addresses) if r]
        if refused:
            raise NotPerformed(f"url: '{host}' is refused: {refused[0]}")
        if scheme == "http" and not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
            raise NotPerformed(f"url: '{url[:200]}' is not an https:// address")
        return scheme, host, port, addresses[0]

    def send(self, request: OutgoingRequest) -> HttpReply:
        scheme, host, port, address = self._address(request.url)
        parts = urlsplit(request.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection: Any = (
            _PinnedHttps(host, port, address, request.timeout, self._tls)
            if scheme == "https"
            else _PinnedHttp(host, port, address, request.timeout)
        )
        started = time.monotonic()
        timing: dict[str, Any] = {"address": address}
        try:
            try:
                connection.connect()
            except OSError as exc:  # nothing was sent: refused, unreachable, no TLS agreement
                timing["duration_ms"] = int((time.monotonic() - started) * 1000)
                raise NotPerformed(f"{host}: no connection ({exc})", failure="timeout", delivery=timing) from None
            try:
                connection.request(request.method, target, body=request.body or None, headers=dict(request.headers))
                response = connection.getresponse()
                body = response.read(MAX_REPLY_BYTES + 1)
            except (OSError, http.client.HTTPException) as exc:  # the request had left
                timing["duration_ms"] = int((time.monotonic() - started) * 1000)
                what = (
                    "no answer within the timeout" if isinstance(exc, TimeoutError) else f"the answer broke off ({exc})"
                )
                raise AmbiguousCall(f"{host}: {what}", failure="timeout", delivery=timing) from None
        finally:
            connection.close()
        return HttpReply(
            status=response.status,
            headers={k: v for k, v in response.getheaders()},
            body=body[:MAX_REPLY_BYTES],
            seconds=time.monotonic() - started,
            address=address,
            truncated=len(body) > MAX_REPLY_BYTES,
        )
