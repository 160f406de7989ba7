"""Stopping the recorder the way users do loses nothing.

A terminal's Ctrl-C signals the whole foreground process group, systemd's default
``KillMode=control-group`` sends SIGTERM to every process of the service, and a closed
terminal window sends SIGHUP: each must close the open sessions ``closed`` (1001) and store
every frame relayed before the recorder exits. The recorder runs in a session of its own,
as under a shell or a service manager, and is signalled as they do.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import signal
import sys
import termios
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rtcapture.store import Store, open_store
from tests.conftest import deadline

from .peers import RawClient, Upstream, raw_connect
from .procs import start_recorder

_URL = re.compile(rb"recording on (wss?://[\d.]+:\d+)")
_SUMMARY = re.compile(rb"(\d+) frames relayed, (\d+) stored, (\d+) lost")


def _append(tag: str, i: int) -> bytes:
    return json.dumps({"type": "input_audio_buffer.append", "event_id": f"{tag}_{i}",
                       "audio": "AAAA" * 64}).encode()


class Streams:
    """Clients streaming appends through the recorder until told to stop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.clients: list[RawClient] = []
        self.running = True
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self, count: int) -> None:
        for n in range(count):
            client = await raw_connect(self.url)
            await client.wait_for(lambda c=client: len(c.received) == 1, deadline(5))
            self.clients.append(client)
            self._tasks.append(asyncio.create_task(self._stream(client, f"c{n}")))

    async def _stream(self, client: RawClient, tag: str) -> None:
        i = 0
        while self.running and not client.closed.done():
            client.send(_append(tag, i))
            i += 1
            await asyncio.sleep(0.005)  # pacing of the load, not synchronisation

    async def streaming(self, frames: int) -> None:
        """Wait until every client has had ``frames`` echoes back."""
        for client in self.clients:
            await client.wait_for(lambda c=client: len(c.received) > frames, deadline(10))

    async def halt(self) -> None:
        self.running = False
        await asyncio.gather(*self._tasks)

    async def closed(self) -> list[tuple[int, str]]:
        return [await asyncio.wait_for(c.closed, deadline(20)) for c in self.clients]


def _check_stored(url: str, clients: list[RawClient]) -> None:
    """Every frame each client sent and received is stored; every session ``closed``."""
    store: Store = open_store(url, check_orphans=False)
    try:
        sessions = store.sessions()
        assert len(sessions) == len(clients)
        assert {s.status for s in sessions} == {"closed"}, [
            (s.status, s.status_reason) for s in sessions]
        assert {s.close_code for s in sessions} == {1001}
        assert {s.status_reason for s in sessions} == {"recorder stopped"}
        by_first: dict[bytes, str] = {}
        for s in sessions:
            first = next(store.events(s.id, direction="client"), None)
            by_first[first.data if first is not None else b""] = s.id
        for client in clients:
            sid = by_first[client.sent[0].data]
            stored_client = [e.data for e in store.events(sid, direction="client")]
            stored_server = [e.data for e in store.events(sid, direction="server")]
            assert stored_client[:len(client.sent)] == [m.data for m in client.sent]
            assert stored_server[:len(client.received)] == [m.data for m in client.received]
            record = store.session(sid)
            assert record.client_events == len(stored_client)
            assert record.server_events == len(stored_server)
            assert record.lost_frames == 0
    finally:
        store.close()


async def _last_minute(url: str) -> RawClient:
    """A session opened just before the signal, which sends one frame."""
    client = await raw_connect(url)
    client.send(_append("late", 0))
    return client


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("to_group", [True, False], ids=["group", "pid"])
async def test_signal_stores_everything(tmp_path: Path, upstream: Upstream,
                                        sig: signal.Signals, to_group: bool) -> None:
    """A stop signal to the process group (or the main pid) while sessions stream:
    everything relayed is stored, sessions ``closed``, exit 0, a true summary."""
    url = f"sqlite:///{tmp_path / 'stop.db'}"
    rec = await start_recorder(url, upstream.url)
    streams = Streams(rec.url)
    try:
        await streams.open(3)
        await streams.streaming(20)
        late = await _last_minute(rec.url)
        if to_group:
            os.killpg(rec.proc.pid, sig)
        else:
            os.kill(rec.proc.pid, sig)
        await streams.halt()
        closes = await streams.closed()
        assert {code for code, _ in closes} == {1001}
        code = await rec.stop(timeout=deadline(30))
    finally:
        if rec.proc.returncode is None:
            rec.proc.kill()
    assert code == 0, rec.stderr.decode(errors="replace")
    assert b"Traceback" not in rec.stderr
    clients = [*streams.clients, late]
    _check_stored(url, clients)
    relayed, stored, lost = map(int, _SUMMARY.search(rec.stdout).groups())  # type: ignore[union-attr]
    assert lost == 0 and relayed == stored
    with open_store(url, check_orphans=False) as store:
        assert stored == sum(store.count_events(s.id) for s in store.sessions())


