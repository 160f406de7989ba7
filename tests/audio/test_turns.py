"""``--per-turn``: one file per committed user item and per assistant item, in order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rtcapture.audio import extract_audio
from rtcapture.codec import alaw_encode
from rtcapture.store import Store, open_store
from tests.factories import make_session

from .builders import PCM, append, appends, beta_session, delta, ga_session, tone


@pytest.fixture
def store(sqlite_url: str) -> Store:
    with open_store(sqlite_url) as s:
        yield s


def turn_files(folder: Path) -> list[str]:
    turns = folder / "turns"
    return sorted(p.name for p in turns.iterdir()) if turns.exists() else []


def read(path: Path) -> np.ndarray:
    return sf.read(path, dtype="int16")[0]


def test_manual_commits_split_turns_and_clear_drops(store: Store, tmp_path: Path) -> None:
    """Commits split the user's audio into items; cleared audio is left out."""
    a, b, c = tone(0.5, 300), tone(0.3, 500), tone(0.4, 700)
    reply = tone(0.6, 900)
    frames = [("server", ga_session("session.created", PCM, PCM, vad=True), 0),
              ("client", ga_session("session.update", vad=False), 5),
              ("server", ga_session("session.updated", PCM, PCM, vad=False), 8)]
    frames += appends(a, 2400, 10, 100)
    frames += [("client", {"type": "input_audio_buffer.commit"}, 600),
               ("server", {"type": "input_audio_buffer.committed", "item_id": "item_u1"}, 610),
               ("server", delta(reply, "item_a1"), 700)]
    frames += appends(b, 2400, 1500, 100)
    frames += [("client", {"type": "input_audio_buffer.clear"}, 1900),
               ("server", {"type": "input_audio_buffer.cleared"}, 1910)]
    frames += appends(c, 2400, 2000, 100)
    frames += [("client", {"type": "input_audio_buffer.commit"}, 2500),
               ("server", {"type": "input_audio_buffer.committed", "item_id": "item_u2"}, 2510)]
    sid = make_session(store, frames)
    report = extract_audio(store, sid, tmp_path, per_turn=True)
    assert turn_files(tmp_path) == ["0001-user-item_u1.wav", "0002-assistant-item_a1.wav",
                                    "0003-user-item_u2.wav"]
    assert np.array_equal(read(tmp_path / "turns" / "0001-user-item_u1.wav"), a)
    assert np.array_equal(read(tmp_path / "turns" / "0002-assistant-item_a1.wav"), reply)
    assert np.array_equal(read(tmp_path / "turns" / "0003-user-item_u2.wav"), c)
    by_item = {f.item_id: f.kind for f in report.files}
    assert by_item["item_u1"] == "user_turn" and by_item["item_a1"] == "assistant_turn"


def test_server_vad_cuts_at_reported_positions(store: Store, tmp_path: Path) -> None:
    """With server VAD the item is the audio between audio_start_ms and audio_end_ms."""
    stream = np.concatenate([np.zeros(24000, np.int16), tone(1.0, 440),
                             np.zeros(24000, np.int16)])
    frames = [("server", ga_session("session.created", PCM, PCM, vad=True), 0)]
    frames += appends(stream, 480, 10, 20)
    frames += [("server", {"type": "input_audio_buffer.speech_started", "item_id": "item_v",
                           "audio_start_ms": 700}, 1400),
               ("server", {"type": "input_audio_buffer.speech_stopped", "item_id": "item_v",
                           "audio_end_ms": 2200}, 2450),
               ("server", {"type": "input_audio_buffer.committed", "item_id": "item_v",
                           "previous_item_id": None}, 2460)]
    frames.sort(key=lambda f: f[2])
    sid = make_session(store, frames)
    extract_audio(store, sid, tmp_path, per_turn=True)
    assert turn_files(tmp_path) == ["0001-user-item_v.wav"]
    assert np.array_equal(read(tmp_path / "turns" / "0001-user-item_v.wav"),
                          stream[700 * 24:2200 * 24])


def test_uncommitted_speech_is_left_out(store: Store, tmp_path: Path) -> None:
    """Speech the server never committed (cleared, or the session ended) has no file."""
    frames = [("server", ga_session("session.created", PCM, PCM, vad=True), 0)]
    frames += appends(tone(1.0), 480, 10, 20)
    frames += [("server", {"type": "input_audio_buffer.speech_started", "item_id": "item_x",
                           "audio_start_ms": 100}, 500)]
    sid = make_session(store, frames)
    extract_audio(store, sid, tmp_path, per_turn=True)
    assert turn_files(tmp_path) == []


