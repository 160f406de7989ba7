"""Which events carry a dialect's turns, for the turn analysis and the report.

Realtime's turns are its response and VAD events (named in :mod:`.events`); a dialect whose
speech is placed on a *session timeline* instead (GPT-Live: timed transcript fragments, one
continuous output track, no responses) is described by a :class:`TimelineTurnEvents` entry
in :data:`TIMELINE_TURNS`. Analysers ask :func:`timeline_turns` for the session's dialect
and never name the dialect's events themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import live
from .events import Flavour

FUNCTION_CALL = "function_call"
FUNCTION_CALL_OUTPUT = "function_call_output"


@dataclass(frozen=True)
class TimelineTurnEvents:
    """The events of a timeline dialect that turn analysis reads."""

    input_audio: frozenset[str]
    """Client events carrying input audio (they advance the session timeline)."""
    output_audio: frozenset[str]
    """Server events of the one continuous output track (no ids, real-time paced)."""
    speaker_of: Mapping[str, str]
    """Transcript fragment type -> ``user`` / ``assistant`` (fragments carry their span)."""
    error: str
    """The error event; its ``error`` object names the failing command by
    :attr:`error_cause_key`."""
    error_cause_key: str
    tool_wrapper: str
    """Server event wrapping a backend (Responses) event; see :meth:`tool_call`."""
    tool_call_done: str
    """Wrapped event type whose ``item`` is a finished function call."""
    tool_output: str
    """Client event whose ``item`` returns a function call's output."""
    gap_ms: float
    """Quiet that ends an utterance (see :func:`rtcapture.protocol.live.group_utterances`)."""
    client_commands: frozenset[str] = frozenset()
    """Client event types whose ``event_id`` an error may name."""
    backend_failed: Mapping[str, str] = field(default_factory=dict)
    """Wrapped backend event type that ends a response badly -> the status it means."""

    def wrapped(self, event: Mapping[str, Any]) -> dict[str, Any] | None:
        """The backend event inside a :attr:`tool_wrapper` event, or None."""
        inner = event.get("event") if event.get("type") == self.tool_wrapper else None
        return inner if isinstance(inner, dict) else None

    def tool_call(self, event: Mapping[str, Any]) -> dict[str, Any] | None:
        """The finished function-call item a server event carries (wrapped), or None."""
        inner = self.wrapped(event)
        if inner is None or inner.get("type") != self.tool_call_done:
            return None
        item = inner.get("item")
        if isinstance(item, dict) and item.get("type") == FUNCTION_CALL \
                and isinstance(item.get("call_id"), str):
            return item
        return None

    def backend_response(self, event: Mapping[str, Any]) -> str | None:
        """The backend response id a wrapped event names: its own ``response_id``, or the
        id of the ``response`` object of a lifecycle event (``response.created`` …)."""
        inner = self.wrapped(event)
        if inner is None:
            return None
        body = inner.get("response")
        value = body.get("id") if isinstance(body, dict) else inner.get("response_id")
        return value if isinstance(value, str) and value else None

    def backend_failure(self, event: Mapping[str, Any]) -> str | None:
        """The status (``failed`` / ``incomplete``) a wrapped event ends its response with,
        or None."""
        inner = self.wrapped(event)
        kind = inner.get("type") if inner is not None else None
        return self.backend_failed.get(kind) if isinstance(kind, str) else None

    @staticmethod
    def delegation_of(event: Mapping[str, Any]) -> str | None:
        """The delegation a server event belongs to."""
        return live.delegation_id(event)

    def tool_output_item(self, event: Mapping[str, Any]) -> dict[str, Any] | None:
        """The function-call output item a client :attr:`tool_output` event carries."""
        item = event.get("item") if event.get("type") == self.tool_output else None
        if isinstance(item, dict) and item.get("type") == FUNCTION_CALL_OUTPUT \
                and isinstance(item.get("call_id"), str):
            return item
        return None

    def error_cause(self, event: Mapping[str, Any]) -> str | None:
        """The client event id an error event names, or None."""
        err = event.get("error")
        value = err.get(self.error_cause_key) if isinstance(err, dict) else None
        return value if isinstance(value, str) else None

    @staticmethod
    def span(event: Mapping[str, Any]) -> tuple[float, float] | None:
        """``(start_ms, end_ms)`` of a fragment on the session timeline, or None."""
        return live.timeline_ms(event)

    def utterances(self, fragments: Iterable[tuple[int | None, Mapping[str, Any]]]
                   ) -> list[live.Utterance]:
        """The utterances in ``(seq, fragment)`` pairs, by the dialect's stated rule."""
        return live.group_utterances(fragments, self.gap_ms)

    @property
    def decoded_server(self) -> frozenset[str]:
        """Server event types whose payload the analysis needs."""
        return frozenset(self.speaker_of) | {self.error, self.tool_wrapper}

    @property
    def unread(self) -> frozenset[str]:
        """Audio events the analysis reads without payload (their byte counts suffice)."""
        return self.input_audio | self.output_audio


LIVE_TURNS = TimelineTurnEvents(
    input_audio=frozenset({live.INPUT_APPEND}),
    output_audio=frozenset({live.OUTPUT_AUDIO_DELTA}),
    speaker_of=live.SPEAKER_OF,
    error=live.ERROR,
    error_cause_key="client_event_id",
    tool_wrapper=live.RESPONSE_EVENT,
    tool_call_done="response.output_item.done",
    tool_output=live.RESPONSE_ITEM_CREATE,
    gap_ms=live.UTTERANCE_GAP_MS,
    client_commands=live.CLIENT_EVENTS - {live.INPUT_APPEND},
    backend_failed={"response.failed": "failed", "response.incomplete": "incomplete"},
)

TIMELINE_TURNS: dict[str, TimelineTurnEvents] = {str(Flavour.LIVE): LIVE_TURNS}
"""Dialect -> its timeline turn events (dialects absent here have responses)."""

TIMELINE_UNREAD: frozenset[str] = frozenset().union(*(t.unread for t in TIMELINE_TURNS.values()))
"""Every timeline dialect's audio event types (read without payload)."""


def timeline_turns(flavour: str | None) -> TimelineTurnEvents | None:
    """The timeline turn events of a dialect, or None when its turns are responses."""
    return TIMELINE_TURNS.get(str(flavour)) if flavour is not None else None
