"""Handshakes that never complete (slowloris) neither hold their slot forever nor keep a
real client out, even at a low ``ulimit -n``."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import time
from pathlib import Path

import pytest

from rtcapture.proxy.listener import EVICT_AFTER_S
from rtcapture.store import open_store
from tests.conftest import deadline
from tests.node import self_signed_cert

from .conftest import running_recorder
from .peers import Upstream, raw_connect
from .procs import start_recorder
from .test_fd_limits import _one_session

PARTIAL = b"GET /v1/realtime?model=m HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
"""A request whose header block never ends."""


async def test_incomplete_handshake_gets_408_then_closed(sqlite_url: str,
                                                         upstream: Upstream) -> None:
    """A partial request and a silent connection both get HTTP 408 and are closed once the
    handshake timeout passes; neither leaves a session row."""
    async with running_recorder(sqlite_url, upstream.url, handshake_timeout=0.3) as rec:
        partial = await asyncio.open_connection("127.0.0.1", rec.port)
        silent = await asyncio.open_connection("127.0.0.1", rec.port)
        partial[1].write(PARTIAL)
        answer = await asyncio.wait_for(partial[0].read(), deadline(5))
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert (await asyncio.wait_for(silent[0].read(), deadline(5))).startswith(
            b"HTTP/1.1 408 ")
        for _reader, writer in (partial, silent):
            writer.close()
        async with asyncio.timeout(deadline(5)):
            while rec.relays:
                await asyncio.sleep(0.01)  # the relays end in the connection_lost callbacks
        assert upstream.connections == []
        assert rec.stats.sessions == 0
    with open_store(sqlite_url) as store:
        assert store.sessions() == []


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
async def test_stalled_tls_handshake_is_bounded_too(tmp_path: Path, sqlite_url: str,
                                                    upstream: Upstream) -> None:
    """On a TLS listener, a client that never starts the TLS handshake is dropped once the
    handshake timeout passes (asyncio's own default would hold it for 60 s)."""
    cert, key = self_signed_cert(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    async with running_recorder(sqlite_url, upstream.url, tls=tls, handshake_timeout=0.3) as rec:
        reader, writer = await asyncio.open_connection("127.0.0.1", rec.port)
        assert await asyncio.wait_for(reader.read(), deadline(5)) == b""
        writer.close()
        async with asyncio.timeout(deadline(5)):
            while rec.relays:
                await asyncio.sleep(0.01)  # the accept task's done callback ends the relay
        assert rec.stats.sessions == 0


async def test_complete_handshake_in_time_is_served(sqlite_url: str,
                                                    upstream: Upstream) -> None:
    """The bound is on the request only: a session open longer than it carries on."""
    async with running_recorder(sqlite_url, upstream.url, handshake_timeout=0.3) as rec:
        client = await raw_connect(rec.url)
        await client.wait_for(lambda: len(client.received) == 1, deadline(5))
        # past the deadline the session is still open and relays
        await asyncio.sleep(0.5)  # a window of time is what is being tested, not a sync
        client.send(b'{"type": "later"}')
        await upstream.connections[0].wait_for(
            lambda: len(upstream.connections[0].received) == 1, deadline(5))
        client.close()
        assert (await asyncio.wait_for(client.closed, deadline(5)))[0] == 1000


needs_prlimit = pytest.mark.skipif(shutil.which("prlimit") is None, reason="prlimit not installed")


@needs_prlimit
@pytest.mark.parametrize(("nofile", "slow_count"), [(256, 200), (64, 120)])
async def test_stalled_handshakes_leave_room_for_a_real_client(tmp_path: Path,
                                                               upstream: Upstream,
                                                               nofile: int,
                                                               slow_count: int) -> None:
    """More connections that never finish their request than the fd limit holds sessions
    (a handshake timeout far longer than the test): a real client connecting a second
    later is served, because the connection that waited longest for its request makes
    room."""
    url = f"sqlite:///{tmp_path / 'slow.db'}"
    rec = await start_recorder(url, upstream.url, "--handshake-timeout", "600",
                               prefix=("prlimit", f"--nofile={nofile}"))
    slow: list[asyncio.StreamWriter] = []
    try:
        for _ in range(slow_count):
            _reader, writer = await asyncio.open_connection("127.0.0.1",
                                                            int(rec.url.rsplit(":", 1)[1]))
            writer.write(PARTIAL)
            slow.append(writer)
        # the policy is about age: only a connection that has waited EVICT_AFTER_S for its
        # request is dropped for room (a burst of real clients must not push each other out)
        await asyncio.sleep(EVICT_AFTER_S * 1.5)
        started = time.monotonic()
        await asyncio.wait_for(_one_session(rec.url), deadline(15))
        print(f"real client served {time.monotonic() - started:.2f} s after connecting")
    finally:
        for writer in slow:
            writer.close()
        code = await rec.stop()
    assert code == 0
    stderr = rec.stderr.decode(errors="replace")
    assert "Traceback" not in stderr, stderr[:2000]
    with open_store(url) as store:
        statuses = [s.status for s in store.sessions()]
    assert statuses == ["closed"], statuses  # stalled handshakes are not sessions