def test_truncated_assistant_item_has_heard_version(store: Store, tmp_path: Path) -> None:
    """A truncated item gets its full audio and, beside it, the part the user heard."""
    speech = tone(2.0, 520)
    frames = [("server", delta(speech[i:i + 7200], "item_a1"), 1000 + 5 * k)
              for k, i in enumerate(range(0, speech.size, 7200))]
    frames += [("server", {"type": "response.output_audio.done", "item_id": "item_a1",
                           "response_id": "resp_1"}, 1100),
               ("client", {"type": "conversation.item.truncate", "item_id": "item_a1",
                           "content_index": 0, "audio_end_ms": 750}, 1800)]
    sid = make_session(store, frames)
    report = extract_audio(store, sid, tmp_path, per_turn=True)
    assert turn_files(tmp_path) == ["0001-assistant-item_a1.heard.wav",
                                    "0001-assistant-item_a1.wav"]
    assert np.array_equal(read(tmp_path / "turns" / "0001-assistant-item_a1.wav"), speech)
    assert np.array_equal(read(tmp_path / "turns" / "0001-assistant-item_a1.heard.wav"),
                          speech[:18000])
    assert {f.kind for f in report.files} >= {"assistant_turn", "assistant_heard"}


def test_rerun_replaces_old_turn_files(store: Store, tmp_path: Path) -> None:
    """Writing into the same folder again leaves no turn file of the earlier run."""
    first = make_session(store, [("server", delta(tone(0.2), "item_old"), 10)])
    second = make_session(store, [("server", delta(tone(0.2), "item_new"), 10)])
    extract_audio(store, first, tmp_path, per_turn=True)
    (tmp_path / "turns" / "notes.txt").write_text("mine")
    extract_audio(store, second, tmp_path, per_turn=True)
    assert turn_files(tmp_path) == ["0001-assistant-item_new.wav", "notes.txt"]


def test_refused_commit_keeps_audio_for_next_item(store: Store, tmp_path: Path) -> None:
    """A commit refused for being too short leaves its audio in the next item."""
    short, rest = tone(0.05, 300), tone(0.5, 450)
    frames = [("client", ga_session("session.update", vad=False), 0),
              ("client", append(short), 10),
              ("client", {"type": "input_audio_buffer.commit"}, 70),
              ("server", {"type": "error", "error": {
                  "type": "invalid_request_error", "code": "input_audio_buffer_commit_empty",
                  "message": "buffer too small"}}, 75)]
    frames += appends(rest, 2400, 100, 100)
    frames += [("client", {"type": "input_audio_buffer.commit"}, 700),
               ("server", {"type": "input_audio_buffer.committed", "item_id": "item_u"}, 710)]
    sid = make_session(store, frames)
    extract_audio(store, sid, tmp_path, per_turn=True)
    assert turn_files(tmp_path) == ["0001-user-item_u.wav"]
    assert np.array_equal(read(tmp_path / "turns" / "0001-user-item_u.wav"),
                          np.concatenate([short, rest]))


def test_turn_files_survive_a_rate_change(store: Store, tmp_path: Path) -> None:
    """When a higher-rate format appears mid-session, turn files are written once, at the
    files' final rate."""
    low = alaw_encode(tone(0.5, 300, rate=8000))
    frames = [("client", beta_session("session.update", "g711_alaw", "pcm16", vad=False), 0),
              ("client", append(low), 10),
              ("client", {"type": "input_audio_buffer.commit"}, 600),
              ("server", {"type": "input_audio_buffer.committed", "item_id": "item_1"}, 610),
              ("client", beta_session("session.update", "pcm16"), 700),
              ("client", append(tone(0.25)), 710),
              ("client", {"type": "input_audio_buffer.commit"}, 1000),
              ("server", {"type": "input_audio_buffer.committed", "item_id": "item_2"}, 1010)]
    sid = make_session(store, frames)
    report = extract_audio(store, sid, tmp_path, per_turn=True)
    assert turn_files(tmp_path) == ["0001-user-item_1.wav", "0002-user-item_2.wav"]
    first = sf.read(tmp_path / "turns" / "0001-user-item_1.wav", dtype="int16")
    assert first[1] == 24000 and first[0].size == 3 * 4000
    assert np.array_equal(read(tmp_path / "turns" / "0002-user-item_2.wav"), tone(0.25))
    assert [f.rate for f in report.files if f.kind == "input"] == [24000]
