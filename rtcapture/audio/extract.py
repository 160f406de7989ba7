"""One streaming walk over a session's events, writing its audio as WAV files.

``input.wav`` gets every chunk the client sent (appends, and audio inside user items it
created), ``output.wav`` every audio delta the server sent, both in order;
``conversation.wav`` places them on the session's clock (``mixer``); ``--per-turn``
files come from ``turns``. Memory stays bounded: events are streamed from the store,
files are written as the walk goes, and only a short window of the conversation is held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..codec import LITTLE_ENDIAN, decode_chunk, decode_pcm16
from ..protocol import (
    AUDIO_DELTA_TYPES,
    AUDIO_DONE_TYPES,
    ERROR,
    ERROR_COMMIT_EMPTY,
    INPUT_AUDIO_APPEND,
    INPUT_AUDIO_CLEAR,
    INPUT_AUDIO_COMMIT,
    INPUT_AUDIO_COMMITTED,
    INPUT_AUDIO_TIMEOUT,
    ITEM_CREATE,
    ITEM_TRUNCATE,
    ITEM_TRUNCATED,
    OUTPUT_ITEM_DONE,
    SPEECH_STARTED,
    SPEECH_STOPPED,
    STATE_TYPES,
    Direction,
    Encoding,
    Flavour,
    SessionState,
    append_audio_b64,
    audio_delta_b64,
    decode_event,
    error_code,
    item_input_audio,
)
from ..store import EventRecord, Store
from .mixer import Placement
from .tracks import RatePlan, Replan, Tracks
from .wav import WrittenFile

MAX_LISTED_INVALID = 1000
FETCH_ROWS = 1000
"""Events fetched from the store at a time (memory: rows x frame size; fewer queries)."""
APPEND_BATCH = 64
"""Consecutive appends decoded and placed together (fewer, larger operations)."""
ADVANCE_EVERY_NS = 100_000_000
"""How often (session time) finished conversation blocks are written out."""

_CLIENT = Direction.CLIENT.value
_SERVER = Direction.SERVER.value


@dataclass(frozen=True, slots=True)
class InvalidChunk:
    """An audio chunk that was skipped."""

    seq: int
    type: str
    reason: str


@dataclass
class AudioReport:
    """What an extraction wrote and skipped."""

    session_id: str
    files: list[WrittenFile] = field(default_factory=list)
    invalid: list[InvalidChunk] = field(default_factory=list)
    """The first ``MAX_LISTED_INVALID`` skipped chunks."""
    invalid_count: int = 0
    late_ms: float = 0.0
    """Conversation audio a truncation could not silence (or a chunk could not be placed)
    because it had already been written; non-zero only for far-from-real-time sessions."""
    placements: list[Placement] = field(default_factory=list)
    """Assistant items on the conversation's time line, keyed ``(item_id, content_index)``."""

    def as_json(self) -> dict[str, Any]:
        """The ``audio --json`` document."""
        return {"session": self.session_id, "files": [f.as_json() for f in self.files],
                "invalid_chunks": self.invalid_count,
                "invalid": [{"seq": c.seq, "type": c.type, "reason": c.reason}
                            for c in self.invalid],
                "late_ms": round(self.late_ms, 3)}


Handler = Callable[[EventRecord, dict[str, Any]], None]


