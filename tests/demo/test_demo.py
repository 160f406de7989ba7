"""``rtcapture demo`` end to end through the CLI: the files the tour names open, the replay
diff is clean, re-runs replace only the demo's own files, the built-in client stands in for
a missing SDK, and ``--db`` sends the recording elsewhere."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf
from click.testing import Result

from rtcapture.demo.client import sdk_available
from rtcapture.protocol import ITEM_TRUNCATE, ITEM_TRUNCATED, RESPONSE_DONE, decode_event
from rtcapture.store import SessionRecord, open_store

from .helpers import named_files, run_cli, tour_section


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Result]]:
    """The demo as a newcomer runs it: no options, in a fresh working directory."""
    cwd = tmp_path_factory.mktemp("newcomer")
    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = run_cli("demo")
    finally:
        os.chdir(old)
    yield cwd / "rtcapture-demo", result


def _sessions(db: str) -> dict[str | None, SessionRecord]:
    store = open_store(db)
    try:
        return {rec.label: rec for rec in store.sessions()}
    finally:
        store.close()


def _db(out: Path) -> str:
    return f"sqlite:///{out / 'rtcapture.db'}"


def test_demo_exits_zero_and_every_named_file_exists(newcomer: tuple[Path, Result]) -> None:
    """Exit 0, and every file or folder the tour lists is in ./rtcapture-demo."""
    out, result = newcomer
    assert result.exit_code == 0, result.output
    names = named_files(result.stdout)
    assert {"rtcapture.db", "input.wav", "output.wav", "conversation.wav", "turns/",
            "dataset/", "demo.jsonl", "replay-report.json"} <= set(names)
    for name in names:
        assert (out / name).exists(), name


def test_auto_client_is_the_sdk_when_installed(newcomer: tuple[Path, Result]) -> None:
    """With the openai SDK importable, 'auto' drives the session with it."""
    out, result = newcomer
    expected = "openai SDK" if sdk_available() else "built-in client"
    assert expected in result.stdout.splitlines()[0]
    headers = dict(_sessions(_db(out))["demo"].headers)
    assert ("AsyncOpenAI" in headers["User-Agent"]) == sdk_available()


def test_wavs_open_and_match_the_recording(newcomer: tuple[Path, Result]) -> None:
    """The tour's WAVs open with soundfile; input/output last as long as the audio sent."""
    out, result = newcomer
    rec = _sessions(_db(out))["demo"]
    wavs = [out / n for n in named_files(result.stdout) if n.endswith(".wav")]
    wavs += sorted((out / "turns").glob("*.wav"))
    assert len(wavs) >= 3 + 6
    for path in wavs:
        info = sf.info(str(path))
        assert info.frames > 0 and info.samplerate == 24000, path
    assert sf.info(str(out / "input.wav")).duration == pytest.approx(
        rec.input_audio_ms / 1000, abs=0.05)
    assert sf.info(str(out / "output.wav")).duration == pytest.approx(
        rec.output_audio_ms / 1000, abs=0.05)
    assert sf.info(str(out / "conversation.wav")).channels == 2


def test_parquet_opens_with_pandas(newcomer: tuple[Path, Result]) -> None:
    """events/sessions/responses load in pandas and hold the recorded session."""
    out, _ = newcomer
    rec = _sessions(_db(out))["demo"]
    events = pd.read_parquet(out / "dataset" / "events")
    sessions = pd.read_parquet(out / "dataset" / "sessions")
    responses = pd.read_parquet(out / "dataset" / "responses")
    assert len(events) == rec.client_events + rec.server_events
    assert list(sessions["session_id"]) == [rec.id]
    assert len(responses) == 5
    story = responses[responses["status"] == "cancelled"]
    assert list(story["status_reason"]) == ["turn_detected"]  # the barge-in cut it


def test_replay_diff_is_clean(newcomer: tuple[Path, Result]) -> None:
    """The demo's replay report says no differences; replaying again via the CLI agrees."""
    out, result = newcomer
    report = json.loads((out / "replay-report.json").read_text())
    assert report["equal"] is True and report["exit_code"] == 0
    assert report["a"]["label"] == "demo" and report["b"]["replay_of"] == report["a"]["id"]
    assert (out / "replay-diff.txt").read_text().strip().endswith("no differences")
    assert "no differences" in result.stdout
    again = run_cli("--db", _db(out), "replay", "@demo", "--target", "playback", "--diff",
                    "--fast")
    assert again.exit_code == 0, again.output


