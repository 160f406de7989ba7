"""Past what the writer takes, recording falls behind into a spill file instead of holding
the relay: every socket keeps its pace, nothing is lost, and the file survives ``kill -9``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import select
import signal
from pathlib import Path

import pytest

from rtcapture.proxy.spill import SUFFIX, default_spill_dir
from rtcapture.store import open_store
from tests.conftest import deadline

from .conftest import running_recorder
from .peers import RawClient, Upstream, echo, raw_connect
from .procs import start_recorder

PAD = "x" * 8000


def _message(tag: str, i: int) -> str:
    return json.dumps({"type": "t", "tag": tag, "i": i, "pad": PAD})


def _spill_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{SUFFIX}"))


async def _burst(client: RawClient, tag: str, count: int, received_before: int) -> None:
    """Send ``count`` messages and wait until the echo of every one is back."""
    for i in range(count):
        client.send(_message(tag, i))
    await client.wait_for(lambda: len(client.received) == received_before + count,
                          deadline(20))


async def _until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(deadline(20)):
        while not condition():
            await asyncio.sleep(0.01)  # polling the recorder's state, not synchronising


@pytest.fixture
async def echo_upstream():  # type: ignore[no-untyped-def]
    up = await Upstream(reply=echo).start()
    yield up
    await up.stop()


async def test_a_stalled_writer_makes_recording_spill_not_the_relay_wait(
        tmp_path: Path, echo_upstream: Upstream, caplog: pytest.LogCaptureFixture) -> None:
    """With the writer stopped (SIGSTOP), many times the memory bound goes through without
    any leg ever pausing: it goes to a spill file. Once the writer runs again it catches up,
    the recorder goes back to the pipe (twice over), and every frame is stored byte-exact."""
    url = f"sqlite:///{tmp_path / 'spill.db'}"
    caplog.set_level(logging.DEBUG, logger="rtcapture.sink")
    async with running_recorder(url, echo_upstream.url, sink_high_water=1 << 20,
                                spill_dir=tmp_path) as rec:
        client = await raw_connect(rec.url)
        writer_pid = rec.sink.proc.pid
        for cycle in (1, 2):
            os.kill(writer_pid, signal.SIGSTOP)
            try:  # 300 x 8 KB each way: about 5 MB, five times the 1 MiB bound
                await _burst(client, f"c{cycle}", 300, len(client.received))
                assert rec.sink.spilling and rec.sink.spills == cycle
                assert rec.sink.pauses == 0  # no leg ever stopped reading
                assert len(_spill_files(tmp_path)) == 1
            finally:
                os.kill(writer_pid, signal.SIGCONT)
            await _until(lambda: not rec.sink.spilling, "back on the pipe")
        client.close()
        await asyncio.wait_for(client.closed, deadline(5))
    assert [m.data for m in client.received] == [m.data for m in client.sent]
    with open_store(url) as store:
        (session,) = store.sessions()
        stored = list(store.events(session.id))
        assert session.status == "closed" and session.lost_frames == 0
    assert [e.data for e in stored if e.direction == "client"] == [m.data for m in client.sent]
    assert [e.data for e in stored if e.direction == "server"] == \
        [m.data for m in client.received]
    assert [e.seq for e in stored] == sorted(e.seq for e in stored)
    assert {e.type for e in stored} == {"t"}  # parsed as ever
    assert _spill_files(tmp_path) == []  # each file deleted once committed
    said = [r.getMessage() for r in caplog.records]
    assert any("spilling to" in line for line in said)
    assert any("caught up" in line for line in said)


async def test_without_a_usable_spill_folder_the_relay_waits_and_says_so(
        tmp_path: Path, echo_upstream: Upstream, caplog: pytest.LogCaptureFixture) -> None:
    """A spill folder that cannot be written: one error line, then backpressure as before
    (legs pause while the writer is stopped), and still nothing lost."""
    url = f"sqlite:///{tmp_path / 'nospill.db'}"
    async with running_recorder(url, echo_upstream.url, sink_high_water=256 << 10,
                                spill_dir=tmp_path / "missing") as rec:
        client = await raw_connect(rec.url)
        writer_pid = rec.sink.proc.pid
        os.kill(writer_pid, signal.SIGSTOP)
        try:
            for i in range(300):
                client.send(_message("p", i))
            await _until(lambda: rec.sink.pauses > 0, "backpressure")
            assert len(client.received) < 300
        finally:
            os.kill(writer_pid, signal.SIGCONT)
        await client.wait_for(lambda: len(client.received) == 300, deadline(30))
        client.close()
        await asyncio.wait_for(client.closed, deadline(5))
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "cannot create a spill file" in errors[0]
    with open_store(url) as store:
        (session,) = store.sessions()
        assert store.count_events(session.id) == 600 and session.lost_frames == 0


def _open_files(pid: int) -> set[Path]:
    folder = Path(f"/proc/{pid}/fd")
    found = set()
    for fd in folder.iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            found.add(Path(os.readlink(fd)))
    return found


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return [int(p) for p in fh.read().split()]


async def test_recorder_killed_while_spilling_loses_nothing(
        tmp_path: Path, echo_upstream: Upstream) -> None:
    """``kill -9`` of the recorder while its writer is far behind: the writer reads the
    spill file to its end, so every frame relayed is stored; the session is ``incomplete``."""
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    rec = await start_recorder(url, echo_upstream.url)
    try:
        client = await raw_connect(rec.url)
        (writer_pid,) = _children(rec.proc.pid)
        writer = os.pidfd_open(writer_pid)
        os.kill(writer_pid, signal.SIGSTOP)
        try:  # 800 x 8 KB each way: 13 MB, past the 4 MiB the recorder holds before spilling
            await _burst(client, "k", 800, len(client.received))
            (spill,) = _spill_files(tmp_path)
        finally:
            os.kill(writer_pid, signal.SIGCONT)
        # once the writer reads the spill file (the recorder's memory holds nothing more for
        # it), the recorder dies: the writer still has the rest of the file to read
        await _until(lambda: spill in _open_files(writer_pid), "the writer opens the file")
        rec.proc.kill()
        await rec.proc.wait()
        ready, _, _ = await asyncio.to_thread(select.select, [writer], [], [], deadline(60))
        assert ready, "the writer did not finish after the recorder was killed"
        os.close(writer)
    finally:
        if rec.proc.returncode is None:
            rec.proc.kill()
    with open_store(url) as store:
        (session,) = store.sessions()
        stored = list(store.events(session.id))
    assert session.status == "incomplete"
    assert [e.data for e in stored if e.direction == "client"] == [m.data for m in client.sent]
    assert [e.data for e in stored if e.direction == "server"] == \
        [m.data for m in client.received]
    assert _spill_files(tmp_path) == []


def test_spill_files_go_beside_a_sqlite_database(tmp_path: Path) -> None:
    assert default_spill_dir(f"sqlite:///{tmp_path / 'a.db'}?timeout=3") == tmp_path
    assert default_spill_dir("sqlite:///rel.db") == Path.cwd()
    assert default_spill_dir("postgresql://u@127.0.0.1/x").is_dir()
