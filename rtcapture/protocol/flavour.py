"""Which dialect a session speaks (section 1.4): from the handshake, its events, its URL."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .events import (
    INPUT_AUDIO_TIMEOUT,
    ITEM_ADDED,
    ITEM_DONE,
    SESSION_UPDATE,
    TRANSCRIPTION_SEGMENT,
    Direction,
    Flavour,
)
from .live import is_live_opening, is_live_path

_GA_ONLY_SERVER_PREFIXES = ("response.output_text.", "response.output_audio.",
                            "response.output_audio_transcript.")
_GA_ONLY_SERVER_TYPES = frozenset({ITEM_ADDED, ITEM_DONE, INPUT_AUDIO_TIMEOUT,
                                   TRANSCRIPTION_SEGMENT})
_BETA_ONLY_SERVER_PREFIXES = ("response.text.", "response.audio.", "response.audio_transcript.")



def flavour_from_handshake(headers: Iterable[tuple[str, str]], subprotocols: Sequence[str]
                           ) -> Flavour | None:
    """Rules 1-2 of section 1.4: the dialect if the handshake says it, else None."""
    for name, value in headers:
        if name.lower() == "openai-beta" and "realtime" in value.lower():
            return Flavour.BETA
    if "openai-beta.realtime-v1" in subprotocols:
        return Flavour.BETA
    return None


def flavour_from_event(direction: Direction | str, event: Mapping[str, Any]) -> Flavour | None:
    """Rules 3-4 of section 1.4: the dialect one event reveals, or None."""
    event_type = event.get("type")
    if not isinstance(event_type, str):
        return None
    if is_live_opening(str(direction), event):
        return Flavour.LIVE
    if direction == Direction.CLIENT:
        if event_type == SESSION_UPDATE and isinstance(event.get("session"), dict):
            session = event["session"]
            if "type" in session or "audio" in session:
                return Flavour.GA
            if any(k in session for k in ("modalities", "input_audio_format", "voice",
                                           "turn_detection", "output_audio_format")):
                return Flavour.BETA
        return None
    if event_type in _GA_ONLY_SERVER_TYPES or event_type.startswith(_GA_ONLY_SERVER_PREFIXES):
        return Flavour.GA
    if event_type.startswith(_BETA_ONLY_SERVER_PREFIXES):
        return Flavour.BETA
    return None


def flavour_from_path(path: str) -> Flavour | None:
    """Rule 5 (weak): the Azure preview URL shape suggests beta. A GPT-Live path
    (``…/v1/live/sessions``) decides ``live`` outright (Live reference, section 9.1)."""
    if is_live_path(path):
        return Flavour.LIVE
    parts = urlsplit(path)
    if parts.path.rstrip("/").endswith("/openai/realtime") and "api-version" in parts.query:
        return Flavour.BETA
    return None


def model_from_path(path: str) -> str | None:
    """The model (or Azure deployment) named in a Realtime URL's query."""
    query = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
    return query.get("model") or query.get("deployment") or None



@dataclass
class FlavourTracker:
    """Revises a session's dialect as events arrive (handshake rules win)."""

    handshake: Flavour | None = None
    seen: Flavour | None = None
    path_hint: Flavour | None = None

    def observe(self, direction: Direction | str, event: Mapping[str, Any]) -> None:
        if self.handshake is not None or self.seen is not None:
            return
        self.seen = flavour_from_event(direction, event)

    @property
    def flavour(self) -> Flavour:
        if self.path_hint is Flavour.LIVE:  # a Live path is the first rule, not a hint
            return Flavour.LIVE
        return self.handshake or self.seen or self.path_hint or Flavour.GA


