"""``replay`` and ``demo`` stopped by Ctrl-C (or SIGTERM) to their process group: the
session they were recording ends ``closed`` with counts matching its stored rows, and the
run exits 130 with one line (not click's ``Aborted!`` and 1, which means "differences")."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rtcapture.store import SessionRecord, open_store
from tests.conftest import deadline
from tests.factories import make_session

INTERRUPTED = "rtcapture: interrupted"


def _start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "rtcapture", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)


async def _wait_rows(url: str, pick: str, rows: int, timeout: float) -> str:
    """Wait until a session (``replay``: a replay; ``any``) holds ``rows`` events."""
    async with asyncio.timeout(deadline(timeout)):
        while True:
            if Path(url.removeprefix("sqlite:///")).exists():
                with open_store(url, check_orphans=False) as store:
                    for s in store.sessions():
                        if (pick == "any" or s.replay_of) and store.count_events(s.id) >= rows:
                            return s.id
            await asyncio.sleep(0.1)  # polling another process's database


def _check_closed(url: str, session_id: str) -> SessionRecord:
    with open_store(url, check_orphans=False) as store:
        record = store.session(session_id)
        events = list(store.events(session_id))
    assert record.status == "closed", (record.status, record.status_reason)
    assert record.client_events == sum(e.direction == "client" for e in events)
    assert record.server_events == sum(e.direction == "server" for e in events)
    assert record.client_events > 0 and record.lost_frames == 0
    return record


def _stopped(proc: subprocess.Popen[bytes], sig: signal.Signals) -> str:
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=deadline(30))
    text = err.decode(errors="replace")
    assert proc.returncode == 130, text
    assert text.strip().splitlines()[-1] == INTERRUPTED
    assert "Aborted" not in text and "Traceback" not in text
    return text


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_interrupted_replay_ends_closed_with_its_counts(sqlite_url: str,
                                                              sig: signal.Signals) -> None:
    frames = [("server", {"type": "session.created", "event_id": "ev0",
                          "session": {"id": "s", "model": "gpt-realtime"}}, 0.0)]
    frames += [("client", {"type": "input_audio_buffer.append", "event_id": f"e{i}",
                           "audio": "AAAA"}, 200.0 * (i + 1)) for i in range(100)]
    with open_store(sqlite_url) as store:
        original = make_session(store, frames)
    proc = _start("--db", sqlite_url, "replay", original, "--target", "playback", "--diff")
    try:
        replay_id = await _wait_rows(sqlite_url, "replay", 5, 30)
        _stopped(proc, sig)
    finally:
        if proc.poll() is None:
            proc.kill()
    record = _check_closed(sqlite_url, replay_id)
    assert record.status_reason == "replay interrupted"
    assert record.client_events < 100


async def test_interrupted_demo_ends_closed_with_its_counts(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    url = f"sqlite:///{out / 'rtcapture.db'}"
    started = time.monotonic()
    proc = _start("demo", "--out", str(out), "--client", "builtin")
    try:
        session_id = await _wait_rows(url, "any", 10, 60)
        _stopped(proc, signal.SIGINT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - started < deadline(60)
    _check_closed(url, session_id)
