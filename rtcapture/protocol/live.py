"""GPT-Live knowledge (the ``live`` dialect): paths, event names, ids and audio fields.

GPT-Live is its own API, not a Realtime dialect: ``session.start`` -> ``session.started``,
one continuous real-time output track, transcripts as timed deltas, delegation to a
Responses backend whose events arrive wrapped in ``response.event``. The authority for
every name here is the ``openai`` Python SDK's ``openai.types.live`` (3.57).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# Client events (``openai.types.live.ClientEvent`` and the sideband ``ConnectClientEvent``).
SESSION_START = "session.start"
SESSION_UPDATE = "session.update"
SESSION_CLOSE = "session.close"
INPUT_APPEND = "session.input_audio.append"
INPUT_MUTE = "session.input_audio.mute"
INPUT_UNMUTE = "session.input_audio.unmute"
INSTRUCTIONS_APPEND = "session.instructions.append"
THINKING_APPEND = "session.thinking.append"
COMMENTARY_APPEND = "session.commentary.append"
FIXTURE_PLAY = "session.output_audio.fixture.play"
DECISION_CREATE = "decision.create"
DECISION_ITEM_CREATE = "decision.item.create"
DECISION_ITEM_DELETE = "decision.item.delete"
RESPONSE_ITEM_CREATE = "response.item.create"
RESPONSE_CREATE = "response.create"
DTMF_SEND = "transport.dtmf.send"

CLIENT_EVENTS: frozenset[str] = frozenset({
    SESSION_START, SESSION_UPDATE, SESSION_CLOSE, INPUT_APPEND, INPUT_MUTE, INPUT_UNMUTE,
    INSTRUCTIONS_APPEND, THINKING_APPEND, COMMENTARY_APPEND, FIXTURE_PLAY, DECISION_CREATE,
    DECISION_ITEM_CREATE, DECISION_ITEM_DELETE, RESPONSE_ITEM_CREATE, RESPONSE_CREATE,
    DTMF_SEND})
"""Every client event type of the SDK (primary ``ClientEvent`` plus sideband-only DTMF)."""

# Server events (``openai.types.live.ServerEvent``).
SESSION_STARTED = "session.started"
SESSION_UPDATED = "session.updated"
SESSION_CLOSED = "session.closed"
SESSION_PAUSED = "session.paused"
SESSION_RESUMED = "session.resumed"
INPUT_MUTED = "session.input_audio.muted"
INPUT_UNMUTED = "session.input_audio.unmuted"
INSTRUCTIONS_APPENDED = "session.instructions.appended"
THINKING_APPENDED = "session.thinking.appended"
COMMENTARY_APPENDED = "session.commentary.appended"
FIXTURE_PLAYING = "session.output_audio.fixture.playing"
FIXTURE_PLAYED = "session.output_audio.fixture.played"
OUTPUT_AUDIO_DELTA = "session.output_audio.delta"
INPUT_TRANSCRIPT_DELTA = "session.input_transcript.delta"
OUTPUT_TRANSCRIPT_DELTA = "session.output_transcript.delta"
DELEGATION_CREATED = "session.delegation.created"
RESPONSE_EVENT = "response.event"
DECISION_EVENT = "decision.event"
DECISION_ITEM_CREATED = "decision.item.created"
DECISION_ITEM_DELETED = "decision.item.deleted"
USAGE_UPDATED = "session.usage.updated"
ERROR = "error"
INFO = "info"

APPENDED_FOR: Mapping[str, str] = {
    INSTRUCTIONS_APPEND: INSTRUCTIONS_APPENDED,
    THINKING_APPEND: THINKING_APPENDED,
    COMMENTARY_APPEND: COMMENTARY_APPENDED,
}
"""The acknowledgement a context append gets once the timeline reaches it."""

SIDEBAND_CLIENT_EVENTS: frozenset[str] = CLIENT_EVENTS - {SESSION_START, INPUT_APPEND}
"""What a sideband may send (``ConnectClientEvent``): no ``session.start``, no audio."""

CLOSE_REASONS = ("close_requested", "expired", "content", "remote_hangup", "connection_lost")
"""``session.closed.reason`` values (``SessionClosedEvent``)."""

ERROR_UNKNOWN_PARAMETER = "unknown_parameter"
ERROR_SESSION_NOT_FOUND = "session_not_found"
"""Attach to a session id the server does not know (no source names it: a mock choice)."""
CLOSE_POLICY = 1008
"""Close code after refusing an attach (WebSocket "policy violation")."""
SIDEBAND_FORMAT_RATE = 24000
"""Sideband reflections (both directions) are always PCM16 at this rate."""

_PATH_RE = re.compile(r"/v1/live/sessions(?:/(?P<id>[^/]+)/(?P<kind>attach|fork))?$")


class LiveEndpoint(StrEnum):
    """Which Live WebSocket a path opens (section 1.1 of the Live reference)."""

    PRIMARY = "primary"
    ATTACH = "attach"
    FORK = "fork"


def live_endpoint(path: str) -> LiveEndpoint | None:
    """The Live endpoint a request path names (OpenAI ``/v1/…`` or Azure ``/openai/v1/…``,
    any prefix before them), or None for any other path."""
    match = _PATH_RE.search(urlsplit(path).path.rstrip("/"))
    if match is None:
        return None
    kind = match.group("kind")
    return LiveEndpoint(kind) if kind else LiveEndpoint.PRIMARY


def attach_target(path: str) -> str | None:
    """The session id an ``…/live/sessions/{id}/attach`` path names, or None."""
    match = _PATH_RE.search(urlsplit(path).path.rstrip("/"))
    if match is None or match.group("kind") != LiveEndpoint.ATTACH:
        return None
    return match.group("id")


def graceful_close(path: str) -> bool:
    """True when an attach URL opts into the closing handshake (``graceful_close=true``)."""
    query = dict(parse_qsl(urlsplit(path).query))
    return query.get("graceful_close", "").lower() in ("true", "1")


def is_live_path(path: str) -> bool:
    """True when a request path opens a GPT-Live WebSocket."""
    return live_endpoint(path) is not None


def is_live_opening(direction: str, event: Mapping[str, Any]) -> bool:
    """True for the events only Live sends first: client ``session.start``, server
    ``session.started`` (rules 2-3 of section 9.1)."""
    event_type = event.get("type")
    return (direction == "client" and event_type == SESSION_START
            and isinstance(event.get("session"), dict)) or (
        direction == "server" and event_type == SESSION_STARTED)


def session_model(session: Any) -> str | None:
    """The model a Live session object names (it is never in the URL)."""
    model = session.get("model") if isinstance(session, dict) else None
    return model if isinstance(model, str) and model else None


def id_source(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The object whose item/response/call ids stand for a Live event's, or None when the
    event carries them at the top level like Realtime ones: the wrapped Responses event of
    ``response.event``, the backend ``response_id`` of a delegation."""
    event_type = event.get("type")
    wrapped = event.get("event")
    if event_type == RESPONSE_EVENT and isinstance(wrapped, dict):
        return wrapped
    if event_type == DELEGATION_CREATED and isinstance(event.get("delegation"), dict):
        return {"response_id": event["delegation"].get("response_id")}
    return None


