"""When the store fails, sessions keep relaying, the loss is counted, new sessions get 503."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from pathlib import Path

import pytest

from rtcapture.store import open_store
from tests.conftest import deadline

from .peers import raw_connect
from .procs import start_recorder

CHUNK = base64.b64encode(bytes(48000)).decode()  # 1 s of pcm16 per append


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="prlimit not installed")
async def test_disk_full_keeps_relaying_and_refuses_new_sessions(tmp_path: Path,
                                                                 upstream) -> None:
    """A file-size limit makes the database full mid-session; relaying goes on."""
    url = f"sqlite:///{tmp_path / 'full.db'}"
    open_store(url).close()  # schema first, so only frames hit the limit
    rec = await start_recorder(url, upstream.url, prefix=("prlimit", "--fsize=1500000"))
    try:
        client = await raw_connect(rec.url)
        await client.wait_for(lambda: len(client.received) == 1, deadline(5))
        for i in range(40):  # ~2.6 MB of frames each way: more than the limit allows
            client.send(json.dumps({"type": "input_audio_buffer.append",
                                    "event_id": f"e{i}", "audio": CHUNK}))
        await client.wait_for(lambda: len(client.received) == 41, deadline(20))
        assert [m.event["event_id"] for m in client.received[1:]] == [f"e{i}" for i in range(40)]
        async with asyncio.timeout(deadline(10)):
            while b"recording store failed" not in rec.stderr:
                await asyncio.sleep(0.02)  # polling the recorder's stderr pipe buffer
        with pytest.raises(ConnectionError, match="HTTP 503"):
            await raw_connect(rec.url)
        client.close()
        await asyncio.wait_for(client.closed, deadline(5))
    finally:
        assert await rec.stop() == 0
    assert rec.stderr.count(b"recording store failed") == 1
    assert b"Traceback" not in rec.stderr
    assert b" lost" in rec.stdout and b", 0 lost" not in rec.stdout
    store = open_store(url)
    session = store.sessions()[-1]
    assert session.status == "incomplete"
    store.close()
