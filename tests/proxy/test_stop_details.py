"""Smaller stop and failure details: one line per failed session, a writer that cannot
start, and the counts of sessions a crash left behind."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rtcapture.cli import cli
from rtcapture.store import open_store
from tests.conftest import deadline

from .peers import Upstream, raw_connect
from .procs import start_recorder
from .test_store_faults import _session_id, _stream, _wait_stored


async def test_failed_session_is_one_line(tmp_path: Path, upstream: Upstream) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    rec = await start_recorder(url, upstream.url, "--token", "s3cret")
    try:
        with pytest.raises(ConnectionError, match="HTTP 401"):
            await raw_connect(rec.url)
        async with asyncio.timeout(deadline(5)):
            while b" failed" not in rec.stdout:
                await asyncio.sleep(0.02)  # polling the recorder's pipe buffer
    finally:
        assert await rec.stop() == 0
    lines = [ln for ln in rec.stdout.decode().splitlines() if re.match(r"session \S+ failed", ln)]
    assert len(lines) == 1 and "HTTP 401" in lines[0], lines


def test_writer_that_cannot_start_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    """The writer's interpreter cannot be executed (EACCES): one line naming the writer,
    exit 2, not "cannot listen on"."""
    blocked = tmp_path / "python"
    blocked.write_text("#!/bin/sh\n")
    blocked.chmod(0o644)
    monkeypatch.setattr(sys, "executable", str(blocked))
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'x.db'}", "record",
                                      "--listen", "127.0.0.1:0", "--upstream",
                                      "ws://127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    assert "cannot start the writer process" in result.output
    assert "Permission denied" in result.output and "cannot listen" not in result.output


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    """True until ``pid`` has exited (a zombie has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_crashed_sessions_count_what_is_stored(tmp_path: Path, upstream: Upstream) -> None:
    """Recorder and writer both killed (-9) before the running totals were written: the
    session marked ``incomplete`` counts the rows it holds, not 0."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    rec = await start_recorder(url, upstream.url)
    try:
        (writer,) = _children(rec.proc.pid)
        client = await raw_connect(rec.url)
        await client.wait_for(lambda: len(client.received) == 1, deadline(5))
        await _stream(client, 0, 10)
        sid = await _session_id(rec, 0)
        await _wait_stored(url, sid, 1 + 2 * 10)
        os.kill(writer, signal.SIGKILL)
        os.kill(rec.proc.pid, signal.SIGKILL)
        await asyncio.wait_for(rec.proc.wait(), deadline(10))
        async with asyncio.timeout(deadline(10)):
            while _running(writer):
                await asyncio.sleep(0.02)  # SIGKILL is delivered asynchronously
    finally:
        if rec.proc.returncode is None:
            rec.proc.kill()
    with open_store(url) as store:  # opening marks the dead recorder's session incomplete
        session = store.session(sid)
        events = list(store.events(sid))
    assert session.status == "incomplete"
    assert session.client_events == sum(e.direction == "client" for e in events) == 10
    assert session.server_events == sum(e.direction == "server" for e in events) == 11
    assert session.client_bytes == sum(len(e.data) for e in events if e.direction == "client")


async def test_summary_counts_sessions_whose_upstream_never_reads(tmp_path: Path) -> None:
    """An upstream that stops reading holds its session past the close handshake at
    shutdown: the summary still counts every frame relayed and stored."""
    url = f"sqlite:///{tmp_path / 'deaf.db'}"
    deaf = await Upstream(greeting=b'{"type": "session.created"}').start()
    rec = await start_recorder(url, deaf.url)
    try:
        client = await raw_connect(rec.url)
        await client.wait_for(lambda: len(client.received) == 1, deadline(5))
        conn = deaf.connections[0]
        assert conn.transport is not None
        conn.transport.pause_reading()
        for i in range(40):
            client.send(b'{"type": "x", "pad": "' + b"A" * 65536 + b'", "n": %d}' % i)
        sid = await _session_id(rec, 0)
        await _wait_stored(url, sid, 10)
    finally:
        assert await rec.stop(timeout=deadline(30)) == 0
        await deaf.stop()
    match = re.search(rb"(\d+) frames relayed, (\d+) stored, (\d+) lost", rec.stdout)
    assert match is not None, rec.stdout
    relayed, stored, lost = map(int, match.groups())
    with open_store(url, check_orphans=False) as store:
        rows = store.count_events(sid)
        session = store.session(sid)
    assert relayed == stored == rows and lost == 0
    assert session.status == "closed" and session.client_events + session.server_events == rows
