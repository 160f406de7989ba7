"""The conversation turn by turn, and the timeline's marks: pure logic over decoded events.

Fed the events of :data:`CONVERSATION_TYPES` in ``seq`` order (payloads already stripped of
audio and redacted). Replies themselves come from the Parquet ``responses`` rows
(``export.responses``), so the page's latencies are the table's; this module adds what the
table does not hold: user turns, tool calls, errors, VAD spans and which items each
response produced (to find where the user cut it off).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..check.timeline import CallRecord
from ..protocol import (
    ERROR,
    FUNCTION_ARGS_DONE,
    INPUT_AUDIO_COMMITTED,
    ITEM_CREATE,
    ITEM_TRUNCATE,
    ITEM_TRUNCATED,
    OUTPUT_ITEM_ADDED,
    OUTPUT_ITEM_DONE,
    RESPONSE_CREATED,
    RESPONSE_DONE,
    SPEECH_STARTED,
    SPEECH_STOPPED,
    TRANSCRIPTION_COMPLETED,
    TRANSCRIPTION_FAILED,
    Direction,
    error_code,
)
from ..protocol.turns import TIMELINE_TURNS

FUNCTION_CALL = "function_call"
FUNCTION_CALL_OUTPUT = "function_call_output"

CONVERSATION_TYPES: frozenset[str] = frozenset({
    SPEECH_STARTED, SPEECH_STOPPED, INPUT_AUDIO_COMMITTED, TRANSCRIPTION_COMPLETED,
    TRANSCRIPTION_FAILED, ITEM_CREATE, ITEM_TRUNCATE, ITEM_TRUNCATED, OUTPUT_ITEM_ADDED,
    OUTPUT_ITEM_DONE, FUNCTION_ARGS_DONE, RESPONSE_CREATED, RESPONSE_DONE, ERROR,
}).union(*(t.client_commands for t in TIMELINE_TURNS.values()))
"""Event types :meth:`ConversationBuilder.observe` looks at (a timeline dialect's client
commands: for the event an error names)."""
_CAUSE_KEYS = ("event_id", *sorted({t.error_cause_key for t in TIMELINE_TURNS.values()}))
"""Keys of an ``error`` object that name the client event it refuses, per dialect."""


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


@dataclass
class UserTurn:
    """One user turn: spoken (VAD or commit) or typed."""

    t_ms: float
    seq: int
    item_id: str | None = None
    text: str | None = None
    typed: bool = False
    audio_ms: float | None = None
    transcription_failed: bool = False


@dataclass
class ErrorEntry:
    """An ``error`` event, and the client event it names (when it does)."""

    t_ms: float
    seq: int
    code: str | None
    message: str | None
    cause_seq: int | None = None
    cause_t_ms: float | None = None


@dataclass
class ConversationBuilder:
    """Collects the conversation's entries and marks from one pass over the events."""

    users: list[UserTurn] = field(default_factory=list)
    tools: list[CallRecord] = field(default_factory=list)
    errors: list[ErrorEntry] = field(default_factory=list)
    vad: list[list[float | None]] = field(default_factory=list)
    """Speech spans as the server detected them: [started t_ms, stopped t_ms or None]."""
    response_items: dict[str, list[str]] = field(default_factory=dict)
    """Response id -> the ids of the output items it produced."""
    response_seqs: dict[str, list[int]] = field(default_factory=dict)
    """Response id -> seq of its created and done events (the events behind its span)."""
    truncations: dict[str, float] = field(default_factory=dict)
    """Item id -> ``audio_end_ms`` the client truncated it at."""
    _speech: dict[str | None, tuple[float, float | None]] = field(default_factory=dict)
    _speech_t: dict[str | None, float] = field(default_factory=dict)
    _client_events: dict[str, tuple[int, float]] = field(default_factory=dict)
    _users_by_item: dict[str, UserTurn] = field(default_factory=dict)
    _calls: dict[str, CallRecord] = field(default_factory=dict)

    def observe(self, seq: int, direction: str, etype: str, t_ms: float,
                event: dict[str, Any]) -> None:
        """One event of :data:`CONVERSATION_TYPES`, in ``seq`` order."""
        event_id = _str(event.get("event_id"))
        if direction == Direction.CLIENT:
            if event_id is not None:
                self._client_events[event_id] = (seq, t_ms)
            if etype == ITEM_CREATE:
                self._client_item(seq, t_ms, event.get("item"))
            elif etype == ITEM_TRUNCATE:
                self._truncated(event)
            return
        item_id = _str(event.get("item_id"))
        if etype == SPEECH_STARTED:
            self.vad.append([t_ms, None])
            self._speech[item_id] = (_num(event.get("audio_start_ms")) or 0.0, None)
            self._speech_t[item_id] = t_ms
        elif etype == SPEECH_STOPPED:
            if self.vad and self.vad[-1][1] is None:
                self.vad[-1][1] = t_ms
            start = self._speech.get(item_id, (None, None))[0]
            end = _num(event.get("audio_end_ms"))
            self._speech[item_id] = (start if start is not None else 0.0, end)
        elif etype == INPUT_AUDIO_COMMITTED:
            turn = UserTurn(self._speech_t.get(item_id, t_ms), seq, item_id)
            start, end = self._speech.get(item_id, (None, None))
            if start is not None and end is not None:
                turn.audio_ms = end - start
            self.users.append(turn)
            if item_id is not None:
                self._users_by_item[item_id] = turn
        elif etype in (TRANSCRIPTION_COMPLETED, TRANSCRIPTION_FAILED):
            heard = self._users_by_item.get(item_id or "")
            if heard is not None:
                heard.text = _str(event.get("transcript"))
                heard.transcription_failed = etype == TRANSCRIPTION_FAILED
        elif etype == ITEM_TRUNCATED:
            self._truncated(event)
        elif etype in (RESPONSE_CREATED, RESPONSE_DONE):
            body = event.get("response")
            rid = _str(body.get("id")) if isinstance(body, dict) else None
            if rid is not None:
                self.response_seqs.setdefault(rid, []).append(seq)
        elif etype in (OUTPUT_ITEM_ADDED, OUTPUT_ITEM_DONE):
            self._output_item(seq, t_ms, etype, event)
        elif etype == FUNCTION_ARGS_DONE:
            self._call(seq, t_ms, _str(event.get("call_id")), _str(event.get("name")),
                       _str(event.get("arguments")), _str(event.get("response_id")))
        elif etype == ERROR:
            self._error(seq, t_ms, event)

    def _client_item(self, seq: int, t_ms: float, item: Any) -> None:
        if not isinstance(item, dict):
            return
        if item.get("type") == FUNCTION_CALL_OUTPUT:
            call = self._calls.get(_str(item.get("call_id")) or "")
            if call is not None:
                call.output, call.output_t_ms, call.output_seq = \
                    _str(item.get("output")), t_ms, seq
            return
        if item.get("role") != "user":
            return
        texts = [part["text"] for part in item.get("content") or []
                 if isinstance(part, dict) and isinstance(part.get("text"), str)]
        self.users.append(UserTurn(t_ms, seq, _str(item.get("id")),
                                   "\n".join(texts) if texts else None, typed=True))

    def _truncated(self, event: dict[str, Any]) -> None:
        item_id, end = _str(event.get("item_id")), _num(event.get("audio_end_ms"))
        if item_id is not None and end is not None:
            self.truncations[item_id] = min(end, self.truncations.get(item_id, end))

    def _output_item(self, seq: int, t_ms: float, etype: str, event: dict[str, Any]) -> None:
        item = event.get("item")
        rid = _str(event.get("response_id"))
        if not isinstance(item, dict):
            return
        iid = _str(item.get("id"))
        if rid is not None and iid is not None:
            items = self.response_items.setdefault(rid, [])
            if iid not in items:
                items.append(iid)
        if item.get("type") == FUNCTION_CALL and etype == OUTPUT_ITEM_DONE:
            self._call(seq, t_ms, _str(item.get("call_id")), _str(item.get("name")),
                       _str(item.get("arguments")), rid)

    def _call(self, seq: int, t_ms: float, call_id: str | None, name: str | None,
              arguments: str | None, response_id: str | None) -> None:
        known = self._calls.get(call_id or "")
        if known is not None:  # arguments.done, then output_item.done: one call
            known.name = known.name or name
            known.arguments = known.arguments or arguments
            return
        call = CallRecord(t_ms, seq, call_id, name, arguments, response_id)
        self.tools.append(call)
        if call_id is not None:
            self._calls[call_id] = call

    def _error(self, seq: int, t_ms: float, event: dict[str, Any]) -> None:
        err = raw if isinstance(raw := event.get("error"), dict) else {}
        entry = ErrorEntry(t_ms, seq, error_code(event), _str(err.get("message")))
        cause_id = next((v for v in (_str(err.get(k)) for k in _CAUSE_KEYS) if v), None)
        cause = self._client_events.get(cause_id or "")
        if cause is not None:
            entry.cause_seq, entry.cause_t_ms = cause
        self.errors.append(entry)


def tool_entry(call: CallRecord, trigger_t_ms: float | None) -> dict[str, Any]:
    """The page's entry for a tool call (``trigger_t_ms``: when its reply was triggered)."""
    return {
        "kind": "tool", "t_ms": call.t_ms, "seq": call.seq, "call_id": call.call_id,
        "name": call.name, "arguments": call.arguments, "output": call.output,
        "output_seq": call.output_seq, "output_t_ms": call.output_t_ms,
        "response_id": call.response_id, "latency_ms": _elapsed(trigger_t_ms, call.t_ms),
        "output_latency_ms": _elapsed(call.t_ms, call.output_t_ms)}


def _elapsed(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 1)
