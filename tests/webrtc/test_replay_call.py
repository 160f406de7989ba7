"""``rtcapture replay`` of a WebRTC recording (``conftest.recorded``) over WebRTC and across
transports, each run inside a loopback-only namespace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rtcapture.store import open_store

from .browser import KEY
from .netns import run_scenario

TRUNCATION = "conversation.item.truncated"
"""Over WebRTC the server truncates the reply a barge-in cut short; over a WebSocket the
client would have to, and the recording's client did not: an expected difference."""


def _crossover_differences(report: dict[str, Any]) -> list[str]:
    """The differences a crossover may not show: all but the truncation and the token
    counts of the reply cut short (how much of it was generated depends on the transport:
    the WebRTC mock plays its audio in real time)."""
    cut = [f"response[{r['index']}].usage" for r in report["responses"]
           if r["a"]["status"] == "cancelled"]
    paths = [d["path"] for d in report["differences"]]
    assert any(p.startswith(TRUNCATION) for p in paths), paths
    return [p for p in paths if not p.startswith((TRUNCATION, *cut))]


def _replay(recorded: dict[str, Any], name: str, session: str, *args: str
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``replay SESSION ARGS --diff --report`` in a namespace: (command, report)."""
    report = Path(recorded["folder"]) / f"{name}.json"
    out = run_scenario("command", timeout=180, args=[
        "--db", recorded["db"], "replay", session, *args, "--label", name, "--diff",
        "--report", str(report)])
    assert out["rc"] in (0, 1), out["stdout"] + out["stderr"]
    assert "Traceback" not in out["stderr"], out["stderr"]
    return out, json.loads(report.read_text())


def _original(recorded: dict[str, Any]) -> str:
    store = open_store(recorded["db"])
    return next(s.id for s in store.sessions() if s.label == "webrtc")


def _events(recorded: dict[str, Any], label: str) -> tuple[Any, list[Any]]:
    store = open_store(recorded["db"])
    rec = store.session(store.resolve(f"@{label}"))
    return rec, list(store.events(rec.id))


def _complete(report: dict[str, Any]) -> None:
    """Every client frame went out and the same responses came back, ending the same way."""
    replay = report["replay"]
    assert replay["connected"] and replay["endpoint_error"] is None
    assert replay["client_frames_sent"] == replay["client_frames"] > 100
    rows = report["responses"]
    assert len(rows) >= 3
    assert all(r["a"] and r["b"] and r["a"]["status"] == r["b"]["status"] for r in rows), rows


@pytest.fixture(scope="module")
def over_websocket(recorded: dict[str, Any]) -> dict[str, Any]:
    """The WebRTC recording replayed over a WebSocket against the mock."""
    out, report = _replay(recorded, "to-ws", _original(recorded), "--target", "mock",
                          "--transport", "websocket")
    return {"out": out, "report": report}


def test_playback_over_webrtc_gives_no_difference(recorded: dict[str, Any]) -> None:
    out, report = _replay(recorded, "playback", _original(recorded), "--target", "playback",
                          "--fast")
    assert out["rc"] == 0, out["stdout"]
    assert "no differences" in out["stdout"]
    assert report["equal"] is True and report["differences"] == []
    _complete(report)
    rec, events = _events(recorded, "playback")
    assert rec.transport == "webrtc" and rec.status == "closed"
    _, original = _events(recorded, "webrtc")
    # the recording's data-channel messages came back byte for byte, in order
    served = [e.data for e in events if e.direction == "server" and e.opcode != "media"]
    assert served == [e.data for e in original if e.direction == "server" and e.opcode != "media"]
    # and its audio on the track: heard, stored as media rows, as long as the recording's
    assert abs(rec.output_audio_ms - open_store(recorded["db"]).session(
        _original(recorded)).output_audio_ms) < 300


def test_mock_over_webrtc_completes(recorded: dict[str, Any]) -> None:
    out, report = _replay(recorded, "mock-rtc", _original(recorded), "--target", "mock")
    _complete(report)
    rec, events = _events(recorded, "mock-rtc")
    assert rec.transport == "webrtc" and rec.status == "closed", rec.status_reason
    _, original = _events(recorded, "webrtc")
    sent = [e.data for e in events if e.direction == "client"]
    assert sent == [e.data for e in original if e.direction == "client" and e.delivered]
    assert {e.opcode for e in events if e.type == "input_audio_buffer.append"} == {"media"}
    # the mock heard the recorded voice on the track: the same turns, barge-in included
    types = [e.type for e in events if e.direction == "server"]
    for kind in ("input_audio_buffer.speech_stopped", "output_audio_buffer.cleared",
                 TRUNCATION):
        assert kind in types, kind
    assert rec.output_audio_ms > 3000


def test_webrtc_recording_over_websocket(recorded: dict[str, Any],
                                         over_websocket: dict[str, Any]) -> None:
    report = over_websocket["report"]
    _complete(report)
    rec, events = _events(recorded, "to-ws")
    assert rec.transport == "websocket"
    appends = [e for e in events if e.type == "input_audio_buffer.append"]
    _, original = _events(recorded, "webrtc")
    media = [e for e in original if e.opcode == "media" and e.direction == "client"]
    # the track's audio went out as the append events its media rows stand for
    assert [e.data for e in appends] == [e.data for e in media]
    assert {e.opcode for e in appends} == {"text"}
    assert not any((e.type or "").startswith("output_audio_buffer.") for e in events)
    assert _crossover_differences(report) == []


def test_websocket_recording_over_webrtc(recorded: dict[str, Any],
                                         over_websocket: dict[str, Any]) -> None:
    out, report = _replay(recorded, "to-rtc", "@to-ws", "--target", "mock",
                          "--transport", "webrtc")
    _complete(report)
    rec, events = _events(recorded, "to-rtc")
    assert rec.transport == "webrtc" and rec.replay_of is not None
    appends = [e for e in events if e.type == "input_audio_buffer.append"]
    assert appends and {e.opcode for e in appends} == {"media"}  # on the track
    assert any(e.opcode == "media" and e.direction == "server" for e in events)
    assert "output_audio_buffer.stopped" in {e.type for e in events}
    assert _crossover_differences(report) == []


def test_refused_offer_is_an_endpoint_failure(recorded: dict[str, Any]) -> None:
    out = run_scenario("replay_refused", db=recorded["db"], session=_original(recorded),
                       key=KEY)
    assert out["rc"] == 3, out["stdout"] + out["stderr"]
    errors = [line for line in out["stderr"].splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in out["stderr"]
    assert "refused the offer with HTTP 401: " in errors[0]
    assert "Incorrect API key provided" in errors[0]
    rec, _ = _events(recorded, "refused-replay")
    assert rec.status == "failed" and rec.transport == "webrtc"
    assert "HTTP 401" in (rec.status_reason or "")
    # the key went to the endpoint only: not in the output, the logs or the store
    for text in (out["stdout"], out["stderr"], out["_stderr"]):
        assert KEY not in text and KEY[3:] not in text
    for path in Path(recorded["folder"]).rglob("*"):
        if path.is_file():
            assert KEY[3:].encode() not in path.read_bytes(), path
    assert all(KEY[3:] not in value for _, value in rec.headers)
    assert any(name.lower() == "authorization" for name, _ in rec.headers)  # it was sent
