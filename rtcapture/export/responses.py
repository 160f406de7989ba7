"""Per-response latency analysis: pure logic over a session's events in ``seq`` order.

What triggered each response (section 11 of the protocol reference, "Latency"): no server
event names its trigger, so responses are linked by order.

- A *turn end* is the server's ``input_audio_buffer.speech_stopped`` (server VAD), its
  ``input_audio_buffer.timeout_triggered`` (GA idle timeout) or the client's
  ``input_audio_buffer.commit`` (manual turn). The latest one before a ``response.created``
  is that response's trigger, even when the client then sent ``response.create`` (a manual
  turn: commit, then create). ``speech_started`` or a client ``input_audio_buffer.clear``
  drops a pending turn end (the turn was not over, or was thrown away).
- Otherwise the trigger is the client's ``response.create`` that the response answers:
  the oldest one not yet answered (the one with the same ``response.metadata`` when the
  client set it). A create refused by an ``error`` event is dropped.
- The trigger's time is that event's ``t_ms``; latencies are measured from it.

First text is the first text or audio-transcript delta of the response, first audio its
first audio delta. The transcript is, per output item, the ``*.done`` text (or transcript),
else the item's deltas joined; items are joined by newlines. Output audio ms count the
decoded bytes of its audio deltas in the format the session-state tracker
(:mod:`rtcapture.protocol.state`) fixed for the response when it was created.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..protocol import ERROR as ERROR_EVENT
from ..protocol import (
    INPUT_AUDIO_CLEAR,
    INPUT_AUDIO_COMMIT,
    INPUT_AUDIO_TIMEOUT,
    PCM16,
    RESPONSE_CREATE,
    RESPONSE_CREATED,
    RESPONSE_DONE,
    SPEECH_STARTED,
    SPEECH_STOPPED,
    STATE_TYPES,
    TEXT_DELTA_TYPES,
    TEXT_DONE_TYPES,
    TRANSCRIPT_DELTA_TYPES,
    TRANSCRIPT_DONE_TYPES,
    USAGE_TOKEN_FIELDS,
    AudioFormat,
    Direction,
    SessionState,
    response_status_reason,
    usage_tokens,
)

TRIGGER_SPEECH_STOPPED = "speech_stopped"
TRIGGER_COMMIT = "commit"
TRIGGER_RESPONSE_CREATE = "response.create"
TRIGGER_TIMEOUT = "timeout_triggered"

TOKEN_COLUMNS: tuple[str, ...] = tuple(name for name, _, _ in USAGE_TOKEN_FIELDS)

RELEVANT_TYPES: frozenset[str] = frozenset(
    {SPEECH_STARTED, SPEECH_STOPPED, INPUT_AUDIO_TIMEOUT, INPUT_AUDIO_COMMIT, INPUT_AUDIO_CLEAR,
     RESPONSE_CREATE, RESPONSE_CREATED, RESPONSE_DONE, ERROR_EVENT}
    | STATE_TYPES | TEXT_DONE_TYPES | TRANSCRIPT_DONE_TYPES
)
"""Event types :meth:`ResponseTracker.observe` decodes. Text deltas go to ``add_text_delta``
and audio deltas to ``add_audio`` (both server events), without being decoded."""

TEXT_DELTAS: frozenset[str] = TEXT_DELTA_TYPES | TRANSCRIPT_DELTA_TYPES
_TEXT_DONES = {**{t: "text" for t in TEXT_DONE_TYPES}, **{t: "transcript" for t in
                                                          TRANSCRIPT_DONE_TYPES}}
_TURN_ENDS = {SPEECH_STOPPED: (Direction.SERVER, TRIGGER_SPEECH_STOPPED),
              INPUT_AUDIO_TIMEOUT: (Direction.SERVER, TRIGGER_TIMEOUT),
              INPUT_AUDIO_COMMIT: (Direction.CLIENT, TRIGGER_COMMIT)}
_ACTIVE_RESPONSE_ERROR = "conversation_already_has_active_response"


@dataclass
class _Create:
    t_ns: int
    event_id: str | None
    metadata: Any


@dataclass
class ResponseStats:
    """What the events say about one response."""

    response_id: str
    status: str | None = None
    status_reason: str | None = None
    trigger: str | None = None
    trigger_t_ns: int | None = None
    created_t_ns: int | None = None
    created_wall_ns: int | None = None
    first_text_t_ns: int | None = None
    first_audio_t_ns: int | None = None
    done_t_ns: int | None = None
    audio_bytes: int = 0
    audio_format: AudioFormat = PCM16
    deltas: dict[str | None, list[str]] = field(default_factory=dict)
    """Raw text / transcript delta events per item, in order (decoded only if needed)."""
    done_parts: dict[str | None, str] = field(default_factory=dict)
    """Final text per item, from the ``*.done`` events."""
    tokens: dict[str, int | None] = field(default_factory=dict)

    @property
    def transcript(self) -> str | None:
        """The response's words: per output item, its ``.done`` text, else its deltas joined."""
        if not self.deltas and not self.done_parts:
            return None
        items = list(dict.fromkeys([*self.deltas, *self.done_parts]))
        return "\n".join(self.done_parts[i] if i in self.done_parts
                         else "".join(_delta_texts(self.deltas[i])) for i in items)


