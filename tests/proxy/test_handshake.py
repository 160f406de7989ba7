"""The handshake: headers and subprotocols forwarded, refusals passed on, policies enforced."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from rtcapture.store import open_store
from tests.conftest import deadline

from .conftest import running_recorder
from .peers import SESSION_CREATED, Upstream, raw_connect, realtime_reply


async def test_headers_and_subprotocols_forwarded(sqlite_url, upstream) -> None:
    """Client headers reach the upstream (minus hop-by-hop ones); its subprotocol comes back."""
    async with running_recorder(sqlite_url, upstream.url) as rec:
        client = await raw_connect(
            rec.url, path="/v1/realtime?model=gpt-realtime&x=1",
            headers=[("Authorization", "Bearer sk-test-abcdefgh12345678"),
                     ("OpenAI-Beta", "realtime=v1"), ("OpenAI-Project", "proj_1"),
                     ("Cookie", "secret=1"), ("X-Forwarded-For", "10.0.0.1")],
            subprotocols=["realtime", "openai-beta.realtime-v1"])
        assert client.response is not None
        assert client.response.headers["Sec-WebSocket-Protocol"] == "realtime"
        await client.wait_for(lambda: len(client.received) == 1, deadline(5))
        request = upstream.connections[0].request
        assert request is not None
        assert request.path == "/v1/realtime?model=gpt-realtime&x=1"
        h = request.headers
        assert h["Authorization"] == "Bearer sk-test-abcdefgh12345678"
        assert h["OpenAI-Beta"] == "realtime=v1" and h["OpenAI-Project"] == "proj_1"
        assert "Cookie" not in h and "X-Forwarded-For" not in h
        assert h["Host"] == upstream.url.split("//")[1]
        assert h["Sec-WebSocket-Protocol"] == "realtime, openai-beta.realtime-v1"
        client.close()
        await asyncio.wait_for(client.closed, deadline(5))
    store = open_store(sqlite_url)
    session = store.session(store.resolve("last"))
    assert session.flavour == "beta" and session.model == "gpt-realtime"
    assert session.subprotocol == "realtime"
    stored = dict(session.headers)
    assert "sk-test-abcdefgh12345678" not in json.dumps(session.headers)
    assert stored["Authorization"].startswith("Bearer REDACTED-") and \
        stored["Authorization"].endswith("5678")
    store.close()


async def test_base_path_of_upstream_is_kept(sqlite_url) -> None:
    """--upstream ws://host/base keeps /base before the client's path."""
    up = await Upstream(reply=realtime_reply, greeting=SESSION_CREATED).start()
    try:
        async with running_recorder(sqlite_url, up.url + "/openai") as rec:
            client = await raw_connect(rec.url, path="/realtime?api-version=2025-04-01-preview")
            await client.wait_for(lambda: len(client.received) == 1, deadline(5))
            assert up.connections[0].request.path == \
                "/openai/realtime?api-version=2025-04-01-preview"
            client.close()
            await asyncio.wait_for(client.closed, deadline(5))
    finally:
        await up.stop()


@pytest.mark.parametrize("status", [401, 403, 429])
async def test_refused_handshake_passed_on(sqlite_url, status) -> None:
    """The upstream's refusal reaches the client with the same status and body."""
    body = json.dumps({"error": {"message": f"refused {status}"}}).encode()
    up = await Upstream(handshake=(status, body)).start()
    try:
        async with running_recorder(sqlite_url, up.url) as rec:
            with pytest.raises(ConnectionError, match=f"HTTP {status}"):
                await raw_connect(rec.url)
    finally:
        await up.stop()
    store = open_store(sqlite_url)
    session = store.session(store.resolve("last"))
    assert session.status == "failed" and str(status) in (session.status_reason or "")
    store.close()


