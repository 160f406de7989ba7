"""The client's handshake request as the recorder judges it: origin, token, headers.

Pure functions over websockets' ``Headers``: which origins count as loopback, the one
value of a header that must not be repeated, and which headers go upstream.
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from websockets.datastructures import Headers

TOKEN_HEADER = "X-Rtcapture-Token"
TOKEN_SUBPROTOCOL = "rtcapture-token."
BLOCKED_HEADERS = frozenset({
    "host", "cookie", "connection", "upgrade", "keep-alive", "te", "trailer",
    "transfer-encoding", "proxy-authorization", "proxy-authenticate", "proxy-connection",
    "content-length", "origin", TOKEN_HEADER.lower(),
    # what a proxy on the way says about the client's network
    "forwarded", "x-real-ip", "via",
})
"""Never forwarded upstream (plus ``Sec-WebSocket-*``, ``X-Forwarded-*`` and the headers
the request's ``Connection`` header names: RFC 9110 7.6.1, hop-by-hop)."""
BLOCKED_PREFIXES = ("sec-websocket-", "x-forwarded-")


class RepeatedHeader(ValueError):
    """A header the recorder decides on came more than once (which one would count?)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"repeated {name} header")
        self.name = name


def single(headers: Headers, name: str) -> str | None:
    """The value of a header that may appear at most once (RepeatedHeader otherwise)."""
    values = headers.get_all(name)
    if len(values) > 1:
        raise RepeatedHeader(name)
    return values[0] if values else None


def is_loopback_origin(origin: str) -> bool:
    """True for an ``http(s)`` origin whose host is ``localhost`` or a loopback address
    (127.0.0.0/8, ``::1``); the host is parsed and compared whole, never by prefix."""
    try:
        parts = urlsplit(origin)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host or parts.username is not None:
        return False
    if host == "localhost":  # urlsplit lower-cases the host
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def offered_subprotocols(headers: Headers) -> list[str]:
    """Every subprotocol the client offered, in order, over all its headers."""
    return [p.strip() for value in headers.get_all("Sec-WebSocket-Protocol")
            for p in value.split(",") if p.strip()]


def token_ok(headers: Headers, token: str) -> bool:
    """The client presented ``token`` (header or subprotocol), compared in constant time;
    RepeatedHeader when the token header came twice."""
    expected = token.encode()
    presented = [single(headers, TOKEN_HEADER) or ""] + [
        p[len(TOKEN_SUBPROTOCOL):] for p in offered_subprotocols(headers)
        if p.startswith(TOKEN_SUBPROTOCOL)]
    return any(hmac.compare_digest(p.encode(), expected) for p in presented if p)


def upstream_headers(client: Headers, base: Headers) -> Headers:
    """``base`` (the upstream request's own headers) plus the client's end-to-end ones."""
    named = {token.strip().lower() for value in client.get_all("Connection")
             for token in value.split(",")}
    headers = Headers(base)
    for name, value in client.raw_items():
        lower = name.lower()
        if lower in BLOCKED_HEADERS or lower in named or lower.startswith(BLOCKED_PREFIXES):
            continue
        headers[name] = value
    return headers
