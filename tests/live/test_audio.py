"""``rtcapture audio`` on Live recordings: tracks, conversation, utterance cuts, gaps."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import soundfile as sf
from click.testing import CliRunner

from rtcapture.cli import cli
from rtcapture.protocol import Flavour, live
from rtcapture.store import open_store
from tests.factories import make_session

from .recorded import record_conversation

CHUNK_FRAMES = 2400  # the mock's 100 ms output chunk at 24 kHz


def audio_json(db: str, *args: str) -> dict:
    result = CliRunner().invoke(cli, ["--db", db, "audio", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


async def test_wavs_match_what_was_sent(sqlite_url: str, tmp_path: Path) -> None:
    rec = await record_conversation(sqlite_url)
    doc = audio_json(sqlite_url, rec.session_id, "--out", str(tmp_path / "wav"), "--per-turn")
    files = {f["kind"]: f for f in doc["files"]}
    assert files["input"]["frames"] == rec.input_bytes // 2  # every sample, exactly
    assert files["output"]["frames"] == rec.output_bytes // 2
    assert abs(files["output"]["frames"] - files["input"]["frames"]) <= CHUNK_FRAMES
    conv = files["conversation"]
    assert conv["channels"] == 2 and conv["frames"] == max(
        files["input"]["frames"], files["output"]["frames"])
    data, rate = sf.read(conv["path"], dtype="int16")
    assert rate == 24000 and data[:, 0].any() and data[:, 1].any()
    user = [f for f in doc["files"] if f["kind"] == "user_turn"]
    assistant = [f for f in doc["files"] if f["kind"] == "assistant_turn"]
    assert len(user) == 2 and len(assistant) == 2
    replies = live.group_utterances(
        (None, e) for e in rec.events if e["type"] in live.SPEAKER_OF)
    assert [u.text for u in replies] == ["What time is it?", "It is noon.", "Thank you.",
                                         "You are welcome."]
    for utt, file in zip([u for u in replies if u.speaker == "assistant"], assistant,
                         strict=True):
        assert abs(file["frames"] - (utt.end_ms - utt.start_ms) * 24) <= 24
        samples, _ = sf.read(file["path"], dtype="int16")
        assert samples.any()  # speech, not the silence between utterances
    assert doc["gaps"] == []


def test_timeline_fields_place_output_and_gaps_are_kept(sqlite_url: str,
                                                        tmp_path: Path) -> None:
    """Sideband-style deltas with start_ms/end_ms: a missing range stays silent, reported."""
    chunk = base64.b64encode(b"\x01\x00" * 2400).decode()  # 100 ms of non-silence
    frames = [("client", {"type": "session.start", "session": {
        "model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm", "rate": 24000}}}}, 0),
        ("server", {"type": "session.started", "event_id": "e1",
                    "session": {"id": "live_1"}}, 1)]
    for i, start in enumerate((0, 100, 300)):  # 200..300 ms was dropped
        frames.append(("server", {"type": "session.output_audio.delta", "delta": chunk,
                                  "start_ms": start, "end_ms": start + 100}, 10 + i))
    store = open_store(sqlite_url)
    sid = make_session(store, frames, flavour=Flavour.LIVE, model="gpt-live-1")
    store.close()
    doc = audio_json(sqlite_url, sid, "--out", str(tmp_path / "wav"))
    output = next(f for f in doc["files"] if f["kind"] == "output")
    assert output["frames"] == 4 * 2400
    assert doc["gaps"] == [{"start_ms": 200.0, "ms": 100.0}]
    samples, _ = sf.read(output["path"], dtype="int16")
    assert not samples[4800:7200].any() and samples[7200:].all()