def _delta_texts(raw_events: list[str]) -> list[str]:
    out = []
    for raw in raw_events:
        try:
            delta = json.loads(raw).get("delta")
        except (ValueError, RecursionError, AttributeError):
            continue
        if isinstance(delta, str):
            out.append(delta)
    return out


def _ms(t_ns: int | None) -> float | None:
    return None if t_ns is None else t_ns / 1e6


def _latency(t_ns: int | None, trigger_ns: int | None) -> float | None:
    return None if t_ns is None or trigger_ns is None else (t_ns - trigger_ns) / 1e6


class ResponseTracker:
    """Follows one session's events and builds the ``responses`` rows."""

    def __init__(self) -> None:
        self.state = SessionState()
        self._turn_end: tuple[str, int] | None = None
        self._creates: deque[_Create] = deque()
        self.responses: dict[str, ResponseStats] = {}

    def _get(self, response_id: str) -> ResponseStats:
        stats = self.responses.get(response_id)
        if stats is None:
            stats = self.responses[response_id] = ResponseStats(response_id,
                                                                audio_format=self.state.output)
        return stats

    def observe(self, direction: str, etype: str, t_ns: int, wall_ns: int,
                response_id: str | None, event: dict[str, Any] | None) -> None:
        """One event of a type in :data:`RELEVANT_TYPES`, in ``seq`` order."""
        event = event or {}
        self.state.observe(direction, etype, event)
        if etype in _TURN_ENDS:
            side, kind = _TURN_ENDS[etype]
            if direction == side:
                self._turn_end = (kind, t_ns)
        elif etype in (SPEECH_STARTED, INPUT_AUDIO_CLEAR):
            self._turn_end = None
        elif etype == RESPONSE_CREATE and direction == Direction.CLIENT:
            body = event.get("response")
            self._creates.append(_Create(t_ns, event.get("event_id"),
                                         body.get("metadata") if isinstance(body, dict) else None))
        elif etype == ERROR_EVENT:
            self._drop_refused_create(event)
        elif direction != Direction.SERVER or response_id is None:
            return
        elif etype == RESPONSE_CREATED:
            self._created(response_id, t_ns, wall_ns, event.get("response"))
        elif etype == RESPONSE_DONE:
            stats = self._get(response_id)
            body = raw if isinstance(raw := event.get("response"), dict) else {}
            stats.done_t_ns = t_ns
            stats.status = body.get("status") if isinstance(body.get("status"), str) else None
            stats.status_reason = response_status_reason(body)
            stats.tokens = usage_tokens(body.get("usage"))
        elif etype in _TEXT_DONES:
            text = event.get(_TEXT_DONES[etype])
            if isinstance(text, str):
                item = event.get("item_id") if isinstance(event.get("item_id"), str) else None
                self._get(response_id).done_parts[item] = text

    def _created(self, response_id: str, t_ns: int, wall_ns: int, body: Any) -> None:
        stats = self._get(response_id)
        stats.created_t_ns, stats.created_wall_ns = t_ns, wall_ns
        stats.audio_format = self.state.output_for(response_id)
        create = self._take_create(body.get("metadata") if isinstance(body, dict) else None)
        if self._turn_end is not None:
            stats.trigger, stats.trigger_t_ns = self._turn_end
        elif create is not None:
            stats.trigger, stats.trigger_t_ns = TRIGGER_RESPONSE_CREATE, create.t_ns
        self._turn_end = None

    def _take_create(self, metadata: Any) -> _Create | None:
        if not self._creates:
            return None
        if metadata:
            for create in self._creates:
                if create.metadata == metadata:
                    self._creates.remove(create)
                    return create
        return self._creates.popleft()

    def _drop_refused_create(self, event: dict[str, Any]) -> None:
        err = raw if isinstance(raw := event.get("error"), dict) else {}
        event_id = err.get("event_id")
        for create in self._creates:
            if event_id is not None and create.event_id == event_id:
                self._creates.remove(create)
                return
        if err.get("code") == _ACTIVE_RESPONSE_ERROR and self._creates:
            self._creates.pop()

    def add_text_delta(self, response_id: str, item_id: str | None, t_ns: int,
                       raw_event: str) -> None:
        """A text or audio-transcript delta (server), its event kept as JSON text."""
        stats = self._get(response_id)
        if stats.first_text_t_ns is None:
            stats.first_text_t_ns = t_ns
        stats.deltas.setdefault(item_id, []).append(raw_event)

    def add_audio(self, response_id: str, nbytes: int, first_t_ns: int) -> None:
        """Audio deltas of a response: their decoded bytes and the earliest one's time."""
        stats = self._get(response_id)
        stats.audio_bytes += nbytes
        if stats.first_audio_t_ns is None or first_t_ns < stats.first_audio_t_ns:
            stats.first_audio_t_ns = first_t_ns

    def rows(self, session_id: str) -> list[dict[str, Any]]:
        """The ``responses`` table rows, in order of creation."""
        ordered = sorted(self.responses.values(),
                         key=lambda s: (s.created_t_ns is None, s.created_t_ns or 0))
        out = []
        for s in ordered:
            row: dict[str, Any] = {
                "session_id": session_id, "response_id": s.response_id, "status": s.status,
                "status_reason": s.status_reason, "trigger": s.trigger,
                "trigger_t_ms": _ms(s.trigger_t_ns), "created_t_ms": _ms(s.created_t_ns),
                "first_text_t_ms": _ms(s.first_text_t_ns),
                "first_audio_t_ms": _ms(s.first_audio_t_ns), "done_t_ms": _ms(s.done_t_ns),
                "first_audio_latency_ms": _latency(s.first_audio_t_ns, s.trigger_t_ns),
                "first_text_latency_ms": _latency(s.first_text_t_ns, s.trigger_t_ns),
                "output_audio_ms": round(s.audio_format.ms_of(s.audio_bytes), 3),
                "transcript": s.transcript,
                "time": None if s.created_wall_ns is None else s.created_wall_ns // 1000,
            }
            row.update({name: s.tokens.get(name) for name in TOKEN_COLUMNS})
            out.append(row)
        return out

    def token_totals(self) -> dict[str, int]:
        """Token counts summed over the session's responses."""
        return {name: sum(s.tokens.get(name) or 0 for s in self.responses.values())
                for name in TOKEN_COLUMNS}
