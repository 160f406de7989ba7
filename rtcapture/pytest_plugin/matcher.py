"""Replay strictness: does a client event from the code under test match the cassette's?

The default rule is ``replay --diff``'s: same ``type``, then the event's JSON compared
field by field with volatile fields and ids ignored, ids inside text masked, text by
similarity, and audio (``input_audio_buffer.append``) by duration within a tolerance.
A custom matcher replaces the field comparison; ``ignore`` patterns use the diff's path
grammar, relative to the event (``session.tools``, ``item.content[*].text``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..protocol import (
    PCM16,
    SESSION_CONFIG_CLIENT_TYPES,
    SESSION_CONFIG_SERVER_TYPES,
    AudioFormat,
    Direction,
    decode_event,
    session_audio_formats,
)
from ..replay.diff import Difference, DiffOptions, apply_ignores, compare_values
from ..replay.digest import audio_to_ms
from ..replay.paths import IgnorePattern
from ..store.records import EventRecord

Matcher = Callable[[dict[str, Any], dict[str, Any]], "str | None"]
"""A custom rule: (expected event, actual event) -> None when they match, else a reason."""


@dataclass(frozen=True)
class Expected:
    """One recorded client frame and the input audio format in force when it was sent."""

    index: int
    data: bytes
    event: dict[str, Any] | None
    input_format: AudioFormat

    @property
    def type(self) -> str | None:
        return self.event.get("type") if self.event else None


def expected_client_frames(events: Sequence[EventRecord]) -> list[Expected]:
    """The cassette's client frames in order, each with the input format in force."""
    out: list[Expected] = []
    fmt = PCM16
    for ev in sorted(events, key=lambda e: e.seq):
        event = decode_event(ev.data) if ev.type else None
        if ev.direction == Direction.CLIENT:
            out.append(Expected(len(out), ev.data, event, fmt))
        if event is not None and (ev.type in SESSION_CONFIG_CLIENT_TYPES
                                  or ev.type in SESSION_CONFIG_SERVER_TYPES):
            fmt = session_audio_formats(event.get("session"))[0] or fmt
    return out


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 200 else text[:197] + "..."


def describe(diff: Difference) -> str:
    """One line: the field, what the cassette expected and what came."""
    where = diff.path_text or "(event)"
    if diff.kind == "removed":
        return f"{where}: expected {_show(diff.old)}, missing"
    if diff.kind == "added":
        return f"{where}: not in the cassette, got {_show(diff.new)}"
    note = f" ({diff.note})" if diff.note else ""
    return f"{where}: expected {_show(diff.old)}, got {_show(diff.new)}{note}"


@dataclass(frozen=True)
class ClientMatcher:
    """Compares each client event with the cassette's next one."""

    ignore: tuple[IgnorePattern, ...] = ()
    audio_tolerance_ms: float = 200.0
    custom: Matcher | None = None
    reorder_window: int = 4
    """How many upcoming recorded client events an event may match (1: strict order)."""

    def mismatch(self, expected: Expected, data: bytes) -> list[str]:
        """Lines describing why ``data`` does not match ``expected`` (empty: it matches)."""
        actual = decode_event(data)
        if expected.event is None or actual is None:
            if expected.data == data:
                return []
            return [f"frame bytes: expected {_show(expected.data.decode('utf-8', 'replace'))},"
                    f" got {_show(data.decode('utf-8', 'replace'))}"]
        if actual.get("type") != expected.type:
            return [f"type: expected {_show(expected.type)}, got {_show(actual.get('type'))}"]
        if self.custom is not None:
            reason = self.custom(expected.event, actual)
            return [] if reason is None else [reason]
        fmt = expected.input_format
        old = audio_to_ms({k: v for k, v in expected.event.items() if k != "type"}, fmt)
        new = audio_to_ms({k: v for k, v in actual.items() if k != "type"}, fmt)
        found = compare_values(old, new, (), DiffOptions(
            audio_tolerance_ms=self.audio_tolerance_ms))
        return [describe(d) for d in apply_ignores(found, self.ignore).differences]