class _Walk:
    """Reads events in order: tracks formats and turns, decodes chunks, feeds ``Tracks``."""

    def __init__(self, tracks: Tracks, report: AudioReport) -> None:
        self.tracks = tracks
        self.report = report
        self.formats = SessionState()
        self._last_advance = 0
        self._appends: list[tuple[EventRecord, bytes]] = []
        handlers: dict[tuple[str, str], Handler] = {
            (_CLIENT, INPUT_AUDIO_APPEND): self._append,
            (_CLIENT, ITEM_CREATE): self._item_create,
            (_CLIENT, INPUT_AUDIO_COMMIT): self._commit,
            (_CLIENT, INPUT_AUDIO_CLEAR): self._clear,
            (_CLIENT, ITEM_TRUNCATE): self._truncate,
            (_SERVER, ITEM_TRUNCATED): self._truncate,
            (_SERVER, INPUT_AUDIO_COMMITTED): self._committed,
            (_SERVER, SPEECH_STARTED): self._speech_started,
            (_SERVER, SPEECH_STOPPED): self._speech_stopped,
            (_SERVER, INPUT_AUDIO_TIMEOUT): self._timeout,
            (_SERVER, ERROR): self._error,
            (_SERVER, OUTPUT_ITEM_DONE): self._item_done,
        }
        for etype in AUDIO_DELTA_TYPES:
            handlers[(_SERVER, etype)] = self._delta
        for etype in AUDIO_DONE_TYPES:
            handlers[(_SERVER, etype)] = self._item_done
        for etype in STATE_TYPES:
            for direction in (_CLIENT, _SERVER):
                handlers.setdefault((direction, etype), self._config)
        self._handlers = handlers

    def handle(self, ev: EventRecord) -> None:
        """Take one recorded event."""
        etype = ev.type
        if etype == INPUT_AUDIO_APPEND and ev.direction == _CLIENT:
            b64 = append_audio_b64(ev.data)  # most events: no JSON decoding
            if b64 is not None:
                self._appends.append((ev, b64))
                if len(self._appends) >= APPEND_BATCH:
                    self._flush_appends()
                return
        if self._appends:
            self._flush_appends()
        if etype in AUDIO_DELTA_TYPES and ev.direction == _SERVER:
            fields = audio_delta_b64(ev.data)
            if fields is not None:
                self._send_output(ev, fields[0], fields[1])
                self._advance(ev.t_ns)
                return
        handler = self._handlers.get((ev.direction, etype or ""))
        if handler is not None:
            event = decode_event(ev.data)
            if event is not None:
                handler(ev, event)
        self._advance(ev.t_ns)

    def finish(self) -> None:
        if self._appends:
            self._flush_appends()

    def _advance(self, t_ns: int) -> None:
        if t_ns - self._last_advance >= ADVANCE_EVERY_NS:
            self._last_advance = t_ns
            self.tracks.advance(t_ns)

    def _invalid(self, ev: EventRecord, reason: str) -> None:
        self.report.invalid_count += 1
        if len(self.report.invalid) < MAX_LISTED_INVALID:
            self.report.invalid.append(InvalidChunk(ev.seq, ev.type or "", reason))

    # ------------------------------------------------------------------ user audio

    def _flush_appends(self) -> None:
        """Appends in a row (no other event between them) are decoded and placed together."""
        batch, self._appends = self._appends, []
        fmt = self.formats.input
        plain = fmt.encoding is Encoding.PCM16 and LITTLE_ENDIAN
        times: list[int] = []
        chunks: list[np.ndarray] = []
        frames = 0
        for ev, b64 in batch:
            samples = decode_pcm16(b64) if plain else decode_chunk(b64, fmt)
            if isinstance(samples, str):
                self._invalid(ev, samples)
            elif samples.size:
                times.append(ev.t_ns)
                chunks.append(samples)
                frames += samples.size
        if chunks:
            tracks = self.tracks
            tracks.open_input(fmt.rate, self.formats.output.rate, self.formats.vad)
            if tracks.passes_input(fmt.rate):
                tracks.add_inputs(times, chunks, frames)
            else:
                for t_ns, samples in zip(times, chunks, strict=True):
                    tracks.add_input(t_ns, samples, fmt.rate)
        self._advance(batch[-1][0].t_ns)

    def _send_input(self, ev: EventRecord, b64: Any, created: str | None = None) -> None:
        fmt = self.formats.input
        samples = decode_chunk(b64, fmt)
        if isinstance(samples, str):
            self._invalid(ev, samples)
        elif samples.size:
            self.tracks.open_input(fmt.rate, self.formats.output.rate, self.formats.vad)
            self.tracks.add_input(ev.t_ns, samples, fmt.rate, created)

    def _append(self, ev: EventRecord, event: dict[str, Any]) -> None:
        self._send_input(ev, event.get("audio"))

    def _item_create(self, ev: EventRecord, event: dict[str, Any]) -> None:
        item = event.get("item")
        chunks = item_input_audio(item)
        if not chunks:
            return
        item_id = item.get("id") if isinstance(item, dict) else None
        key = item_id if isinstance(item_id, str) and item_id else f"seq{ev.seq}"
        fmt = self.formats.input
        self.tracks.open_input(fmt.rate, self.formats.output.rate, self.formats.vad)
        if self.tracks.user_turns is not None:
            self.tracks.user_turns.created_item(key)
        for b64 in chunks:
            self._send_input(ev, b64, key)

    # ------------------------------------------------------------------ assistant audio

    def _delta(self, ev: EventRecord, event: dict[str, Any]) -> None:
        self._send_output(ev, event.get("delta"), _content_index(event))

    def _send_output(self, ev: EventRecord, b64: Any, content_index: int) -> None:
        fmt = self.formats.output_for(ev.response_id)
        samples = decode_chunk(b64, fmt)
        if isinstance(samples, str):
            self._invalid(ev, samples)
        elif samples.size:
            self.tracks.open_output(fmt.rate, self.formats.input.rate)
            self.tracks.add_output(_item_key(ev, content_index), ev.t_ns, samples, fmt.rate,
                                   ev.delivered)

    def _truncate(self, ev: EventRecord, event: dict[str, Any]) -> None:
        ms = _ms(event, "audio_end_ms")
        if ms is not None:
            self.tracks.truncate(_item_key(ev, _content_index(event)), ms)

    def _item_done(self, ev: EventRecord, event: dict[str, Any]) -> None:
        if self.tracks.assistant_turns is not None:
            self.tracks.assistant_turns.done(ev.item_id)

    # ------------------------------------------------------------------ session and turns

    def _config(self, ev: EventRecord, event: dict[str, Any]) -> None:
        self.formats.observe(ev.direction, ev.type, event)
        if self.tracks.user_turns is not None:
            self.tracks.user_turns.set_vad(self.formats.vad)

    def _commit(self, ev: EventRecord, event: dict[str, Any]) -> None:
        if self.tracks.user_turns is not None:
            self.tracks.user_turns.client_commit()

    def _clear(self, ev: EventRecord, event: dict[str, Any]) -> None:
        if self.tracks.user_turns is not None:
            self.tracks.user_turns.client_clear()

    def _committed(self, ev: EventRecord, event: dict[str, Any]) -> None:
        if self.tracks.user_turns is not None:
            self.tracks.user_turns.committed(ev.item_id)

    def _speech_started(self, ev: EventRecord, event: dict[str, Any]) -> None:
        ms = _ms(event, "audio_start_ms")
        if self.tracks.user_turns is not None and ms is not None:
            self.tracks.user_turns.speech_started(ev.item_id, ms)

    def _speech_stopped(self, ev: EventRecord, event: dict[str, Any]) -> None:
        ms = _ms(event, "audio_end_ms")
        if self.tracks.user_turns is not None and ms is not None:
            self.tracks.user_turns.speech_stopped(ev.item_id, ms)

    def _timeout(self, ev: EventRecord, event: dict[str, Any]) -> None:
        start, end = _ms(event, "audio_start_ms"), _ms(event, "audio_end_ms")
        if self.tracks.user_turns is not None and start is not None and end is not None:
            self.tracks.user_turns.timeout_triggered(ev.item_id, start, end)

    def _error(self, ev: EventRecord, event: dict[str, Any]) -> None:
        if self.tracks.user_turns is not None and error_code(event) == ERROR_COMMIT_EMPTY:
            self.tracks.user_turns.commit_failed()


