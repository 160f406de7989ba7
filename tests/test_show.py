"""``rtcapture show``: the timeline and its filters."""

from __future__ import annotations

import json

from click.testing import CliRunner

from rtcapture.cli import cli
from rtcapture.store import open_store
from tests.factories import b64, make_session

FRAMES = [
    ("server", {"type": "session.created", "event_id": "e1", "session": {"id": "s"}}, 0),
    ("client", {"type": "input_audio_buffer.append", "audio": b64(b"\x00" * 960)}, 10),
    ("server", {"type": "input_audio_buffer.speech_started", "event_id": "e2",
                "item_id": "item_1", "audio_start_ms": 0}, 20),
    ("server", {"type": "input_audio_buffer.speech_stopped", "event_id": "e3",
                "item_id": "item_1", "audio_end_ms": 900}, 930),
    ("server", {"type": "response.created", "event_id": "e4",
                "response": {"id": "resp_1"}}, 950),
    ("client", {"type": "response.cancel"}, 960),
    ("server", {"type": "response.done", "event_id": "e5", "response": {"id": "resp_1"}}, 970),
]


def _show(url: str, *args: str) -> list[str]:
    result = CliRunner().invoke(cli, ["-q", "--db", url, "show", "@s", *args])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def _types(lines: list[str]) -> list[str]:
    return [line.split()[4] for line in lines]


def test_type_globs_directions_and_jsonl(sqlite_url) -> None:
    """One glob, several (repeated or comma-separated), with --direction; --jsonl frames."""
    make_session(open_store(sqlite_url), FRAMES, label="s")
    lines = _show(sqlite_url)
    assert len(lines) == len(FRAMES)
    assert "[audio 960 bytes]" in lines[1] and "AAAA" not in lines[1]
    assert _types(_show(sqlite_url, "--type", "response.*")) == [
        "response.created", "response.cancel", "response.done"]
    several = ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
               "response.done"]
    assert _types(_show(sqlite_url, "--type", "*.speech_*", "--type", "response.done")) == several
    assert _types(_show(sqlite_url, "--type", "*.speech_*, response.done")) == several
    assert _types(_show(sqlite_url, "--type", "response.*", "--direction", "client")) == [
        "response.cancel"]
    records = [json.loads(line) for line in _show(sqlite_url, "--jsonl", "--type", "session.*")]
    assert [json.loads(r["text"])["type"] for r in records] == ["session.created"]
    assert records[0]["seq"] == 0 and records[0]["direction"] == "server"
