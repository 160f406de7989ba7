"""The plugin's pure parts: the client-event matcher and the cassette file rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rtcapture.proxy.ingest import SessionTally
from rtcapture.pytest_plugin.matcher import ClientMatcher, expected_client_frames
from rtcapture.pytest_plugin.tape import (
    SecretInCassette,
    cassette_path,
    episode_path,
    stable_session,
    write_episode,
)
from rtcapture.replay.paths import parse_ignores
from rtcapture.store.records import EventRecord, SessionRecord
from tests.factories import b64, frame_bytes


def _frames(*events: tuple[str, dict[str, Any]]) -> list[EventRecord]:
    tally = SessionTally()
    return [tally.build("s", seq, direction, seq * 1000, seq * 1000, "text", frame_bytes(event))
            for seq, (direction, event) in enumerate(events)]


def _mismatch(expected: dict[str, Any], actual: dict[str, Any],
              matcher: ClientMatcher | None = None) -> list[str]:
    recorded = expected_client_frames(_frames(("client", expected)))
    return (matcher or ClientMatcher()).mismatch(recorded[0], frame_bytes(actual))


def _append(ms: int) -> dict[str, Any]:
    return {"type": "input_audio_buffer.append", "audio": b64(b"\0\0" * (24 * ms))}


def test_ids_and_event_ids_are_ignored() -> None:
    """Different server ids and event ids still match."""
    old = {"type": "conversation.item.truncate", "event_id": "e1", "item_id": "item_A1234567",
           "content_index": 0, "audio_end_ms": 500}
    new = {**old, "event_id": "e2", "item_id": "item_B7654321"}
    assert _mismatch(old, new) == []


def test_audio_is_compared_by_duration_within_the_tolerance() -> None:
    """600 ms against 700 ms matches (200 ms tolerance); against 1000 ms it does not."""
    assert _mismatch(_append(600), _append(700)) == []
    lines = _mismatch(_append(600), _append(1000))
    assert lines == ["audio_ms: expected 600.0, got 1000.0 (differs by 400 ms > 200 ms)"]


def test_a_changed_field_names_the_field_and_the_expected_value() -> None:
    """The line names the path inside the event, the recorded and the new value."""
    old = {"type": "session.update", "session": {"instructions": "Be brief.", "voice": "ash"}}
    new = {"type": "session.update", "session": {"instructions": "Be long.", "voice": "ash",
                                                  "tools": []}}
    assert _mismatch(old, new) == ['session.instructions: expected "Be brief.", got "Be long."',
                                   "session.tools: not in the cassette, got []"]


def test_a_different_type_is_a_mismatch() -> None:
    assert _mismatch({"type": "response.create"}, {"type": "response.cancel"}) == [
        'type: expected "response.create", got "response.cancel"']


def test_ignore_patterns_and_custom_matchers() -> None:
    """An ignore pattern drops a field; a custom matcher's reason replaces the rules."""
    old = {"type": "session.update", "session": {"instructions": "a", "tools": [1]}}
    new = {"type": "session.update", "session": {"instructions": "a", "tools": [2]}}
    assert _mismatch(old, new, ClientMatcher(ignore=parse_ignores(["session.tools"]))) == []
    picky = ClientMatcher(custom=lambda e, a: None if e == a else "not identical")
    assert _mismatch(old, new, picky) == ["not identical"]


def test_audio_format_in_force_comes_from_the_session() -> None:
    """After a G.711 session.update, appends are timed at 8 kHz, one byte per sample."""
    frames = _frames(
        ("client", {"type": "session.update", "session": {"type": "realtime", "audio": {
            "input": {"format": {"type": "audio/pcmu"}}}}}),
        ("client", {"type": "input_audio_buffer.append", "audio": b64(b"\0" * 8000)}))
    second = expected_client_frames(frames)[1]
    assert second.input_format.ms_of(8000) == pytest.approx(1000.0)


def test_cassette_paths(tmp_path: Path) -> None:
    """Default name next to the test file; bare names under cassettes/<module>; paths kept."""
    assert cassette_path(tmp_path, "test_x", "test_a[p-1]", None) == \
        tmp_path / "cassettes" / "test_x" / "test_a[p-1].jsonl"
    assert cassette_path(tmp_path, "test_x", "t", "shared") == \
        tmp_path / "cassettes" / "test_x" / "shared.jsonl"
    assert cassette_path(tmp_path, "test_x", "t", "data/one.jsonl") == tmp_path / "data/one.jsonl"
    first = tmp_path / "c" / "one.jsonl"
    assert episode_path(first, 0) == first
    assert episode_path(first, 2) == tmp_path / "c" / "one.3.jsonl"


def _session() -> SessionRecord:
    return SessionRecord(id="01ABCDEFGHJKMNPQRSTVWXYZ00", started=datetime(2026, 1, 2, tzinfo=UTC),
                         client_addr="127.0.0.1:50123", recorder_id="R1",
                         headers=[("Host", "127.0.0.1:4444"), ("Sec-WebSocket-Key", "abc=="),
                                  ("Authorization", "Bearer REDACTED-x-1234")])


def test_stable_session_drops_per_connection_noise() -> None:
    """Host, the WebSocket key, the client port and the recorder id go; the id is derived."""
    frames = _frames(("client", {"type": "response.create"}))
    stable = stable_session(_session(), frames)
    assert stable.headers == [("Authorization", "Bearer REDACTED-x-1234")]
    assert (stable.client_addr, stable.recorder_id) == ("127.0.0.1", None)
    assert stable.id == stable_session(_session(), frames).id != _session().id
    other = _frames(("client", {"type": "response.cancel"}))
    assert stable_session(_session(), other).id[:10] == stable.id[:10] != ""
    assert stable_session(_session(), other).id != stable.id


def test_write_refuses_a_cassette_holding_the_key(tmp_path: Path) -> None:
    """A key that survived redaction (here: a header value) stops the write."""
    key = "plain-secret-without-prefix"
    rec = _session()
    rec.headers.append(("X-Custom", key))
    path = tmp_path / "c.jsonl"
    with pytest.raises(SecretInCassette):
        write_episode(path, rec, _frames(("client", {"type": "response.create"})), secret=key)
    assert not path.exists()
    write_episode(path, _session(), _frames(("client", {"type": "response.create"})),
                  secret=key)
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["frames"] == 1 and json.loads(lines[1])["seq"] == 0
