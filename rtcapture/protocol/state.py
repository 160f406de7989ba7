"""The one session-state tracker: what is in force as a session's events go by.

Fed event by event in ``seq`` order, it knows the audio format in force per direction, the
format of each response's audio, the turn-detection (VAD) settings and the dialect. Ingest,
audio extraction, the export and turn analysis all ask it, so they agree by construction.

The rules:

- The client's ``session.update`` applies at once; the server's ``session.updated`` applies
  too (it states the effective session). ``session.created`` applies only until the client
  has configured the session itself: it can arrive after the client's first update and then
  describes the defaults that update replaces.
- A response's audio is in the format fixed when it was created: the one its
  ``response.created`` states, else the session's output format at that moment. A later
  ``session.update`` does not change a response already under way. Audio of a response
  never seen created (or with no response id) is in the session's current output format.
- VAD: on unless a session object sets ``turn_detection`` to null; its silence window is
  ``silence_duration_ms`` (``server_vad``), None when the object does not say
  (``semantic_vad`` has none).

Which events matter, per dialect, is a table (:data:`STATE_EVENTS`); a new dialect adds
its event names with :func:`register_state_events`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .audio import PCM16, AudioFormat, response_output_format, session_audio_formats
from .events import (
    RESPONSE_CREATED,
    RESPONSE_DONE,
    SESSION_CONFIG_CLIENT_TYPES,
    SESSION_CONFIG_SERVER_TYPES,
    SESSION_CREATED,
    Direction,
)
from .flavour import FlavourTracker
from .live import SESSION_START as LIVE_SESSION_START
from .live import SESSION_STARTED as LIVE_SESSION_STARTED

MAX_OPEN_RESPONSES = 256
"""Per-response formats kept for responses whose ``response.done`` never came."""

DEFAULT_SILENCE_MS = 500
"""``silence_duration_ms`` of the service's default ``server_vad`` before a session says."""


class StateAction(StrEnum):
    """What an event does to the session state."""

    CLIENT_SESSION = "client_session"
    SERVER_SESSION = "server_session"
    SESSION_CREATED = "session_created"
    RESPONSE_CREATED = "response_created"
    RESPONSE_DONE = "response_done"


STATE_EVENTS: dict[tuple[str, str], StateAction] = {}
"""(direction, event type) -> what it does. Every other event leaves the state alone."""


def register_state_events(direction: Direction, types: Iterable[str],
                          action: StateAction) -> None:
    """Add a dialect's event names to :data:`STATE_EVENTS`."""
    for event_type in types:
        STATE_EVENTS[(str(direction), event_type)] = action
    STATE_TYPES.update(types)


STATE_TYPES: set[str] = set()
"""Every event type in :data:`STATE_EVENTS` (to filter before decoding)."""

register_state_events(Direction.CLIENT, SESSION_CONFIG_CLIENT_TYPES, StateAction.CLIENT_SESSION)
register_state_events(Direction.SERVER, SESSION_CONFIG_SERVER_TYPES - {SESSION_CREATED},
                      StateAction.SERVER_SESSION)
register_state_events(Direction.SERVER, (SESSION_CREATED,), StateAction.SESSION_CREATED)
register_state_events(Direction.SERVER, (RESPONSE_CREATED,), StateAction.RESPONSE_CREATED)
register_state_events(Direction.SERVER, (RESPONSE_DONE,), StateAction.RESPONSE_DONE)
# GPT-Live: session.start configures the session as session.update does; session.started
# states the effective one (session.update/updated share Realtime's names).
register_state_events(Direction.CLIENT, (LIVE_SESSION_START,), StateAction.CLIENT_SESSION)
register_state_events(Direction.SERVER, (LIVE_SESSION_STARTED,), StateAction.SERVER_SESSION)


@dataclass(frozen=True, slots=True)
class VadSettings:
    """Turn detection in force: on/off, its kind and silence window."""

    enabled: bool = True
    kind: str | None = "server_vad"
    silence_ms: int | None = DEFAULT_SILENCE_MS
    prefix_padding_ms: int | None = 300


def _turn_detection(session: Mapping[str, Any]) -> tuple[bool, Any]:
    """(mentioned, value) of a session object's turn detection, in either dialect."""
    audio = session.get("audio")
    if isinstance(audio, dict) and isinstance(audio.get("input"), dict) \
            and "turn_detection" in audio["input"]:
        return True, audio["input"]["turn_detection"]
    if "turn_detection" in session:
        return True, session["turn_detection"]
    return False, None


def session_vad(session: Any, current: VadSettings) -> VadSettings:
    """The VAD settings after a session object (partial objects keep what they omit)."""
    if not isinstance(session, dict):
        return current
    mentioned, td = _turn_detection(session)
    if not mentioned:
        return current
    if td is None:
        return VadSettings(False, None, None, None)
    if not isinstance(td, dict):
        return VadSettings(True, current.kind, current.silence_ms, current.prefix_padding_ms)
    kind = td.get("type") if isinstance(td.get("type"), str) else current.kind
    silence = td.get("silence_duration_ms")
    prefix = td.get("prefix_padding_ms")
    if kind == "semantic_vad":
        return VadSettings(True, kind, None, None)
    return VadSettings(
        True, kind,
        silence if isinstance(silence, int) and not isinstance(silence, bool)
        else (current.silence_ms if current.kind == kind and current.enabled
              else DEFAULT_SILENCE_MS),
        prefix if isinstance(prefix, int) and not isinstance(prefix, bool)
        else current.prefix_padding_ms)


@dataclass
class SessionState:
    """Formats per direction, per-response formats, VAD and dialect, as events go by."""

    input: AudioFormat = PCM16
    output: AudioFormat = PCM16
    vad_settings: VadSettings = field(default_factory=VadSettings)
    flavour: FlavourTracker = field(default_factory=FlavourTracker)
    _client_configured: bool = False
    _responses: dict[str, AudioFormat] = field(default_factory=dict)

    @property
    def vad(self) -> bool:
        """Server turn detection on (the service default) or off (the client commits)."""
        return self.vad_settings.enabled

    def observe(self, direction: str, event_type: str | None, event: Mapping[str, Any]
                ) -> None:
        """Take one decoded event (those outside :data:`STATE_EVENTS` change nothing)."""
        action = STATE_EVENTS.get((direction, event_type or ""))
        if action is None:
            return
        if action is StateAction.CLIENT_SESSION:
            self._client_configured = True
            self._apply(event.get("session"))
        elif action is StateAction.SERVER_SESSION or (
                action is StateAction.SESSION_CREATED and not self._client_configured):
            self._apply(event.get("session"))
        elif action is StateAction.RESPONSE_CREATED:
            response = event.get("response")
            rid = response.get("id") if isinstance(response, dict) else None
            if isinstance(rid, str):
                self._responses[rid] = response_output_format(response) or self.output
                if len(self._responses) > MAX_OPEN_RESPONSES:
                    del self._responses[next(iter(self._responses))]
        elif action is StateAction.RESPONSE_DONE:
            response = event.get("response")
            if isinstance(response, dict) and isinstance(response.get("id"), str):
                self._responses.pop(response["id"], None)

    def output_for(self, response_id: str | None) -> AudioFormat:
        """The format of a response's audio (the session's output format if unknown)."""
        if response_id is not None:
            return self._responses.get(response_id, self.output)
        return self.output

    def _apply(self, session: Any) -> None:
        fin, fout = session_audio_formats(session)
        self.input = fin or self.input
        self.output = fout or self.output
        self.vad_settings = session_vad(session, self.vad_settings)