def test_tour_reports_what_was_recorded(newcomer: tuple[Path, Result]) -> None:
    """Events, audio and turns in the tour are the stored session's; the barge-in
    truncated the story where the user started talking."""
    out, result = newcomer
    rec = _sessions(_db(out))["demo"]
    recorded = tour_section(result.stdout, "What was recorded")
    assert f"events   {rec.client_events} from the client, {rec.server_events} from the " \
           "server" in recorded
    assert f"audio    {rec.input_audio_ms / 1000:.1f} s from the user, " \
           f"{rec.output_audio_ms / 1000:.1f} s from the assistant" in recorded
    assert "turns    1 typed, 3 spoken (server VAD)" in recorded
    assert any("get_weather" in line for line in recorded)
    barge = next(line for line in recorded if "barge-in" in line)
    heard_s = float(re.search(r"truncated at ([\d.]+) s", barge).group(1))  # type: ignore[union-attr]
    store = open_store(_db(out))
    try:
        events = list(store.events(rec.id, types=[ITEM_TRUNCATE, ITEM_TRUNCATED,
                                                   RESPONSE_DONE]))
    finally:
        store.close()
    truncate = next(decode_event(e.data) for e in events if e.type == ITEM_TRUNCATE)
    assert truncate is not None and truncate["audio_end_ms"] / 1000 == pytest.approx(
        heard_s, abs=0.05)
    assert [e.type for e in events].count(ITEM_TRUNCATED) == 1


def test_cassette_imports(newcomer: tuple[Path, Result], tmp_path: Path) -> None:
    """demo.jsonl loads into another database as the same session."""
    out, _ = newcomer
    other = f"sqlite:///{tmp_path / 'other.db'}"
    result = run_cli("--db", other, "import", str(out / "demo.jsonl"))
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [_sessions(_db(out))["demo"].id]


def test_rerun_replaces_only_the_demos_files(tmp_path: Path) -> None:
    """A second run (quiet) replaces the demo's files and database; other files stay."""
    out = tmp_path / "demo"
    (out / "turns").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    (out / "turns" / "my-recording.wav").write_bytes(b"not the demo's")
    mock_log_level = logging.getLogger("rtcapture.mock.ws").level
    first = run_cli("demo", "--out", str(out), "--fast", "--client", "builtin")
    assert first.exit_code == 0, first.output
    assert logging.getLogger("rtcapture.mock.ws").level == mock_log_level  # put back
    first_id = _sessions(_db(out))["demo"].id
    turns = sorted(p.name for p in (out / "turns").iterdir())
    second = run_cli("-q", "demo", "--out", str(out), "--fast", "--client", "builtin")
    assert second.exit_code == 0, second.output
    assert second.stdout == ""
    sessions = _sessions(_db(out))
    assert set(sessions) == {"demo", "demo-replay"}
    assert sessions["demo"].id != first_id
    header = json.loads((out / "demo.jsonl").read_text().splitlines()[0])
    assert header["session"]["id"] == sessions["demo"].id
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "turns" / "my-recording.wav").read_bytes() == b"not the demo's"
    assert sorted(p.name for p in (out / "turns").iterdir()) == turns


def test_builtin_client_stands_in_for_a_missing_sdk(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the openai SDK, 'auto' uses the built-in client; '--client sdk' is refused."""
    monkeypatch.setitem(sys.modules, "openai", None)  # import openai -> ImportError
    assert not sdk_available()
    out = tmp_path / "demo"
    refused = run_cli("demo", "--out", str(out), "--client", "sdk")
    assert refused.exit_code == 2 and "openai SDK is not installed" in refused.output
    result = run_cli("demo", "--out", str(out), "--fast")
    assert result.exit_code == 0, result.output
    assert "built-in client" in result.stdout.splitlines()[0]
    headers = dict(_sessions(_db(out))["demo"].headers)
    assert headers["User-Agent"] == "rtcapture-demo"


def test_db_option_records_into_that_database(pg_url: str, tmp_path: Path) -> None:
    """--db (here PostgreSQL) gets the sessions; no database is created in --out."""
    out = tmp_path / "demo"
    result = run_cli("--db", pg_url, "demo", "--out", str(out), "--fast", "--client",
                     "builtin")
    assert result.exit_code == 0, result.output
    assert not (out / "rtcapture.db").exists()
    assert "rtcapture.db" not in named_files(result.stdout)
    sessions = _sessions(pg_url)
    assert sessions["demo-replay"].replay_of == sessions["demo"].id
    assert any(line.startswith("rtcapture --db ") for line in
               tour_section(result.stdout, "Try next"))


def test_out_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    """--out naming a file: exit 2, one line."""
    path = tmp_path / "file"
    path.write_text("x")
    result = run_cli("demo", "--out", str(path))
    assert result.exit_code == 2
    assert "Traceback" not in result.output and path.read_text() == "x"
