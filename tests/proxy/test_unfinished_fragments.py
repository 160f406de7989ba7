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
@pytest.mark.parametrize("side", ["client", "server"])
async def test_unfinished_message_is_recorded(sqlite_url: str, side: str, ending: str) -> None:
    """The client (or the upstream) sends two fragments of a message, then closes (a close
    frame, or the TCP connection dies): the other side got both fragments, and the session
    stores them as one frame marked incomplete, after the complete frame before it."""
    up = await Upstream().start()
    try:
        async with running_recorder(sqlite_url, up.url) as rec:
            client = await raw_connect(rec.url)
            conn = up.connections[0]
            sender, receiver = (client, conn) if side == "client" else (conn, client)
            sender.send(b'{"type": "whole"}')
            sender.proto.send_text(PARTS[0], fin=False)
            sender.proto.send_continuation(PARTS[1], fin=False)
            sender.flush()
            await receiver.wait_for(lambda: len(receiver.frames) == 3, deadline(5))
            assert [bytes(f.data) for f in receiver.frames[1:]] == PARTS
            assert [f.opcode for f in receiver.frames[1:]] == [Opcode.TEXT, Opcode.CONT]
            if ending == "close":
                sender.close()
            else:
                assert sender.transport is not None
                sender.transport.abort()
            await asyncio.wait_for(receiver.closed, deadline(5))
    finally:
        await up.stop()
    with open_store(sqlite_url) as store:
        session = store.session(store.resolve("last"))
        events = list(store.events(session.id))
    assert [(e.direction, e.data, e.parse_error) for e in events] == [
        (side, b'{"type": "whole"}', None), (side, b"".join(PARTS), INCOMPLETE_MESSAGE)]
    counts = {"client": session.client_events, "server": session.server_events}
    assert events[1].delivered and counts[side] == 2
