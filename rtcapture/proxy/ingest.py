"""Turning raw frames into stored event records, and per-session running totals.

Shared by the recorder's writer process, cassette import and test factories, so that
every path derives parsed fields and audio figures the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..protocol import (
    INPUT_AUDIO_APPEND,
    STATE_TYPES,
    Direction,
    FlavourTracker,
    Opcode,
    SessionState,
    audio_payload,
    b64_decoded_len,
    is_audio_delta,
    live,
    parse_frame,
)
from ..protocol.sniff import LARGE_FRAME, parse_large_frame
from ..store.records import EventRecord


def _clean(value: str | None) -> str | None:
    """A parsed string safe for any database: no NUL, no lone surrogates."""
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value[:255] if len(value) > 255 else value


_LIVE_START_TYPES = frozenset({live.SESSION_START, live.SESSION_STARTED})
_INPUT_TYPES = frozenset({INPUT_AUDIO_APPEND, live.INPUT_APPEND})


@dataclass
class SessionTally:
    """Running per-session figures: counts, bytes, audio durations, formats, flavour.

    Formats come from the session-state tracker (:mod:`rtcapture.protocol.state`), the
    same one audio extraction and the export follow.
    """

    state: SessionState = field(default_factory=SessionState)
    client_events: int = 0
    server_events: int = 0
    client_bytes: int = 0
    server_bytes: int = 0
    input_audio_ms: float = 0.0
    output_audio_ms: float = 0.0
    model: str | None = None
    """The model a GPT-Live ``session.start``/``started`` names (Live URLs carry none)."""

    def build(self, session_id: str, seq: int, direction: Direction, t_ns: int, wall_ns: int,
              opcode: Opcode, data: bytes, delivered: bool = True) -> EventRecord:
        """Parse one frame into an event record and update the totals (a large audio frame
        without decoding its audio)."""
        large = parse_large_frame(data) if len(data) >= LARGE_FRAME and opcode == Opcode.TEXT \
            else None
        parsed = large[0] if large is not None else parse_frame(data, opcode)
        audio_bytes = 0
        event = parsed.event
        if event is not None:
            etype = parsed.type
            state = self.state
            state.flavour.observe(direction, event)
            if etype in STATE_TYPES:
                state.observe(direction, etype, event)
                if etype in _LIVE_START_TYPES:
                    self.model = live.session_model(event.get("session")) or self.model
            b64 = audio_payload(event)
            if b64 is not None:
                audio_bytes = (large[1] if large is not None else b64_decoded_len(b64)) or 0
                if etype in _INPUT_TYPES and direction == Direction.CLIENT:
                    self.input_audio_ms += state.input.ms_of(audio_bytes)
                elif (is_audio_delta(etype) or etype == live.OUTPUT_AUDIO_DELTA) \
                        and direction == Direction.SERVER:
                    self.output_audio_ms += state.output_for(parsed.response_id).ms_of(
                        audio_bytes)
        if direction == Direction.CLIENT:
            self.client_events += 1
            self.client_bytes += len(data)
        else:
            self.server_events += 1
            self.server_bytes += len(data)
        return EventRecord(
            session_id=session_id, seq=seq, direction=direction, t_ns=t_ns,
            wall_ns=wall_ns, opcode=opcode, data=data,
            type=_clean(parsed.type), event_id=_clean(parsed.event_id),
            item_id=_clean(parsed.item_id), response_id=_clean(parsed.response_id),
            call_id=_clean(parsed.call_id), parse_error=_clean(parsed.parse_error),
            delivered=delivered, audio_bytes=audio_bytes,
        )

    @property
    def flavour(self) -> FlavourTracker:
        """The session's dialect, as far as its frames tell."""
        return self.state.flavour

    def totals(self) -> dict[str, object]:
        """Session fields to store (SessionRecord names)."""
        named = {"model": self.model} if self.model else {}
        return named | {
            "flavour": self.flavour.flavour,
            "client_events": self.client_events,
            "server_events": self.server_events,
            "client_bytes": self.client_bytes,
            "server_bytes": self.server_bytes,
            "input_audio_ms": round(self.input_audio_ms, 3),
            "output_audio_ms": round(self.output_audio_ms, 3),
        }