def _ms(event: dict[str, Any], name: str) -> float | None:
    value = event.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


def _content_index(event: dict[str, Any]) -> int:
    index = event.get("content_index", 0)
    return index if isinstance(index, int) and not isinstance(index, bool) else 0


def _item_key(ev: EventRecord, content_index: int) -> tuple[str, int]:
    """An assistant audio stream: its item and content part."""
    item = ev.item_id or (f"response-{ev.response_id}" if ev.response_id else "unknown")
    return item, content_index


def extract_audio(store: Store, session_id: str, out_dir: Path,
                  per_turn: bool = False) -> AudioReport:
    """Write a session's audio into ``out_dir``; no audio, no files.

    One pass over the events; a second only if a format change mid-session raised a
    file's rate after it was opened (the file then takes the higher rate throughout).
    A GPT-Live session has its own layout (:mod:`rtcapture.audio.live`).
    """
    if store.session(session_id).flavour == Flavour.LIVE:
        from .live import extract_live_audio  # imports this module
        return extract_live_audio(store, session_id, out_dir, per_turn)
    plan = RatePlan()
    while True:
        report = AudioReport(session_id)
        tracks = Tracks(out_dir, per_turn, plan)
        walk = _Walk(tracks, report)
        try:
            for ev in store.events(session_id, chunk=FETCH_ROWS):
                walk.handle(ev)
            walk.finish()
        except Replan as change:
            tracks.discard()
            plan = plan.raised(change.plan)
            continue
        report.files = tracks.finish()
        report.placements = tracks.mixer.placements() if tracks.mixer is not None else []
        report.late_ms = tracks.late_ms
        return report
