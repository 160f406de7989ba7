"""Playback serves a recording's server frames byte-exact, in step with the client."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from websockets.asyncio.client import connect

from rtcapture.mock import serve_mock
from rtcapture.store import open_store
from tests.conftest import deadline
from tests.factories import make_session

# Server frames with odd spacing, unicode and a binary frame: anything re-serialised shows.
FRAMES = [
    ("server", b'{"type":"session.created","event_id":"event_1","session":{"id":"sess_1"}}', 0),
    ("client", {"type": "session.update", "session": {"type": "realtime"}}, 40),
    ("server", b'{"type": "session.updated",  "event_id":"event_2", "note":"caf\xc3\xa9"}', 55),
    ("client", {"type": "conversation.item.create", "item": {"type": "message"}}, 100),
    ("client", {"type": "response.create"}, 120),
    ("server", b'{"type":"conversation.item.added","event_id":"event_3"}', 130),
    ("server", b"\x00\x01\x02binary", 140),
    ("server", b'{"type":"response.done","event_id":"event_4"}', 540),
]


def recording(db_url: str) -> list:
    store = open_store(db_url)
    sid = make_session(store, FRAMES)
    return list(store.events(sid))


async def play(url: str, client_frames: list[bytes], expected: int,
               recv_timeout: float = 5.0) -> list[str | bytes]:
    """Send client frames as the recording did and collect ``expected`` server frames."""
    got: list[str | bytes] = []
    async with connect(url + "/v1/realtime?model=gpt-realtime") as ws:
        pending = list(client_frames)
        plan = [d for d, _, _ in FRAMES]
        for direction in plan:
            if direction == "client":
                await ws.send(pending.pop(0).decode())
            else:
                async with asyncio.timeout(deadline(recv_timeout)):
                    got.append(await ws.recv())
        assert len(got) == expected
    return got


async def test_frames_come_back_byte_exact(sqlite_url) -> None:
    """Every recorded server frame returns with its bytes and its opcode."""
    events = recording(sqlite_url)
    clients = [e.data for e in events if e.direction == "client"]
    async with serve_mock(playback=events, fast=True) as mock:
        got = await play(mock.url, clients, expected=5)
    servers = [e for e in events if e.direction == "server"]
    for frame, ev in zip(got, servers, strict=True):
        if ev.opcode == "binary":
            assert frame == ev.data
        else:
            assert isinstance(frame, str) and frame.encode() == ev.data


async def test_waits_for_the_client_frames_that_preceded(sqlite_url) -> None:
    """A server frame that followed a client frame is not sent before that frame arrives."""
    events = recording(sqlite_url)
    async with serve_mock(playback=events, fast=True) as mock, \
            connect(mock.url + "/v1/realtime") as ws:
        first = await asyncio.wait_for(ws.recv(), deadline(5))
        assert json.loads(first)["type"] == "session.created"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.3)
        await ws.send(json.dumps({"type": "session.update"}))
        second = await asyncio.wait_for(ws.recv(), deadline(5))
        assert json.loads(second)["type"] == "session.updated"


async def test_recorded_gaps_scaled_by_speed(sqlite_url) -> None:
    """The 400 ms gap before response.done is kept, halved at speed 2."""
    events = recording(sqlite_url)
    clients = [e.data for e in events if e.direction == "client"]
    for speed, minimum in ((1.0, 0.38), (2.0, 0.19)):
        async with serve_mock(playback=events, speed=speed) as mock, \
                connect(mock.url + "/v1/realtime") as ws:
            await ws.recv()
            for data in clients:
                await ws.send(data.decode())
            frames = []
            stamps = []
            while len(frames) < 4:
                frames.append(await asyncio.wait_for(ws.recv(), deadline(5)))
                stamps.append(time.monotonic())
            gap = stamps[3] - stamps[2]
            assert gap >= minimum, (speed, gap)
            assert gap < minimum * 4


async def _ending(events: list, close) -> tuple[int | None, object]:
    """Play a short recording ending with ``close``; the client's close code and the
    close frame it received (None when the connection was dropped)."""
    async with serve_mock(playback=events, fast=True, close=close) as mock, \
            connect(mock.url + "/v1/realtime") as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "session.update"}))
        await ws.recv()
        async with asyncio.timeout(deadline(5)):
            await ws.wait_closed()
        return ws.close_code, ws.protocol.close_rcvd


async def test_server_close_is_replayed(sqlite_url) -> None:
    """With a recorded server close, the mock closes the same way after the last frame."""
    events = [e for e in recording(sqlite_url) if e.seq < 3]  # created, update, updated
    code, frame = await _ending(events, (4000, "bye now"))
    assert code == 4000 and frame is not None and frame.reason == "bye now"


async def test_dropped_and_codeless_server_closes_are_replayed(sqlite_url) -> None:
    """A recording whose server dropped the connection (1006) ends with the connection
    dropped; one whose close frame had no code (1005) ends with such a frame."""
    from rtcapture.mock.playback import recorded_close
    from rtcapture.store import SessionRecord, utcnow

    events = [e for e in recording(sqlite_url) if e.seq < 3]

    def record(closed_by: str, code: int | None) -> SessionRecord:
        return SessionRecord(id="x", started=utcnow(), closed_by=closed_by, close_code=code,
                             close_reason="connection lost" if code == 1006 else None)

    dropped = recorded_close(record("server", 1006))
    code, frame = await _ending(events, dropped)
    assert (code, frame) == (1006, None)
    codeless = recorded_close(record("server", 1005))
    code, frame = await _ending(events, codeless)
    assert code == 1005 and frame is not None and frame.code == 1005
    assert recorded_close(record("client", 1000)) is None
    assert recorded_close(record("server", 4001)) == (4001, "")
