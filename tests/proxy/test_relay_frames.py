"""Frames the protocol does not expect are still relayed unchanged and stored."""

from __future__ import annotations

import asyncio
import json

from rtcapture.store import open_store
from tests.conftest import deadline

from .conftest import running_recorder
from .peers import Upstream, assert_serves_another, echo, raw_connect


async def _echo_upstream() -> Upstream:
    return await Upstream(reply=echo).start()


async def test_odd_frames_relayed_and_stored(sqlite_url) -> None:
    """Invalid JSON, a binary frame, a 4 MiB frame, invalid UTF-8 and fragments pass unchanged."""
    up = await _echo_upstream()
    big = json.dumps({"type": "input_audio_buffer.append", "audio": "A" * (4 << 20)}).encode()
    frames = [
        (b'{"type": "session.update", "session": ', False),  # invalid JSON
        (bytes(range(256)), True),  # binary
        (big, False),  # 4 MiB
        (b'{"type": "x", "v": "\xff\xfe"}', False),  # invalid UTF-8 in a text frame
        (b'{"type": "\\ud800"}', False),  # lone surrogate
        (b"[1, 2, 3]", False),  # JSON, not an object
        (b"[" * 5000 + b"]" * 5000, False),  # deep nesting
    ]
    try:
        async with running_recorder(sqlite_url, up.url) as rec:
            client = await raw_connect(rec.url)
            for data, binary in frames:
                client.send(data, binary=binary)
            client.send_fragments([b'{"type": "frag', b'mented.event", ', b'"n": 1}'])
            await client.wait_for(lambda: len(client.received) == len(frames) + 1,
                                  deadline(15))
            assert [m.data for m in client.received] == [m.data for m in client.sent]
            assert [m.opcode for m in client.received] == [m.opcode for m in client.sent]
            conn = up.connections[0]
            assert [(m.opcode, m.data) for m in conn.received] == \
                [(m.opcode, m.data) for m in client.sent]
            client.close()
            await asyncio.wait_for(client.closed, deadline(5))
            # the recorder serves the next session
            await assert_serves_another(rec.url)
    finally:
        await up.stop()
    store = open_store(sqlite_url)
    first = store.sessions()[-1]
    events = list(store.events(first.id))
    client_events = [e for e in events if e.direction == "client"]
    assert [e.data for e in client_events] == [m.data for m in client.sent]
    assert [e.opcode for e in client_events] == [m.opcode for m in client.sent]
    errors = [e.parse_error for e in client_events]
    assert errors[0] and errors[0].startswith("invalid JSON")
    assert errors[1] == "binary frame"
    assert errors[2] is None and client_events[2].audio_bytes == 3 << 20
    assert errors[3] == "invalid UTF-8"
    assert errors[5] == "JSON value is not an object"
    assert errors[6] == "JSON nested too deeply"
    assert client_events[7].type == "fragmented.event"
    assert len(store.sessions()) == 2
    store.close()


async def test_oversized_frame_closes_with_1009(sqlite_url) -> None:
    """A message above --max-frame closes the session with 1009, recorded as such."""
    up = await _echo_upstream()
    try:
        async with running_recorder(sqlite_url, up.url, max_frame=64 * 1024) as rec:
            client = await raw_connect(rec.url)
            client.send(b'{"type": "small"}')
            await client.wait_for(lambda: len(client.received) == 1, deadline(5))
            client.send(b"x" * (64 * 1024 + 1))
            code, _ = await asyncio.wait_for(client.closed, deadline(10))
            assert code == 1009
            await up.connections[0].wait_for(lambda: up.connections[0].closed.done(),
                                              deadline(10))
            assert up.connections[0].closed.result()[0] == 1009
    finally:
        await up.stop()
    store = open_store(sqlite_url)
    rec = store.session(store.resolve("last"))
    assert rec.close_code == 1009 and rec.closed_by == "recorder"
    assert [e.data for e in store.events(rec.id)] == [b'{"type": "small"}'] * 2
    store.close()
