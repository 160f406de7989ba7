"""A recorder killed mid-stream loses nothing it had forwarded a second earlier."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from rtcapture.store import open_store
from tests.conftest import deadline

from .peers import raw_connect
from .procs import start_recorder

CHUNK = base64.b64encode(bytes(960)).decode()  # 20 ms of pcm16 at 24 kHz


@pytest.mark.parametrize("victims", ["recorder", "process group"])
async def test_kill_9_mid_stream(tmp_path: Path, upstream, victims: str) -> None:
    """kill -9 while audio streams: integrity ok, frames older than 1 s kept, incomplete."""
    db = tmp_path / "crash.db"
    url = f"sqlite:///{db}"
    rec = await start_recorder(url, upstream.url)
    client = await raw_connect(rec.url)
    sent_at: list[tuple[float, bytes]] = []
    try:
        await client.wait_for(lambda: len(client.received) == 1, deadline(5))
        for i in range(125):  # 2.5 s of real-time appends
            data = json.dumps({"type": "input_audio_buffer.append", "event_id": f"evt_{i}",
                               "audio": CHUNK}).encode()
            client.send(data)
            sent_at.append((time.monotonic(), data))
            await asyncio.sleep(0.02)  # real-time pacing of the load, not synchronisation
        await client.wait_for(lambda: len(client.received) >= 100, deadline(5))
        killed_at = time.monotonic()
        if victims == "recorder":
            os.kill(rec.proc.pid, signal.SIGKILL)
        else:
            os.killpg(rec.proc.pid, signal.SIGKILL)
        await asyncio.wait_for(rec.proc.wait(), deadline(10))
        await asyncio.wait_for(client.closed, deadline(10))
    finally:
        if rec.proc.returncode is None:
            rec.proc.kill()
    # the writer (if it survived the kill) finishes on EOF; wait for its lock to go
    async with asyncio.timeout(deadline(15)):
        while True:
            conn = sqlite3.connect(db)
            try:
                status = conn.execute("select status from sessions").fetchone()[0]
                if victims != "recorder" or status != "open":
                    break
            finally:
                conn.close()
            await asyncio.sleep(0.05)  # polling another process's database, bounded above
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    store = open_store(url)  # opening marks a dead recorder's session incomplete
    sid = store.resolve("last")
    stored = {e.data for e in store.events(sid, direction="client")}
    must_have = [data for t, data in sent_at if t < killed_at - 1.0]
    assert must_have and all(data in stored for data in must_have)
    assert store.session(sid).status == "incomplete"
    store.close()