def wrapped_type(event: Mapping[str, Any]) -> str | None:
    """The Responses event type inside a ``response.event`` (``response.completed`` …)."""
    inner = event.get("event") if event.get("type") == RESPONSE_EVENT else None
    kind = inner.get("type") if isinstance(inner, dict) else None
    return kind if isinstance(kind, str) else None


def delegation_id(event: Mapping[str, Any]) -> str | None:
    """The delegation an event belongs to (``delegation_id``, or the created one's id)."""
    value = event.get("delegation_id")
    if value is None and isinstance(event.get("delegation"), dict):
        value = event["delegation"].get("id")
    return value if isinstance(value, str) else None


def audio_key(event_type: Any) -> str | None:
    """The key holding base64 audio in a Live event type, or None."""
    if event_type in (INPUT_APPEND, FIXTURE_PLAY):
        return "audio"
    if event_type == OUTPUT_AUDIO_DELTA:
        return "delta"
    return None


def timeline_ms(event: Mapping[str, Any]) -> tuple[float, float] | None:
    """``(start_ms, end_ms)`` of an event placed on the session timeline, or None."""
    start, end = event.get("start_ms"), event.get("end_ms")
    if isinstance(start, int | float) and isinstance(end, int | float) \
            and not isinstance(start, bool) and not isinstance(end, bool):
        return float(start), float(end)
    return None


UTTERANCE_GAP_MS = 500.0
"""Quiet between two fragments of one speaker that ends an utterance (the SDK transcript
grouper's minimum turn separation)."""

SPEAKER_OF = {INPUT_TRANSCRIPT_DELTA: "user", OUTPUT_TRANSCRIPT_DELTA: "assistant"}


@dataclass
class Utterance:
    """One speaker's run of transcript fragments on the session timeline."""

    speaker: str
    """``user`` or ``assistant``."""
    start_ms: float
    end_ms: float
    text: str = ""
    fragments: int = 0
    first_seq: int | None = None
    """Sequence number of the first fragment's frame (where known)."""
    last_seq: int | None = None
    """Sequence number of the last fragment's frame (where known)."""


def group_utterances(deltas: Iterable[tuple[int | None, Mapping[str, Any]]],
                     gap_ms: float = UTTERANCE_GAP_MS) -> list[Utterance]:
    """The utterances in ``(seq, event)`` transcript deltas, by the stated rule: a maximal
    run of one speaker's fragments; a fragment of the other speaker, or more than
    ``gap_ms`` between one fragment's ``end_ms`` and the next one's ``start_ms``, closes it.
    Fragments join in delivery order without added spaces (they carry their own)."""
    out: list[Utterance] = []
    open_by: dict[str, Utterance] = {}
    last_speaker: str | None = None
    for seq, event in deltas:
        speaker = SPEAKER_OF.get(event.get("type"))  # type: ignore[arg-type]
        span = timeline_ms(event)
        text = event.get("delta")
        if speaker is None or span is None or not isinstance(text, str):
            continue
        current = open_by.get(speaker)
        if current is None or last_speaker != speaker or span[0] - current.end_ms > gap_ms:
            current = Utterance(speaker, span[0], span[1], first_seq=seq)
            open_by[speaker] = current
            out.append(current)
        current.text += text
        current.end_ms = max(current.end_ms, span[1])
        current.fragments += 1
        current.last_seq = seq
        last_speaker = speaker
    for utterance in out:
        utterance.text = utterance.text.strip()  # the space a later fragment leads with
    return out
