"""``rtcapture audio`` through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from rtcapture.cli import cli
from rtcapture.store import open_store
from tests.factories import make_session

from .builders import PCM, append, appends, delta, ga_session, tone


def make(db_url: str, frames, label: str | None = None) -> str:
    with open_store(db_url) as store:
        return make_session(store, frames, label=label)


def voice_session() -> list:
    frames = [("server", ga_session("session.created", PCM, PCM), 0)]
    frames += appends(tone(3.0), 2400, 10, 100)
    frames += [("client", {"type": "input_audio_buffer.commit"}, 3100),
               ("server", {"type": "input_audio_buffer.committed", "item_id": "item_u1"}, 3110),
               ("server", delta(tone(1.5, 600), "item_a1"), 3500)]
    return frames


def run(db_url: str, *args: str):
    return CliRunner().invoke(cli, ["--db", db_url, "audio", *args], catch_exceptions=False)


def test_audio_command_writes_and_lists_files(db_url: str, tmp_path: Path) -> None:
    """The command writes the three WAVs and prints each with its duration (both stores)."""
    sid = make(db_url, voice_session())
    out = tmp_path / "new" / "wav"
    result = run(db_url, sid, "--out", str(out))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any("input.wav" in line and "3.000 s" in line for line in lines)
    assert any("output.wav" in line and "1.500 s" in line for line in lines)
    assert any("conversation.wav" in line and "stereo" in line for line in lines)
    assert np.array_equal(sf.read(out / "input.wav", dtype="int16")[0], tone(3.0))


def test_audio_json_per_turn_and_selectors(sqlite_url: str, tmp_path: Path) -> None:
    """``--json`` lists path, channels, rate, frames and duration; @label selects."""
    make(sqlite_url, voice_session(), label="call")
    result = run(sqlite_url, "@call", "--out", str(tmp_path), "--per-turn", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    files = {Path(f["path"]).name: f for f in doc["files"]}
    assert set(files) == {"input.wav", "output.wav", "conversation.wav",
                          "0001-user-item_u1.wav", "0002-assistant-item_a1.wav"}
    assert files["input.wav"] | {"path": None} == {
        "path": None, "kind": "input", "channels": 1, "rate": 24000, "frames": 72000,
        "duration_s": 3.0, "item_id": None}
    assert files["conversation.wav"]["channels"] == 2
    assert doc["invalid_chunks"] == 0
    for f in doc["files"]:
        assert sf.info(f["path"]).frames == f["frames"]


def test_invalid_chunk_reported_with_seq(sqlite_url: str, tmp_path: Path) -> None:
    """A bad chunk is named by seq on stderr; the rest is written; exit 0."""
    sid = make(sqlite_url, [("client", append(tone(0.1)), 0),
                            ("client", {"type": "input_audio_buffer.append",
                                        "audio": "@@@"}, 20),
                            ("client", append(tone(0.1)), 40)])
    result = run(sqlite_url, sid, "--out", str(tmp_path))
    assert result.exit_code == 0
    assert "seq 1:" in result.stderr and "invalid base64" in result.stderr
    assert "skipped 1 invalid audio chunk" in result.stderr
    assert sf.info(str(tmp_path / "input.wav")).frames == 4800


def test_no_audio_says_so(sqlite_url: str, tmp_path: Path) -> None:
    """No audio: a message, exit 0, no folder and no empty files."""
    make(sqlite_url, [("server", ga_session("session.created", PCM, PCM), 0)])
    out = tmp_path / "wav"
    result = run(sqlite_url, "last", "--out", str(out))
    assert result.exit_code == 0
    assert "no audio" in result.stderr
    assert not out.exists()


def test_out_is_a_file(sqlite_url: str, tmp_path: Path) -> None:
    """``--out`` naming a file is refused in one line, exit 2, no traceback."""
    sid = make(sqlite_url, voice_session())
    target = tmp_path / "taken"
    target.write_text("x")
    result = run(sqlite_url, sid, "--out", str(target))
    assert result.exit_code == 2
    assert "not a directory" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_session(sqlite_url: str, tmp_path: Path) -> None:
    """An unknown SESSION is a usage error."""
    make(sqlite_url, voice_session())
    result = run(sqlite_url, "ZZZZ", "--out", str(tmp_path))
    assert result.exit_code == 2 and "no session matches" in result.stderr


def test_help_has_example() -> None:
    """The command documents itself."""
    result = CliRunner().invoke(cli, ["audio", "--help"])
    assert result.exit_code == 0 and "--per-turn" in result.output
    assert "Example:" in result.output


def test_default_out_is_named_after_the_session(sqlite_url: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --out the files go to ./audio-<session id>."""
    sid = make(sqlite_url, voice_session())
    monkeypatch.chdir(tmp_path)
    result = run(sqlite_url, sid[:10])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / f"audio-{sid}").iterdir()) == [
        "conversation.wav", "input.wav", "output.wav"]
