"""``replay --transport``: a bad value, or WebRTC without the ``webrtc`` extra, is a one-line
usage error (exit 2) before anything connects; the transport helpers' path mapping."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rtcapture.ids import new_id
from rtcapture.replay.transport import Transport, transport_path
from rtcapture.store import SessionRecord, Status, open_store

ROOT = Path(__file__).resolve().parents[2]
WITHOUT_AIORTC = ("import sys; sys.modules['aiortc'] = None; sys.argv[0] = 'rtcapture'; "
                  "from rtcapture.cli import main; main()")
"""The CLI in a process where ``import aiortc`` fails, as without the extra."""


@pytest.fixture()
def db(tmp_path: Path) -> str:
    """A store holding one (closed, frameless) WebRTC recording labelled ``rtc``."""
    url = f"sqlite:///{tmp_path / 't.db'}"
    store = open_store(url, create=True)
    store.create_session(SessionRecord(id=new_id(), started=datetime.now(UTC),
                                       status=Status.CLOSED, label="rtc", transport="webrtc",
                                       path="/v1/realtime/calls?model=gpt-realtime"))
    return url


def _cli(db: str, *args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    head = [sys.executable, "-c", code] if code else [sys.executable, "-m", "rtcapture"]
    return subprocess.run([*head, "--db", db, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_bad_transport_is_one_line(db: str) -> None:
    proc = _cli(db, "replay", "@rtc", "--target", "mock", "--transport", "pigeon")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "Error: --transport must be websocket or webrtc, not 'pigeon'"]


@pytest.mark.parametrize("args", [["--transport", "webrtc"], []])
def test_webrtc_without_the_extra_is_one_line(db: str, args: list[str]) -> None:
    # explicitly, or as the recording's own transport
    proc = _cli(db, "replay", "@rtc", "--target", "mock", *args, code=WITHOUT_AIORTC)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "webrtc extra" in lines[0], lines
    assert not any(s.replay_of for s in open_store(db).sessions())  # nothing was started


def test_live_session_over_webrtc_is_one_line(db: str) -> None:
    store = open_store(db)
    store.create_session(SessionRecord(id=new_id(), started=datetime.now(UTC),
                                       status=Status.CLOSED, label="live", flavour="live",
                                       path="/v1/live/sessions"))
    proc = _cli(db, "replay", "@live", "--target", "mock", "--transport", "webrtc")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "GPT-Live sessions have no WebRTC transport" in lines[0], lines


@pytest.mark.parametrize(("path", "transport", "expected"), [
    ("/v1/realtime?model=m", Transport.WEBRTC, "/v1/realtime/calls?model=m"),
    ("/v1/realtime/calls?model=m", Transport.WEBSOCKET, "/v1/realtime?model=m"),
    ("/v1/realtime/calls", Transport.WEBSOCKET, "/v1/realtime?model=gpt-realtime"),
    ("/openai/v1/realtime/calls", Transport.WEBRTC, "/openai/v1/realtime/calls"),
    ("/v1/realtime?model=m", Transport.WEBSOCKET, "/v1/realtime?model=m"),
])
def test_transport_path(path: str, transport: Transport, expected: str) -> None:
    assert transport_path(path, transport, "gpt-realtime") == expected
