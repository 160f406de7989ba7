"""Many sessions at once through one recorder, and two recorders sharing PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import signal

from rtcapture.store import open_store
from tests.conftest import deadline

from .conftest import running_recorder
from .peers import Upstream, echo, raw_connect
from .procs import start_recorder


async def test_100_concurrent_sessions_recorded_exactly(sqlite_url) -> None:
    """100 concurrent sessions: every frame of every session stored, in order."""
    up = await Upstream(reply=echo).start()
    messages = 20
    try:
        async with running_recorder(sqlite_url, up.url) as rec:
            async def one(n: int) -> list[bytes]:
                client = await raw_connect(rec.url, path=f"/v1/realtime?model=m&n={n}")
                for i in range(messages):
                    client.send(json.dumps({"type": "t", "session": n, "i": i}))
                    await asyncio.sleep(0)
                await client.wait_for(lambda: len(client.received) == messages, deadline(30))
                client.close()
                await asyncio.wait_for(client.closed, deadline(10))
                return [m.data for m in client.sent]

            sent = await asyncio.gather(*(one(n) for n in range(100)))
    finally:
        await up.stop()
    store = open_store(sqlite_url)
    sessions = store.sessions()
    assert len(sessions) == 100
    for session in sessions:
        assert session.status == "closed"
        n = int(session.path.rsplit("=", 1)[1])
        events = list(store.events(session.id))
        assert [e.seq for e in events] == list(range(2 * messages))
        assert [e.data for e in events if e.direction == "client"] == sent[n]
        assert [e.data for e in events if e.direction == "server"] == sent[n]
    store.close()


async def test_two_recorders_share_postgresql(pg_url, upstream) -> None:
    """Two recorders on one PostgreSQL database: neither marks the other's session incomplete."""
    recorders = [await start_recorder(pg_url, upstream.url, "--label", f"r{i}")
                 for i in range(2)]
    try:
        clients = [await raw_connect(r.url) for r in recorders]
        for c in clients:
            await c.wait_for(lambda c=c: len(c.received) == 1, deadline(5))
            c.send(b'{"type": "session.update", "session": {}}')
            await c.wait_for(lambda c=c: len(c.received) == 2, deadline(5))
        store = open_store(pg_url)  # another process opening the database meanwhile
        async with asyncio.timeout(deadline(5)):  # the writers commit within ~100 ms
            while len(store.sessions()) < 2:
                await asyncio.sleep(0.02)  # polling the writers' database
        assert sorted(s.status for s in store.sessions()) == ["open", "open"]
        store.close()
        for c in clients:
            c.close()
            await asyncio.wait_for(c.closed, deadline(5))
        for r in recorders:
            await r.wait_output(b"closed:", deadline(10))
    finally:
        codes = [await r.stop() for r in recorders]
    assert codes == [0, 0]
    store = open_store(pg_url)
    sessions = store.sessions()
    assert sorted(s.label for s in sessions) == ["r0", "r1"]
    for s in sessions:
        assert s.status == "closed" and s.client_events == 1 and s.server_events == 2
    store.close()


async def test_backpressure_pauses_and_resumes_without_loss(sqlite_url) -> None:
    """A stalled writer (SIGSTOP) fills the pipe: every leg stops reading (bounded memory);
    once it runs again all frames arrive and are recorded exactly, nothing dropped."""
    up = await Upstream(reply=echo).start()
    try:
        async with running_recorder(sqlite_url, up.url, sink_high_water=256 * 1024,
                                    spill=False) as rec:
            client = await raw_connect(rec.url)
            writer_pid = rec.sink.proc.pid
            os.kill(writer_pid, signal.SIGSTOP)
            try:
                for i in range(400):  # 400 x 8 KB each way: far more than the pipe holds
                    client.send(json.dumps({"type": "t", "i": i, "pad": "x" * 8000}))
                async with asyncio.timeout(deadline(10)):
                    while rec.sink.pauses == 0:
                        await asyncio.sleep(0.01)  # waiting on a flag the sink sets
                assert len(client.received) < 400  # reading stopped with frames in flight
            finally:
                os.kill(writer_pid, signal.SIGCONT)
            await client.wait_for(lambda: len(client.received) == 400, deadline(30))
            assert not rec.sink.paused
            client.close()
            await asyncio.wait_for(client.closed, deadline(5))
    finally:
        await up.stop()
    assert [m.data for m in client.received] == [m.data for m in client.sent]
    store = open_store(sqlite_url)
    events = list(store.events(store.resolve("last")))
    assert len(events) == 800 and store.sessions()[0].lost_frames == 0
    store.close()
