"""One session-state tracker: ingest, export and audio extraction agree on durations."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import soundfile as sf
from click.testing import CliRunner

import rtcapture
from rtcapture.audio import extract_audio
from rtcapture.cli import cli
from rtcapture.protocol import G711_ULAW, PCM16, Direction, SessionState
from rtcapture.store import open_store
from tests.factories import b64, make_session

PCM = {"type": "audio/pcm", "rate": 24000}
PCMU = {"type": "audio/pcmu"}


def _session(output: dict, event: str = "session.update") -> dict:
    return {"type": event, "session": {"type": "realtime", "audio": {"output": {"format": output}}}}


def _response(rid: str, t: float, audio: bytes, override: dict | None = None) -> list:
    body: dict = {"id": rid, "status": "in_progress", "output": []}
    if override is not None:
        body["audio"] = {"output": {"format": override}}
    frames: list = [("server", {"type": "response.created", "response": body}, t)]
    for n in range(0, len(audio), 4800):
        frames.append(("server", {"type": "response.output_audio.delta", "response_id": rid,
                                  "item_id": f"item_{rid}", "output_index": 0,
                                  "content_index": 0, "delta": b64(audio[n:n + 4800])},
                       t + 10 + n / 4800))
    frames.append(("server", {"type": "response.done", "response": {
        "id": rid, "status": "completed", "output": []}}, t + 500))
    return frames


def test_output_durations_agree_across_format_changes(sqlite_url: str, tmp_path: Path) -> None:
    """pcm16, then μ-law for the session, then a pcm16 override on one response, then a
    session.update arriving mid-response: the three output durations are the same."""
    frames: list = [("server", _session(PCM, "session.created"), 0)]
    frames += _response("resp_1", 100, b"\0\x10" * 24000)            # 1000 ms pcm16
    frames += [("client", _session(PCMU), 1000), ("server", _session(PCMU, "session.updated"),
                                                  1010)]
    frames += _response("resp_2", 1100, b"\x7f" * 4000)               # 500 ms μ-law
    frames += _response("resp_3", 2000, b"\0\x10" * 12000, override=PCM)  # 500 ms pcm16
    mid = _response("resp_4", 3000, b"\x7f" * 8000)                   # 1000 ms μ-law
    mid.insert(2, ("client", _session(PCM), 3011))  # after its first delta: not for resp_4
    frames += mid
    store = open_store(sqlite_url)
    sid = make_session(store, frames)
    session_ms = store.session(sid).output_audio_ms
    report = extract_audio(store, sid, tmp_path)
    store.close()
    with rtcapture.open(sqlite_url) as rec:
        responses = rec.responses(sid)
    per_response = dict(zip(responses["response_id"], responses["output_audio_ms"], strict=True))
    info = sf.info(tmp_path / "output.wav")
    wav_ms = info.frames / info.samplerate * 1000
    assert per_response == {"resp_1": 1000.0, "resp_2": 500.0, "resp_3": 500.0,
                            "resp_4": 1000.0}
    assert session_ms == sum(per_response.values()) == 3000.0
    assert abs(wav_ms - session_ms) <= 1
    assert report.invalid_count == 0


def test_late_session_created_and_partial_updates() -> None:
    """session.created after the client's update is stale; partial updates keep the rest."""
    state = SessionState()
    state.observe(Direction.CLIENT, "session.update", {"session": {
        "input_audio_format": "g711_ulaw", "turn_detection": {"type": "server_vad",
                                                              "silence_duration_ms": 350}}})
    state.observe(Direction.SERVER, "session.created", {"session": {
        "input_audio_format": "pcm16", "turn_detection": None}})
    assert state.input == G711_ULAW and state.vad and state.vad_settings.silence_ms == 350
    state.observe(Direction.CLIENT, "session.update", {"session": {"instructions": "x"}})
    assert state.vad_settings.silence_ms == 350 and state.output == PCM16
    state.observe(Direction.CLIENT, "session.update", {"session": {"turn_detection": None}})
    assert not state.vad


def test_turns_in_notebook_and_parquet(sqlite_url: str, tmp_path: Path) -> None:
    """The barge-in sample: rtcapture.open(...).turns() and the exported turns table agree,
    and the sessions row counts the interruption."""
    root = Path(__file__).resolve().parents[2]
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", sqlite_url, "import", str(
        root / "samples" / "cassettes" / "barge-in-ga.jsonl")]).exit_code == 0
    assert runner.invoke(cli, ["--db", sqlite_url, "export", "--all", "--out",
                               str(tmp_path / "ds")]).exit_code == 0
    exported = pd.read_parquet(tmp_path / "ds" / "turns")
    with rtcapture.open(sqlite_url) as rec:
        turns = rec.turns()
        sessions = rec.sessions()
    assert list(turns["response_id"]) == list(exported["response_id"])
    assert turns["interrupted"].tolist() == [True, False]
    assert int(sessions["interruptions"].iloc[0]) == 1
    parquet_sessions = pd.read_parquet(tmp_path / "ds" / "sessions")
    assert int(parquet_sessions["interruptions"].iloc[0]) == 1
    assert parquet_sessions["talk_over_ms"].iloc[0] == turns["talk_over_ms"].sum()
