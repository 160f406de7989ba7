"""Which format each audio chunk is in.

A chunk is in the format the latest ``session.update`` (client) or ``session.updated``
(server) set before it; ``session.created`` counts only until the client has configured the
session itself (it can arrive after the client's first ``session.update``, describing
the defaults that update replaces). A response's audio follows the format its
``response.created`` states, when it states one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..protocol import (
    PCM16,
    RESPONSE_CREATED,
    RESPONSE_DONE,
    SESSION_CONFIG_CLIENT_TYPES,
    SESSION_CONFIG_SERVER_TYPES,
    SESSION_CREATED,
    AudioFormat,
    Direction,
    response_output_format,
    session_audio_formats,
    session_turn_detection,
)

MAX_OPEN_RESPONSES = 256
"""Per-response formats kept for responses whose ``response.done`` never came."""

CONFIG_TYPES: frozenset[str] = (SESSION_CONFIG_CLIENT_TYPES | SESSION_CONFIG_SERVER_TYPES
                                | {RESPONSE_CREATED, RESPONSE_DONE})
"""Event types that can change a format or the turn detection."""


@dataclass
class FormatTracker:
    """The input and output formats (and turn detection) in effect as events go by."""

    input: AudioFormat = PCM16
    output: AudioFormat = PCM16
    vad: bool = True
    """Server turn detection on (the service default) or off (the client commits)."""
    _client_configured: bool = False
    _responses: dict[str, AudioFormat] = field(default_factory=dict)

    def observe(self, direction: str, event_type: str | None, event: dict[str, Any]) -> None:
        """Take a configuration event (others are ignored)."""
        if direction == Direction.CLIENT:
            if event_type in SESSION_CONFIG_CLIENT_TYPES:
                self._client_configured = True
                self._apply(event.get("session"))
        elif event_type in SESSION_CONFIG_SERVER_TYPES:
            if not (event_type == SESSION_CREATED and self._client_configured):
                self._apply(event.get("session"))
        elif event_type == RESPONSE_CREATED:
            response = event.get("response")
            fmt = response_output_format(response)
            rid = response.get("id") if isinstance(response, dict) else None
            if fmt is not None and isinstance(rid, str):
                self._responses[rid] = fmt
                if len(self._responses) > MAX_OPEN_RESPONSES:
                    del self._responses[next(iter(self._responses))]
        elif event_type == RESPONSE_DONE:
            response = event.get("response")
            if isinstance(response, dict) and isinstance(response.get("id"), str):
                self._responses.pop(response["id"], None)

    def output_for(self, response_id: str | None) -> AudioFormat:
        """The format of a response's audio."""
        if response_id is not None:
            return self._responses.get(response_id, self.output)
        return self.output

    def _apply(self, session: Any) -> None:
        fin, fout = session_audio_formats(session)
        self.input = fin or self.input
        self.output = fout or self.output
        vad = session_turn_detection(session)
        if vad is not None:
            self.vad = vad
