"""Close codes pass through both ways and are stored with the side that closed."""

from __future__ import annotations

import asyncio

import pytest

from rtcapture.store import open_store
from tests.conftest import deadline

from .conftest import running_recorder
from .peers import SESSION_CREATED, Upstream, raw_connect, realtime_reply

NON_ASCII = "bye – adiós"
LONGEST = "ñ" * 61 + "!"
"""123 bytes of UTF-8: the longest reason a close frame holds."""
CLOSES = pytest.mark.parametrize(("code", "reason"), [
    (1001, "going"), (3000, "invalid_api_key"), (4000, "invalid_request_error.beta_api_shape"),
    pytest.param(1001, NON_ASCII, id="1001-non-ascii"),
    pytest.param(3000, NON_ASCII, id="3000-non-ascii"),
    pytest.param(4000, NON_ASCII, id="4000-non-ascii"),
    pytest.param(4321, LONGEST, id="4321-123-bytes"),
])
"""Close codes the Realtime API uses (1001 going away, 3000/4000 ranges) and reasons."""


@CLOSES
async def test_server_close_reaches_client(sqlite_url: str, code: int, reason: str) -> None:
    """The upstream's close code and reason reach the client and the record."""
    up = await Upstream(reply=realtime_reply, greeting=SESSION_CREATED).start()
    try:
        async with running_recorder(sqlite_url, up.url) as rec:
            client = await raw_connect(rec.url)
            await client.wait_for(lambda: len(client.received) == 1, deadline(5))
            up.connections[0].close(code, reason)
            assert await asyncio.wait_for(client.closed, deadline(5)) == (code, reason)
    finally:
        await up.stop()
    store = open_store(sqlite_url)
    session = store.session(store.resolve("last"))
    assert (session.close_code, session.close_reason, session.closed_by) == (
        code, reason, "server")
    assert session.status == "closed"
    store.close()


@CLOSES
async def test_client_close_reaches_upstream(sqlite_url: str, upstream: Upstream, code: int,
                                             reason: str) -> None:
    """The client's close code and reason reach the upstream and the record."""
    async with running_recorder(sqlite_url, upstream.url) as rec:
        client = await raw_connect(rec.url)
        await client.wait_for(lambda: len(client.received) == 1, deadline(5))
        client.close(code, reason)
        conn = upstream.connections[0]
        assert await asyncio.wait_for(conn.closed, deadline(5)) == (code, reason)
        assert await asyncio.wait_for(client.closed, deadline(5)) == (code, reason)
    store = open_store(sqlite_url)
    session = store.session(store.resolve("last"))
    assert (session.close_code, session.close_reason, session.closed_by) == (
        code, reason, "client")
    assert session.status == "closed"
    store.close()


async def test_upstream_drop_gives_1014_and_undelivered(sqlite_url, upstream) -> None:
    """Upstream TCP dies: the client gets 1014; frames after that are stored undelivered."""
    async with running_recorder(sqlite_url, upstream.url) as rec:
        client = await raw_connect(rec.url)
        await client.wait_for(lambda: len(client.received) == 1, deadline(5))
        upstream.connections[0].transport.abort()
        code, _ = await asyncio.wait_for(client.closed, deadline(5))
        assert code == 1014


async def test_client_drop_gives_1001(sqlite_url, upstream) -> None:
    """Client TCP dies: the upstream gets 1001."""
    async with running_recorder(sqlite_url, upstream.url) as rec:
        client = await raw_connect(rec.url)
        await client.wait_for(lambda: len(client.received) == 1, deadline(5))
        client.transport.abort()
        code, _ = await asyncio.wait_for(upstream.connections[0].closed, deadline(5))
        assert code == 1001
    store = open_store(sqlite_url)
    session = store.session(store.resolve("last"))
    assert session.closed_by == "client" and session.close_code == 1006
    store.close()
