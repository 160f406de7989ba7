"""Wire faults: a client that never reads, ping storms, an upstream reset mid-frame.

Close codes with reasons (1001/3000/4000, non-ASCII) are covered in ``test_close.py``.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import json
import socket
import struct
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from websockets.frames import Opcode
from websockets.protocol import OPEN

from rtcapture.store import open_store
from tests.conftest import deadline

from .conftest import running_recorder
from .peers import RawClient, Upstream, UpstreamConn, assert_serves_another, echo, raw_connect
from .procs import RecorderProcess, start_recorder

MB = 1 << 20
AUDIO_B64 = base64.b64encode(bytes(48 * 1024)).decode()
"""1 s of pcm16 at 24 kHz: 64 KiB of base64 per delta."""


def _status_kb(pid: int, name: str) -> int:
    """A field of /proc/PID/status in kB (VmRSS: resident now, VmHWM: peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise LookupError(f"{name} not in /proc/{pid}/status")


def _delta(i: int, repeat: int = 1) -> bytes:
    return json.dumps({"type": "response.output_audio.delta", "event_id": f"evt_{i:06d}",
                       "response_id": "resp_1", "item_id": "item_1", "output_index": 0,
                       "content_index": 0, "delta": AUDIO_B64 * repeat}).encode()


def _text_frame(peer: RawClient | UpstreamConn, data: bytes) -> bytes:
    """The wire bytes of one text frame from ``peer`` (masked if it is a client)."""
    peer.proto.send_text(data)
    return b"".join(peer.proto.data_to_send())


def _queued(sock: socket.socket | asyncio.trsock.TransportSocket, request: int) -> int:
    """A socket's kernel queue in bytes: TIOCOUTQ (sent, not acknowledged), FIONREAD (unread)."""
    return int(struct.unpack("i", fcntl.ioctl(sock.fileno(), request, b"\0" * 4))[0])


async def _until(predicate: Callable[[], bool], timeout: float) -> None:
    """Wait for a condition nothing notifies (kernel queues, another process's output)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def _closed_lines(rec: RecorderProcess, count: int) -> None:
    """Wait until the recorder printed ``count`` session-closed lines."""
    await _until(lambda: rec.stdout.count(b" closed: ") >= count, deadline(15))


def _pongs(peer: RawClient | UpstreamConn) -> list[bytes]:
    return [bytes(f.data) for f in peer.frames if f.opcode is Opcode.PONG]


def _pings(peer: RawClient | UpstreamConn) -> list[bytes]:
    return [bytes(f.data) for f in peer.frames if f.opcode is Opcode.PING]


@dataclass
class Flood:
    """Writes ``count`` chunks of wire bytes from a peer as fast as TCP takes them."""

    peer: RawClient | UpstreamConn
    chunk: Callable[[int], bytes]
    count: int
    sent: int = 0
    sent_bytes: int = 0
    task: asyncio.Task[None] | None = None

    def start(self) -> Flood:
        self.task = asyncio.create_task(self.run())
        return self

    async def run(self) -> None:
        for i in range(self.count):
            await self.peer.drain()
            transport = self.peer.transport
            if transport is None or transport.is_closing() or self.peer.proto.state is not OPEN:
                return
            data = self.chunk(i)
            transport.write(data)
            self.sent += 1
            self.sent_bytes += len(data)

    async def watch(self, pid: int, still: float = 1.0) -> int:
        """Sample the recorder's RSS until this flood made no progress for ``still``
        seconds (something holds it) or ended (nothing did); the peak in kB.

        Proving that something does not happen takes a window of time: the samples are a
        measurement; every wait on the peers is on a condition.
        """
        assert self.task is not None
        peak, last, since = 0, -1, time.monotonic()
        async with asyncio.timeout(deadline(15)):
            while not self.task.done():
                peak = max(peak, _status_kb(pid, "VmRSS"))
                if self.sent != last:
                    last, since = self.sent, time.monotonic()
                elif time.monotonic() - since >= still:
                    break
                await asyncio.sleep(0.05)  # RSS sampling interval
        return max(peak, _status_kb(pid, "VmRSS"))


async def _stall_client(rec: RecorderProcess, up: Upstream, count: int
                        ) -> tuple[RawClient, Flood]:
    """Open a session, stop the client reading, flood it with ``count`` 64 KiB deltas
    until TCP holds the upstream; assert the recorder's memory stayed bounded."""
    total = count * len(_delta(0))
    client = await raw_connect(rec.url)
    assert client.transport is not None
    client.transport.pause_reading()
    conn = up.connections[-1]
    baseline = _status_kb(rec.proc.pid, "VmRSS")
    flood = Flood(conn, lambda i: _text_frame(conn, _delta(i)), count).start()
    peak = await flood.watch(rec.proc.pid)
    held = f"upstream held after {flood.sent_bytes / MB:.0f} of {total / MB:.0f} MB; " \
           f"recorder RSS {baseline / 1024:.0f} -> {peak / 1024:.0f} MB"
    print(held)
    assert flood.task is not None and not flood.task.done(), held
    assert flood.sent_bytes < total // 2, held
    assert peak - baseline < 100 * 1024, held
    return client, flood


async def test_client_that_never_reads_holds_the_upstream(sqlite_url: str) -> None:
    """A client stops reading while the upstream floods it with 160 MB of audio deltas:
    the recorder stops reading the upstream (RSS within +100 MB of its baseline, the
    upstream held well short of the flood); once the client reads again every delta
    arrives in order and is stored."""
    count = 2560  # x 64 KiB = 160 MB: more than every socket buffer on the way holds
    up = await Upstream().start()
    rec = await start_recorder(sqlite_url, up.url)
    try:
        client, flood = await _stall_client(rec, up, count)
        assert client.transport is not None and flood.task is not None
        client.transport.resume_reading()
        await client.wait_for(lambda: len(client.received) == count, deadline(30))
        await flood.task
        print(f"recorder peak RSS over the run: {_status_kb(rec.proc.pid, 'VmHWM') / 1024:.0f}"
              " MB")
        assert all(m.data == _delta(i) for i, m in enumerate(client.received))
        client.close()
        await asyncio.wait_for(client.closed, deadline(5))
        await _closed_lines(rec, 1)
    finally:
        code = await rec.stop()
        await up.stop()
    assert code == 0
    store = open_store(sqlite_url)
    events = list(store.events(store.resolve("last")))
    assert [e.seq for e in events] == list(range(count))
    assert all(e.data == _delta(i) and e.delivered for i, e in enumerate(events))
    store.close()


async def test_client_that_never_reads_then_drops(sqlite_url: str) -> None:
    """The stalled client's connection dies: the upstream gets 1001, and every delta it
    sent is stored, those still in flight when the client died as undelivered."""
    count = 2560
    up = await Upstream().start()
    rec = await start_recorder(sqlite_url, up.url)
    try:
        client, flood = await _stall_client(rec, up, count)
        assert client.transport is not None and flood.task is not None
        client.transport.abort()
        assert await asyncio.wait_for(flood.peer.closed, deadline(10)) == (
            1001, "client connection lost")
        await asyncio.wait_for(flood.task, deadline(5))
        await _closed_lines(rec, 1)
    finally:
        await rec.stop()
        await up.stop()
    sent = flood.sent
    store = open_store(sqlite_url)
    session = store.session(store.resolve("last"))
    assert (session.status, session.closed_by, session.close_code) == ("closed", "client", 1006)
    events = list(store.events(session.id))
    assert [e.data for e in events] == [_delta(i) for i in range(sent)]
    delivered = [e.delivered for e in events]
    forwarded = delivered.index(False)
    assert forwarded > 0 and delivered == [True] * forwarded + [False] * (sent - forwarded)
    store.close()


async def test_ping_storms_answered_on_each_leg(sqlite_url: str) -> None:
    """10,000 pings from the client and 10,000 from the upstream at once: each leg answers
    its own peer (RFC 6455 5.5.2: a pong with the same payload; every one, in order) and
    forwards none; a data frame sent after the storm round-trips within 2 s; RSS stays
    within +32 MB; only the data frames are stored."""
    n = 10_000
    up = await Upstream(reply=echo).start()
    rec = await start_recorder(sqlite_url, up.url)
    try:
        client = await raw_connect(rec.url)
        conn = up.connections[0]
        baseline = _status_kb(rec.proc.pid, "VmRSS")
        from_client = [b"client storm %d" % i for i in range(n)]
        from_upstream = [b"upstream storm %d" % i for i in range(n)]
        for c_payload, u_payload in zip(from_client, from_upstream, strict=True):
            client.proto.send_ping(c_payload)
            conn.proto.send_ping(u_payload)
        started = time.monotonic()
        client.flush()
        conn.flush()
        client.send(b'{"type": "after.storm"}')
        await client.wait_for(lambda: len(client.received) == 1, deadline(10))
        round_trip = time.monotonic() - started
        await client.wait_for(lambda: len(_pongs(client)) == n, deadline(10))
        await conn.wait_for(lambda: len(_pongs(conn)) == n, deadline(10))
        growth = _status_kb(rec.proc.pid, "VmRSS") - baseline
        print(f"round trip after the storm {round_trip * 1000:.0f} ms; RSS +{growth} kB")
        assert round_trip < deadline(2)
        assert growth < 32 * 1024
        assert _pongs(client) == from_client and _pongs(conn) == from_upstream
        assert not any(p.startswith(b"upstream storm") for p in _pings(client))
        assert not any(p.startswith(b"client storm") for p in _pings(conn))
        assert [m.data for m in conn.received] == [b'{"type": "after.storm"}']
        client.close()
        await asyncio.wait_for(client.closed, deadline(5))
        await _closed_lines(rec, 1)
    finally:
        await rec.stop()
        await up.stop()
    store = open_store(sqlite_url)
    events = list(store.events(store.resolve("last")))
    assert [(e.direction, e.data) for e in events] == [
        ("client", b'{"type": "after.storm"}'), ("server", b'{"type": "after.storm"}')]
    store.close()


async def test_ping_flood_from_a_client_that_never_reads(sqlite_url: str) -> None:
    """A client that never reads sends 96 MB of pings: once 1 MiB of pongs wait for it the
    recorder stops reading it (RSS within +32 MB, the flood held by TCP) instead of
    queueing pongs without bound; another session is served meanwhile; the flooder's
    session ends recorded as dropped by the client, with no event stored."""
    up = await Upstream(reply=echo).start()
    rec = await start_recorder(sqlite_url, up.url)
    try:
        client = await raw_connect(rec.url)
        assert client.transport is not None
        client.transport.pause_reading()
        client.proto.send_ping(b"p" * 125)
        ping = b"".join(client.proto.data_to_send())
        chunk = ping * (MB // len(ping))
        baseline = _status_kb(rec.proc.pid, "VmRSS")
        flood = Flood(client, lambda _: chunk, 96).start()
        peak = await flood.watch(rec.proc.pid)
        held = f"client sent {flood.sent_bytes / MB:.0f} of 96 MB of pings; " \
               f"recorder RSS {baseline / 1024:.0f} -> {peak / 1024:.0f} MB"
        print(held)
        assert flood.task is not None and not flood.task.done(), held
        assert peak - baseline < 32 * 1024, held
        other = await raw_connect(rec.url)
        other.send(b'{"type": "meanwhile"}')
        await other.wait_for(lambda: len(other.received) == 1, deadline(5))
        other.close()
        await asyncio.wait_for(other.closed, deadline(5))
        client.transport.abort()
        await asyncio.wait_for(flood.task, deadline(5))
        await _closed_lines(rec, 2)
    finally:
        await rec.stop()
        await up.stop()
    store = open_store(sqlite_url)
    flooder, served = sorted(store.sessions(), key=lambda s: s.started)
    assert (flooder.status, flooder.closed_by, flooder.close_code) == ("closed", "client", 1006)
    assert list(store.events(flooder.id)) == []
    assert [e.data for e in store.events(served.id)] == [b'{"type": "meanwhile"}'] * 2
    store.close()


async def test_upstream_reset_mid_frame(sqlite_url: str) -> None:
    """The upstream sends three deltas, half of a 1 MiB one, then resets the TCP
    connection: the client gets 1014 and no part of the half frame; the session is stored
    closed by the server with 1006 and the complete frames only; the recorder then
    serves a new session."""
    up = await Upstream(reply=echo).start()
    try:
        async with running_recorder(sqlite_url, up.url) as rec:
            client = await raw_connect(rec.url)
            conn = up.connections[0]
            complete = [_delta(i) for i in range(3)]
            for data in complete:
                conn.send(data)
            await client.wait_for(lambda: len(client.received) == 3, deadline(5))
            wire = _text_frame(conn, _delta(3, repeat=16))
            transport = conn.transport
            assert transport is not None
            transport.write(wire[:len(wire) // 2])
            sock = transport.get_extra_info("socket")
            (relay,) = rec.relays
            assert relay.upstream is not None and relay.upstream.transport is not None
            leg_sock = relay.upstream.transport.get_extra_info("socket")
            # every byte sent was acknowledged, and read by the recorder: it holds half a frame
            await _until(lambda: transport.get_write_buffer_size() == 0
                         and _queued(sock, termios.TIOCOUTQ) == 0
                         and _queued(leg_sock, termios.FIONREAD) == 0, deadline(5))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()  # closing with SO_LINGER 0 sends a RST
            code, _ = await asyncio.wait_for(client.closed, deadline(5))
            assert code == 1014
            assert [m.data for m in client.received] == complete
            await assert_serves_another(rec.url)
    finally:
        await up.stop()
    store = open_store(sqlite_url)
    reset, served = sorted(store.sessions(), key=lambda s: s.started)
    assert (reset.status, reset.closed_by, reset.close_code) == ("closed", "server", 1006)
    assert [(e.direction, e.data) for e in store.events(reset.id)] == [
        ("server", data) for data in complete]
    assert served.status == "closed" and served.client_events == served.server_events == 1
    store.close()
