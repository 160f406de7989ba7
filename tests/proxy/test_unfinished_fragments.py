"""A fragmented message whose last fragment never comes: relayed as it arrived, and
recorded as far as it got, flagged by its ``parse_error``."""

from __future__ import annotations

import asyncio

import pytest
from websockets.frames import Opcode

from rtcapture.proxy.stream import INCOMPLETE_MESSAGE
from rtcapture.store import open_store
from tests.conftest import deadline

from .conftest import running_recorder
from .peers import Upstream, raw_connect

PARTS = [b'{"type": "conversation.item.create", ', b'"item": {"type": "message", ']


@pytest.mark.parametrize("ending", ["close", "reset"])
async def test_unfinished_client_message_is_recorded(sqlite_url: str, ending: str) -> None:
    """The client sends two fragments of a message, then closes (a close frame, or the TCP
    connection dies): the upstream got both fragments, and the session stores them as one
    frame marked incomplete, after the complete frame before it."""
    up = await Upstream().start()
    try:
        async with running_recorder(sqlite_url, up.url) as rec:
            client = await raw_connect(rec.url)
            client.send(b'{"type": "whole"}')
            client.proto.send_text(PARTS[0], fin=False)
            client.proto.send_continuation(PARTS[1], fin=False)
            client.flush()
            conn = up.connections[0]
            await conn.wait_for(lambda: len(conn.frames) == 3, deadline(5))
            assert [bytes(f.data) for f in conn.frames[1:]] == PARTS
            assert [f.opcode for f in conn.frames[1:]] == [Opcode.TEXT, Opcode.CONT]
            if ending == "close":
                client.close()
            else:
                assert client.transport is not None
                client.transport.abort()
            await asyncio.wait_for(conn.closed, deadline(5))
    finally:
        await up.stop()
    with open_store(sqlite_url) as store:
        session = store.session(store.resolve("last"))
        events = list(store.events(session.id))
    assert [(e.direction, e.data, e.parse_error) for e in events] == [
        ("client", b'{"type": "whole"}', None),
        ("client", b"".join(PARTS), INCOMPLETE_MESSAGE)]
    assert events[1].delivered and session.client_events == 2


@pytest.mark.parametrize("ending", ["close", "reset"])
async def test_unfinished_upstream_message_is_recorded(sqlite_url: str, ending: str) -> None:
    """The same from the upstream's side: its two fragments reach the client, and the
    session stores them as one server frame marked incomplete."""
    up = await Upstream().start()
    try:
        async with running_recorder(sqlite_url, up.url) as rec:
            client = await raw_connect(rec.url)
            conn = up.connections[0]
            conn.send(b'{"type": "whole"}')
            conn.proto.send_text(PARTS[0], fin=False)
            conn.proto.send_continuation(PARTS[1], fin=False)
            conn.flush()
            await client.wait_for(lambda: len(client.frames) == 3, deadline(5))
            assert [bytes(f.data) for f in client.frames[1:]] == PARTS
            assert [f.opcode for f in client.frames[1:]] == [Opcode.TEXT, Opcode.CONT]
            if ending == "close":
                conn.close()
            else:
                assert conn.transport is not None
                conn.transport.abort()
            await asyncio.wait_for(client.closed, deadline(5))
    finally:
        await up.stop()
    with open_store(sqlite_url) as store:
        session = store.session(store.resolve("last"))
        events = list(store.events(session.id))
    assert [(e.direction, e.data, e.parse_error) for e in events] == [
        ("server", b'{"type": "whole"}', None),
        ("server", b"".join(PARTS), INCOMPLETE_MESSAGE)]
    assert events[1].delivered and session.server_events == 2
