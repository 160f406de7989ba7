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
    """The timeline lines of ``show @s`` (the header line, on stdout too, checked and cut)."""
    result = CliRunner().invoke(cli, ["-q", "--db", url, "show", "@s", *args])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    if "--jsonl" in args:
        return lines
    assert lines[0].startswith("session ") and "gpt-realtime" in lines[0], lines
    return lines[1:]


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


ODD_FRAMES = [
    ("client", {"type": "conversation.item.create",
                "item": {"type": "message", "role": "user",
                         "content": [{"type": "input_text", "text": "hi"}]}}, 0),
    ("client", {"type": "response.create", "response": {"modalities": ["text"]}}, 1),
    ("server", {"type": "response.created", "event_id": "e1",
                "response": {"id": "resp_1", "status": "in_progress"}}, 2),
    ("server", {"type": "response.output_text.delta", "event_id": "e2", "item_id": "item_"
                + "x" * 60, "response_id": "resp_" + "y" * 60, "delta": "z" * 300}, 3),
    ("server", {"type": "error", "event_id": "e3",
                "error": {"type": "invalid_request_error", "code": None, "message": "bad"}}, 4),
]


def test_no_none_and_width(sqlite_url) -> None:
    """Fields that are absent are left out (never ``None``), and no line passes 100
    characters, however long the ids and texts."""
    make_session(open_store(sqlite_url), ODD_FRAMES, label="s")
    lines = _show(sqlite_url)
    assert len(lines) == len(ODD_FRAMES)
    assert not [line for line in lines if "None" in line], lines
    assert max(len(line) for line in lines) <= 100, lines
    assert lines[0].endswith("conversation.item.create item=message/user")
    assert lines[1].endswith("response.create")
    assert lines[2].endswith("response=resp_1 status=in_progress")
    assert lines[3].endswith("...")
    assert lines[4].endswith("error=invalid_request_error: bad")


def test_header_on_stdout_when_redirected(sqlite_url) -> None:
    """The header goes with the timeline (stdout), so ``show > file`` keeps it."""
    sid = make_session(open_store(sqlite_url), FRAMES, label="s")
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "show", "@s"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith(f"session {sid}  gpt-realtime")
    assert "session " not in result.stderr


def test_type_matching_nothing_says_so(sqlite_url) -> None:
    """A --type glob that matches nothing says so on stderr, with the closest type."""
    make_session(open_store(sqlite_url), FRAMES, label="s")
    result = CliRunner().invoke(cli, ["-q", "--db", sqlite_url, "show", "@s",
                                      "--type", "respnse.don*"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1:] == []
    assert result.stderr.strip() == ("no events match --type 'respnse.don*' "
                                     "(closest type: response.done)")
    result = CliRunner().invoke(cli, ["-q", "--db", sqlite_url, "show", "@s", "--jsonl",
                                      "--type", "zzz"])
    assert result.stdout == "" and result.stderr.strip() == "no events match --type 'zzz'"