async def test_refused_body_reaches_client(sqlite_url) -> None:
    """The body of a refused upstream handshake is what the client reads."""
    body = b'{"error": {"code": "invalid_api_key"}}'
    up = await Upstream(handshake=(401, body)).start()
    try:
        async with running_recorder(sqlite_url, up.url) as rec:
            reader, writer = await asyncio.open_connection("127.0.0.1", rec.port)
            writer.write(b"GET /v1/realtime HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         b"Sec-WebSocket-Version: 13\r\n\r\n")
            raw = await asyncio.wait_for(reader.read(), deadline(10))
            writer.close()
    finally:
        await up.stop()
    assert raw.startswith(b"HTTP/1.1 401 ") and raw.endswith(body)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_upstream_is_502(sqlite_url) -> None:
    """Nothing listening upstream: HTTP 502 with a one-line reason, session failed."""
    async with running_recorder(sqlite_url, f"ws://127.0.0.1:{_free_port()}") as rec:
        with pytest.raises(ConnectionError, match="HTTP 502"):
            await raw_connect(rec.url)
    store = open_store(sqlite_url)
    session = store.session(store.resolve("last"))
    assert session.status == "failed" and "unreachable" in (session.status_reason or "")
    store.close()


async def test_silent_upstream_is_504(sqlite_url) -> None:
    """An upstream that never answers the handshake: HTTP 504 after --upstream-timeout."""
    up = await Upstream(handshake="hang").start()
    try:
        async with running_recorder(sqlite_url, up.url, upstream_timeout=0.5) as rec:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            with pytest.raises(ConnectionError, match="HTTP 504"):
                await raw_connect(rec.url)
            assert loop.time() - t0 < deadline(5)
    finally:
        await up.stop()


async def test_foreign_origin_and_token(sqlite_url, upstream) -> None:
    """A foreign Origin gets 403 and a missing token 401, before the upstream is contacted."""
    async with running_recorder(sqlite_url, upstream.url, token="tok-123456") as rec:
        with pytest.raises(ConnectionError, match="HTTP 403"):
            await raw_connect(rec.url, headers=[("Origin", "https://evil.example"),
                                                ("X-Rtcapture-Token", "tok-123456")])
        with pytest.raises(ConnectionError, match="HTTP 401"):
            await raw_connect(rec.url)
        with pytest.raises(ConnectionError, match="HTTP 401"):
            await raw_connect(rec.url, headers=[("X-Rtcapture-Token", "wrong")])
        assert upstream.connections == []
        ok = await raw_connect(rec.url, headers=[("Origin", "http://localhost:3000")],
                               subprotocols=["realtime", "rtcapture-token.tok-123456"])
        assert ok.response.headers["Sec-WebSocket-Protocol"] == "realtime"
        await ok.wait_for(lambda: len(ok.received) == 1, deadline(5))
        forwarded = upstream.connections[0].request.headers
        assert "tok-123456" not in str(forwarded) and "Origin" not in forwarded
        ok.close()
        await asyncio.wait_for(ok.closed, deadline(5))
    store = open_store(sqlite_url)
    statuses = [s.status for s in store.sessions()]
    assert statuses.count("failed") == 3 and statuses.count("closed") == 1
    store.close()


async def test_path_cannot_inject_headers_or_change_host(sqlite_url, upstream) -> None:
    """An encoded CRLF stays encoded and a host-like path stays a path on the upstream."""
    async with running_recorder(sqlite_url, upstream.url) as rec:
        path = "/v1/realtime?model=m%0D%0AX-Injected:%201&next=@evil.example"
        client = await raw_connect(rec.url, path=path)
        await client.wait_for(lambda: len(client.received) == 1, deadline(5))
        request = upstream.connections[0].request
        assert request.path == path and "X-Injected" not in request.headers
        assert request.headers["Host"] == upstream.url.split("//")[1]
        client.close()
        await asyncio.wait_for(client.closed, deadline(5))
        with pytest.raises(ConnectionError, match="HTTP 400"):
            await raw_connect(rec.url, path="//evil.example/v1/realtime")
