"""Handshakes built to slip past the recorder's checks: look-alike origins, repeated
headers, headers that tell the upstream about the client's network."""

from __future__ import annotations

import asyncio
import logging

import pytest

from rtcapture.store import open_store
from tests.conftest import deadline

from .conftest import running_recorder
from .peers import raw_connect

FOREIGN_ORIGINS = [
    "http://127.0.0.1.evil.example",
    "http://127.evil.example",
    "http://localhost.evil.example",
    "https://evil.example:443#@127.0.0.1",
    "http://evil.example/127.0.0.1",
    "http://[::2]",
    "null",
    "",
]
LOOPBACK_ORIGINS = [
    "http://localhost:3000",
    "http://LOCALHOST",
    "https://127.0.0.1",
    "http://127.8.9.10:8080",
    "http://[::1]:5173",
]


async def _round_trip(url: str, **kwargs: object) -> None:
    client = await raw_connect(url, **kwargs)  # type: ignore[arg-type]
    await client.wait_for(lambda: len(client.received) == 1, deadline(5))
    client.close()
    await asyncio.wait_for(client.closed, deadline(5))


async def test_only_real_loopback_origins_pass(sqlite_url, upstream) -> None:
    """Origins that merely start like a loopback host get 403; loopback ones (all of
    127.0.0.0/8, ::1, localhost, any port or scheme) are let through."""
    async with running_recorder(sqlite_url, upstream.url) as rec:
        for origin in FOREIGN_ORIGINS:
            with pytest.raises(ConnectionError, match="HTTP 403"):
                await raw_connect(rec.url, headers=[("Origin", origin)], timeout=deadline(5))
        assert upstream.connections == []
        for origin in LOOPBACK_ORIGINS:
            await _round_trip(rec.url, headers=[("Origin", origin)])
    assert len(upstream.connections) == len(LOOPBACK_ORIGINS)


@pytest.mark.parametrize("header", ["Origin", "X-Rtcapture-Token", "Host"])
async def test_repeated_security_header_is_400(sqlite_url, upstream, header, caplog) -> None:
    """A repeated Origin or token header gets HTTP 400, one line, and a failed session
    row (it used to raise inside the protocol: no answer, a traceback, a 1006 row); so
    does a repeated Host (RFC 9112 3.2; it used to pass)."""
    value = {"Origin": "http://localhost", "Host": "127.0.0.1"}.get(header, "tok-123456")
    caplog.set_level(logging.DEBUG)
    async with running_recorder(sqlite_url, upstream.url, token="tok-123456") as rec:
        for _ in range(3):
            with pytest.raises(ConnectionError, match="HTTP 400"):
                await raw_connect(rec.url, timeout=deadline(5), headers=[
                    ("X-Rtcapture-Token", "tok-123456"), (header, value), (header, value)]
                    if header != "X-Rtcapture-Token" else [(header, value), (header, value)])
        assert upstream.connections == []
    lines = list(rec.lines)  # type: ignore[attr-defined]  # failed lines come from the writer
    assert len(lines) == 3 and all(f"HTTP 400 repeated {header} header" in ln for ln in lines)
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert noisy == [], [r.getMessage() for r in noisy]
    store = open_store(sqlite_url)
    try:
        rows = [(s.status, s.close_code) for s in store.sessions()]
    finally:
        store.close()
    assert rows == [("failed", 400)] * 3


async def test_client_network_headers_not_forwarded(sqlite_url, upstream) -> None:
    """Forwarded, X-Real-IP, Via and the headers a Connection header names stay with the
    recorder (hop-by-hop, or they tell the upstream about the client's network)."""
    async with running_recorder(sqlite_url, upstream.url) as rec:
        await _round_trip(rec.url, headers=[
            ("Forwarded", "for=10.0.0.1;proto=https"), ("X-Real-IP", "10.0.0.2"),
            ("Via", "1.1 corp-proxy"), ("Connection", "X-Hop-One, x-hop-two"),
            ("X-Hop-One", "1"), ("X-Hop-Two", "2"), ("OpenAI-Beta", "realtime=v1")])
    request = upstream.connections[0].request
    assert request is not None
    sent = {name.lower() for name, _ in request.headers.raw_items()}
    assert sent.isdisjoint({"forwarded", "x-real-ip", "via", "x-hop-one", "x-hop-two"}), sent
    assert request.headers["OpenAI-Beta"] == "realtime=v1"
    assert request.headers["Connection"] == "Upgrade"