# ---------------------------------------------------------------------------- terminal


class Terminal:
    """A recorder on a pseudo-terminal it has as controlling terminal (a shell's job)."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.output = bytearray()
        self.changed = asyncio.Event()

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        slave = self.slave

        def take_terminal() -> None:  # in the child, after setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rtcapture", *args, stdin=slave, stdout=slave, stderr=slave,
            start_new_session=True, preexec_fn=take_terminal,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        os.close(slave)
        asyncio.get_running_loop().add_reader(self.master, self._read)
        return proc

    def _read(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:  # the other side closed (EIO)
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
        self.output += data
        self.changed.set()

    async def wait_for(self, test: Callable[[bytes], bool], timeout: float) -> None:
        async with asyncio.timeout(deadline(timeout)):
            while not test(bytes(self.output)):
                self.changed.clear()
                await self.changed.wait()

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def hang_up(self) -> None:
        """The terminal window closes."""
        asyncio.get_running_loop().remove_reader(self.master)
        os.close(self.master)
        self.master = -1

    def close(self) -> None:
        if self.master >= 0:
            with_loop = asyncio.get_running_loop()
            with_loop.remove_reader(self.master)
            os.close(self.master)


@pytest.mark.parametrize("how", ["ctrl-c", "window closed"])
async def test_terminal_stop_stores_everything(tmp_path: Path, upstream: Upstream,
                                               how: str) -> None:
    """^C typed in the recorder's terminal, or the terminal going away, while sessions
    stream: every frame is stored and the sessions end ``closed``."""
    url = f"sqlite:///{tmp_path / 'tty.db'}"
    term = Terminal()
    proc = await term.start("--db", url, "record", "--listen", "127.0.0.1:0",
                            "--upstream", upstream.url)
    try:
        await term.wait_for(lambda out: _URL.search(out) is not None, 30)
        match = _URL.search(bytes(term.output))
        assert match is not None
        streams = Streams(match.group(1).decode())
        await streams.open(3)
        await streams.streaming(20)
        late = await _last_minute(streams.url)
        if how == "ctrl-c":
            term.type(b"\x03")
        else:
            term.hang_up()
        await streams.halt()
        await streams.closed()
        async with asyncio.timeout(deadline(30)):
            code = await proc.wait()
        if how == "ctrl-c":
            assert code == 0, term.output.decode(errors="replace")
            await term.wait_for(lambda out: _SUMMARY.search(out) is not None, 5)
            assert b"Traceback" not in term.output
    finally:
        if proc.returncode is None:
            proc.kill()
        term.close()
    _check_stored(url, [*streams.clients, late])


async def test_second_ctrl_c_says_what_it_waits_for_third_forces_exit(
        tmp_path: Path, upstream: Upstream) -> None:
    """The drain is stuck (another process holds the database lock): a second Ctrl-C says
    what it waits for, a third exits at once (130) counting the frames not stored."""
    from .test_store_faults import _stream, _wait_bytes, _wait_stored, _write_lock

    db = tmp_path / "stuck.db"
    url = f"sqlite:///{db}?timeout=120"
    rec = await start_recorder(url, upstream.url)
    try:
        client = await raw_connect(rec.url)
        await client.wait_for(lambda: len(client.received) == 1, deadline(5))
        await _stream(client, 0, 5)
        sid = (await _session_line(rec)).decode()
        await _wait_stored(url, sid, 1 + 2 * 5)
        with _write_lock(db):
            await _stream(client, 5, 10)  # these wait for the lock in the writer
            os.killpg(rec.proc.pid, signal.SIGINT)
            assert (await asyncio.wait_for(client.closed, deadline(10)))[0] == 1001
            os.killpg(rec.proc.pid, signal.SIGINT)
            await _wait_bytes(rec.stderr, b"stopping: waiting for", 10)
            assert rec.proc.returncode is None
            os.killpg(rec.proc.pid, signal.SIGINT)
            code = await rec.stop(timeout=deadline(10))
    finally:
        if rec.proc.returncode is None:
            rec.proc.kill()
    assert code == 130, rec.stderr.decode(errors="replace")
    assert b"Traceback" not in rec.stderr
    assert b"stopping: waiting for the writer to store" in rec.stderr, rec.stderr
    relayed, stored, lost = map(int, _SUMMARY.search(rec.stdout).groups())  # type: ignore[union-attr]
    assert relayed == 1 + 2 * 15 and lost == relayed - stored and lost >= 2 * 10
    assert f"session {sid}: {lost} of {relayed} frames not stored".encode() in rec.stdout
    with open_store(url, check_orphans=False) as store:
        assert store.count_events(sid) == stored


async def _session_line(rec: Any) -> bytes:
    async with asyncio.timeout(deadline(5)):
        while not (match := re.search(rb"session (\S+) open", rec.stdout)):
            await asyncio.sleep(0.02)  # polling the recorder's pipe buffer
    return match.group(1)
