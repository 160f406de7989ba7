"""Under a low ``ulimit -n`` every client is served or clearly refused, and the recorder carries on.

RELIABILITY.md: a naive relay out of file descriptors gives clients a normal-looking close
and writes a traceback per failure. The recorder runs here as a real process under
``prlimit --nofile`` while far more clients connect at once than its descriptors allow.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rtcapture.store import open_store
from tests.conftest import deadline
from tests.node import self_signed_cert

from .conftest import running_recorder
from .peers import RawClient, Upstream, raw_connect
from .procs import RecorderProcess, start_recorder

needs_prlimit = pytest.mark.skipif(shutil.which("prlimit") is None, reason="prlimit not installed")

NOFILE = 64
"""Room for the interpreter, the writer's pipes and about 20 sessions, far fewer than CLIENTS."""
CLIENTS = 300
CLEAR_REFUSALS = {"HTTP 503", "HTTP 502", "close 1014"}
UPDATE = json.dumps({"type": "session.update",
                     "session": {"type": "realtime", "instructions": "hi"}})


def _round_trip(client: RawClient) -> bool:
    return any((m.event or {}).get("type") == "session.updated" for m in client.received)


@dataclass
class Burst:
    """Clients connecting at once; served ones hold their session until all are answered."""

    url: str
    size: int
    answered: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def _answer(self) -> None:
        self.answered += 1
        if self.answered == self.size:
            self.release.set()

    async def client(self) -> str:
        """One client's outcome: "served", "HTTP <status>", "close <code>", or a failure."""
        client: RawClient | None = None
        try:
            outcome, client = await self._session()
        except ConnectionError as exc:  # a refused handshake, or closed with no answer at all
            outcome = str(exc)
        except TimeoutError:
            outcome = "no answer"
        self._answer()
        if client is not None:
            async with asyncio.timeout(deadline(20)):
                await self.release.wait()  # keep the descriptors busy until the burst is over
            client.close()
            await asyncio.wait_for(client.closed, deadline(10))
        return outcome

    async def _session(self) -> tuple[str, RawClient | None]:
        client = await raw_connect(self.url, timeout=deadline(15))
        try:
            await client.wait_for(lambda: bool(client.received) or client.closed.done(),
                                  deadline(10))
            if not client.closed.done():
                client.send(UPDATE)
                await client.wait_for(lambda: _round_trip(client) or client.closed.done(),
                                      deadline(10))
        except TimeoutError:
            return "stalled after the handshake", None
        if client.closed.done():
            return f"close {client.closed.result()[0]}", None
        return "served", client

    async def run(self) -> Counter[str]:
        tasks = [asyncio.create_task(self.client()) for _ in range(self.size)]
        return Counter(await asyncio.gather(*tasks))


async def _wait_stdout_count(rec: RecorderProcess, needle: bytes, count: int,
                             timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while rec.stdout.count(needle) < count:
            await asyncio.sleep(0.02)  # polling the recorder's stdout pipe buffer


async def _one_session(url: str) -> None:
    client = await raw_connect(url, timeout=deadline(10))
    await client.wait_for(lambda: bool(client.received), deadline(10))
    client.send(UPDATE)
    await client.wait_for(lambda: _round_trip(client), deadline(10))
    client.close()
    assert (await asyncio.wait_for(client.closed, deadline(10)))[0] == 1000


@needs_prlimit
@pytest.mark.parametrize("upstream_kind", ["local", "mock"])
async def test_fd_exhaustion_refuses_clearly_and_carries_on(tmp_path: Path, upstream: Upstream,
                                                            upstream_kind: str) -> None:
    """300 clients at once under a 64-fd limit: each is served or refused, stderr stays short."""
    url = f"sqlite:///{tmp_path / 'fd.db'}"
    rec = await start_recorder(url, upstream.url if upstream_kind == "local" else "mock",
                               prefix=("prlimit", f"--nofile={NOFILE}"))
    try:
        outcomes = await asyncio.wait_for(Burst(rec.url, CLIENTS).run(), deadline(40))
        served = outcomes["served"]
        refused = sum(outcomes[o] for o in CLEAR_REFUSALS)
        assert served + refused == CLIENTS, outcomes  # no silent close, hang or stray code
        assert served >= 5 and refused >= CLIENTS // 2, outcomes  # the limit was really hit
        # once the served sessions have ended, the recorder takes new sessions again
        await _wait_stdout_count(rec, b" closed: ", served, deadline(10))
        await _one_session(rec.url)
        await _wait_stdout_count(rec, b" closed: ", served + 1, deadline(10))
    finally:
        code = await rec.stop()
    assert code == 0
    stderr = rec.stderr.decode(errors="replace")
    assert "Traceback" not in stderr and "ERROR" not in stderr, stderr[:2000]
    assert stderr.count("out of file descriptors") == 1, stderr[:2000]
    assert len(stderr.splitlines()) <= 3, stderr[:2000]  # not one line per refused client
    stdout = rec.stdout.decode()
    assert f"{outcomes['HTTP 503']} clients refused at the file-descriptor limit" in stdout
    store = open_store(url)
    try:
        statuses = Counter(s.status for s in store.sessions())
    finally:
        store.close()
    # refusals for lack of descriptors are not sessions; nothing is left "open"
    assert statuses["closed"] == served + 1, statuses
    assert set(statuses) <= {"closed", "failed"}, statuses
    assert statuses["failed"] == outcomes["HTTP 502"], statuses


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
async def test_failed_tls_handshakes_give_their_descriptors_back(tmp_path: Path,
                                                                 sqlite_url: str,
                                                                 upstream: Upstream) -> None:
    """Plain-text clients on a TLS listener leave no session behind to count against the limit."""
    cert, key = self_signed_cert(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    async with running_recorder(sqlite_url, upstream.url, tls=tls) as rec:
        for _ in range(5):
            reader, writer = await asyncio.open_connection("127.0.0.1", rec.port)
            writer.write(b"GET /v1/realtime HTTP/1.1\r\nHost: x\r\n\r\n")
            assert await asyncio.wait_for(reader.read(), deadline(5)) == b""  # dropped
            writer.close()
        async with asyncio.timeout(deadline(5)):
            while rec.relays:
                await asyncio.sleep(0.01)  # the accept task's done callback runs after the close
        assert rec.stats.sessions == 0 and not rec.sessions
        client_tls = ssl.create_default_context(cafile=str(cert))
        reader, writer = await asyncio.open_connection("127.0.0.1", rec.port, ssl=client_tls)
        writer.write(b"GET /v1/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        status = await asyncio.wait_for(reader.readline(), deadline(10))
        assert status.startswith(b"HTTP/1.1 101"), status
        writer.close()


@needs_prlimit
def test_soft_fd_limit_is_raised_to_the_hard_one() -> None:
    """Under a soft limit below the hard one, the recorder lifts it (as servers do)."""
    import subprocess
    import sys

    probe = ("from rtcapture.proxy.listener import raise_fd_limit; print(raise_fd_limit())")
    done = subprocess.run(["prlimit", "--nofile=100:2048", sys.executable, "-c", probe],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "2048"
    capped = subprocess.run(["prlimit", "--nofile=100:2048", sys.executable, "-c",
                             probe.replace("raise_fd_limit()", "raise_fd_limit(500)")],
                            capture_output=True, text=True, check=True)
    assert capped.stdout.strip() == "500"
