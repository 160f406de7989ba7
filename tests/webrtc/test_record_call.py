"""Acceptance: a browser-like aiortc client through ``rtcapture record`` -> ``rtcapture
mock`` over WebRTC (inside a loopback-only namespace), then ``audio`` and ``export``
(the recording: ``conftest.recorded``; its replays: ``test_replay_call``)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile

from rtcapture.store import open_store

from .browser import KEY
from .netns import ROOT
from .scenarios import JITTER_HOLD_MS


def _cli(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcapture", "--db", db, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _best_correlation(a: np.ndarray, b: np.ndarray) -> float:
    n = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    spec = np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n))
    corr = np.fft.irfft(spec, n)
    return float(np.max(np.abs(corr)) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _window_correlation(piece: np.ndarray, signal: np.ndarray) -> float:
    """Best normalised correlation of ``piece`` against any same-length window of ``signal``."""
    n = 1 << int(np.ceil(np.log2(len(piece) + len(signal))))
    dots = np.fft.irfft(np.fft.rfft(signal, n) * np.conj(np.fft.rfft(piece, n)), n)
    dots = dots[:len(signal) - len(piece) + 1]
    energy = np.concatenate([[0.0], np.cumsum(signal.astype(np.float64) ** 2)])
    window = np.sqrt(energy[len(piece):] - energy[:-len(piece)])
    return float(np.max(dots / (np.maximum(window, 1e-9) * np.linalg.norm(piece))))


def test_session_and_frames_byte_exact(recorded: dict) -> None:
    result = recorded["result"]
    store = open_store(recorded["db"])
    sid = store.resolve("@webrtc")
    rec = store.session(sid)
    assert rec.transport == "webrtc"
    assert rec.status == "closed", rec.status_reason
    assert rec.label == "webrtc"
    events = list(store.events(sid))
    assert [e.seq for e in events] == list(range(len(events)))  # gapless
    frames = [e for e in events if e.opcode != "media"]
    client = [e.data.decode() for e in frames if e.direction == "client"]
    server = [e.data.decode() for e in frames if e.direction == "server"]
    assert client == result["sent"]  # every data-channel message, byte-exact, in order
    assert server == result["received"][:len(server)]
    assert len(server) == len(result["received"])
    assert all(e.delivered for e in frames)
    media = [e for e in events if e.opcode == "media"]
    assert {e.type for e in media} == {"input_audio_buffer.append",
                                       "response.output_audio.delta"}
    t = [e.t_ns for e in events]
    assert t == sorted(t) or max(a - b for a, b in zip(t, t[1:], strict=False)) < 200_000_000


def test_audio_matches_what_was_sent_and_heard(recorded: dict) -> None:
    result = recorded["result"]
    # relayed as received (no decode, no re-encode), decoded for storage only
    assert "audio relayed: to upstream as Opus packets, to client as Opus packets" \
        in result["logs"]
    out = recorded["folder"] / "wav"
    proc = _cli(recorded["db"], "audio", "@webrtc", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    recorded_in, rate = soundfile.read(out / "input.wav", dtype="float32")
    assert rate == 24000
    sent = np.frombuffer(base64.b64decode(result["mic_sent_b64"]), "<i2") / 32768.0
    # the end of the stream stays in the pipeline (see JITTER_HOLD_MS)
    sent = sent[:len(sent) - JITTER_HOLD_MS * rate // 1000]
    assert abs(len(recorded_in) - len(sent)) / rate * 1000 <= 40, (len(recorded_in), len(sent))
    assert _best_correlation(recorded_in, sent) >= 0.9
    recorded_out, _ = soundfile.read(out / "output.wav", dtype="float32")
    heard = np.frombuffer(base64.b64decode(result["heard_b64"]), "<i2") / 32768.0
    assert len(recorded_out) > rate  # the text turn's answer at least
    # output.wav holds each response as heard (started .. stopped/cleared), back to back;
    # each one is found in what the client's speaker played
    store = open_store(recorded["db"])
    pieces: dict[str, bytearray] = {}
    for ev in store.events(store.resolve("@webrtc")):
        if ev.opcode == "media" and ev.direction == "server":
            delta = json.loads(ev.data)["delta"]
            pieces.setdefault(ev.response_id or "", bytearray()).extend(base64.b64decode(delta))
    assert len(pieces) >= 3  # text turn, interrupted voice turn, the turn after it
    assert sum(len(p) for p in pieces.values()) // 2 == len(recorded_out)
    for rid, pcm in pieces.items():
        # the last 200 ms of the final answer are still in the client's pipeline (jitter
        # buffer, decoder) when it hangs up right after output_audio_buffer.stopped
        piece = np.frombuffer(bytes(pcm), "<i2")[:-4800] / 32768.0
        assert _window_correlation(piece, heard) >= 0.9, rid
    assert (out / "conversation.wav").exists()


def test_export_works(recorded: dict) -> None:
    folder: Path = recorded["folder"]
    proc = _cli(recorded["db"], "export", "@webrtc", "--out", str(folder / "pq"))
    assert proc.returncode == 0, proc.stderr
    import pyarrow.parquet as pq

    sessions = pq.read_table(folder / "pq" / "sessions").to_pylist()
    assert sessions[0]["output_audio_ms"] > 1000
    assert sessions[0]["input_audio_ms"] > 1000
    assert sessions[0]["transport"] == "webrtc"
    responses = pq.read_table(folder / "pq" / "responses").to_pylist()
    assert len(responses) >= 2
    proc = _cli(recorded["db"], "export", "@webrtc", "--format", "jsonl", "--out",
                str(folder / "c.jsonl"))
    assert proc.returncode == 0, proc.stderr
    header = json.loads((folder / "c.jsonl").read_text().splitlines()[0])
    assert header["session"]["transport"] == "webrtc"


def test_no_secret_on_disk_or_in_logs(recorded: dict) -> None:
    folder: Path = recorded["folder"]
    logs = recorded["result"]["logs"]
    assert "ICE completed" in logs  # the recorder's and the mock's logs (-v), not nothing
    for text in (recorded["result"]["_stderr"], logs):
        assert KEY not in text and KEY[3:] not in text
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert KEY.encode() not in data and KEY[3:].encode() not in data, path
    store = open_store(recorded["db"])
    rec = store.session(store.resolve("@webrtc"))
    assert all(KEY not in v for _, v in rec.headers)
    assert any(k.lower() == "authorization" for k, _ in rec.headers)


def test_report_works(recorded: dict) -> None:
    page = recorded["folder"] / "report.html"
    proc = _cli(recorded["db"], "report", "@webrtc", "--out", str(page))
    assert proc.returncode == 0, proc.stderr
    store = open_store(recorded["db"])
    html = page.read_text()
    assert store.resolve("@webrtc") in html
    assert "output_audio_buffer.cleared" in html  # the event log has the call's events
    bare = recorded["folder"] / "report-no-audio.html"
    proc = _cli(recorded["db"], "report", "@webrtc", "--no-audio", "--out", str(bare))
    assert proc.returncode == 0, proc.stderr
    assert "data:audio/ogg;base64," in html  # the call's audio is in it
    assert "data:audio/ogg;base64," not in bare.read_text()
    assert page.stat().st_size > bare.stat().st_size + 20_000
