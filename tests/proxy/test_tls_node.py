"""The Node openai SDK (which always uses wss://) through the recorder's TLS listener."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

from tests.conftest import deadline
from tests.node import node_dir, self_signed_cert

from .conftest import running_recorder
from .test_sdk_recording import assert_recorded_exactly

SCRIPT = Path(__file__).parent / "js" / "node_realtime_ws.mjs"


async def test_node_sdk_through_tls_listener(tmp_path, sqlite_url, upstream) -> None:
    """The Node SDK completes a session over wss://; every frame stored byte-exact."""
    folder = node_dir()
    cert, key = self_signed_cert(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    t0 = time.time_ns()
    async with running_recorder(sqlite_url, upstream.url, tls=tls) as rec:
        assert rec.url.startswith("wss://")
        script = folder / SCRIPT.name
        script.write_bytes(SCRIPT.read_bytes())
        proc = await asyncio.create_subprocess_exec(
            "node", str(script), str(rec.port), cwd=folder,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), deadline(30))
    assert proc.returncode == 0, (out + err).decode()
    assert out.decode().split() == ["session.created", "session.updated",
                                    "conversation.item.added", "conversation.item.done"]
    sid = assert_recorded_exactly(sqlite_url, upstream, t0)
    assert sid
