"""Event names of both dialects, id fields, and what ``response.done`` and ``error``
events carry (sections 1-2 and 11 of the protocol reference)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Direction(StrEnum):
    """Who sent a frame."""

    CLIENT = "client"
    SERVER = "server"


class Flavour(StrEnum):
    """Protocol dialect (section 1.4 of the reference)."""

    BETA = "beta"
    GA = "ga"
    LIVE = "live"
    """GPT-Live: its own API (``/v1/live/sessions``), see :mod:`rtcapture.protocol.live`."""


class Opcode(StrEnum):
    """WebSocket data frame kind."""

    TEXT = "text"
    BINARY = "binary"
    MEDIA = "media"
    """Not a WebSocket frame: a WebRTC track's decoded audio, stored as the equivalent
    JSON event (``input_audio_buffer.append`` / ``response.output_audio.delta``)."""


class ClosedBy(StrEnum):
    """Who ended a session: one of its two sides, or the recorder between them."""

    CLIENT = "client"
    SERVER = "server"
    RECORDER = "recorder"


class Transport(StrEnum):
    """How a session reached the recorder."""

    WEBSOCKET = "websocket"
    WEBRTC = "webrtc"


@dataclass(frozen=True)
class EventNames:
    """Server event names that differ between the dialects."""

    text_delta: str
    text_done: str
    audio_delta: str
    audio_done: str
    transcript_delta: str
    transcript_done: str
    item_created: str
    item_done: str | None
    output_text_part: str
    output_audio_part: str


BETA_NAMES = EventNames(
    text_delta="response.text.delta",
    text_done="response.text.done",
    audio_delta="response.audio.delta",
    audio_done="response.audio.done",
    transcript_delta="response.audio_transcript.delta",
    transcript_done="response.audio_transcript.done",
    item_created="conversation.item.created",
    item_done=None,
    output_text_part="text",
    output_audio_part="audio",
)

GA_NAMES = EventNames(
    text_delta="response.output_text.delta",
    text_done="response.output_text.done",
    audio_delta="response.output_audio.delta",
    audio_done="response.output_audio.done",
    transcript_delta="response.output_audio_transcript.delta",
    transcript_done="response.output_audio_transcript.done",
    item_created="conversation.item.added",
    item_done="conversation.item.done",
    output_text_part="output_text",
    output_audio_part="output_audio",
)


def names_for(flavour: Flavour | str) -> EventNames:
    """The event-name table of a dialect."""
    return BETA_NAMES if Flavour(flavour) is Flavour.BETA else GA_NAMES


# Client events (same names in both dialects unless noted).
SESSION_UPDATE = "session.update"
TRANSCRIPTION_SESSION_UPDATE = "transcription_session.update"  # beta only
INPUT_AUDIO_APPEND = "input_audio_buffer.append"
INPUT_AUDIO_COMMIT = "input_audio_buffer.commit"
INPUT_AUDIO_CLEAR = "input_audio_buffer.clear"
ITEM_CREATE = "conversation.item.create"
ITEM_TRUNCATE = "conversation.item.truncate"
ITEM_DELETE = "conversation.item.delete"
ITEM_RETRIEVE = "conversation.item.retrieve"
RESPONSE_CREATE = "response.create"
RESPONSE_CANCEL = "response.cancel"
OUTPUT_AUDIO_BUFFER_CLEAR = "output_audio_buffer.clear"

CLIENT_EVENTS: frozenset[str] = frozenset(
    {
        SESSION_UPDATE,
        TRANSCRIPTION_SESSION_UPDATE,
        INPUT_AUDIO_APPEND,
        INPUT_AUDIO_COMMIT,
        INPUT_AUDIO_CLEAR,
        ITEM_CREATE,
        ITEM_TRUNCATE,
        ITEM_DELETE,
        ITEM_RETRIEVE,
        RESPONSE_CREATE,
        RESPONSE_CANCEL,
        OUTPUT_AUDIO_BUFFER_CLEAR,
    }
)

# Server events common to both dialects.
SESSION_CREATED = "session.created"
SESSION_UPDATED = "session.updated"
TRANSCRIPTION_SESSION_UPDATED = "transcription_session.updated"
CONVERSATION_CREATED = "conversation.created"
ERROR = "error"
RATE_LIMITS_UPDATED = "rate_limits.updated"
SPEECH_STARTED = "input_audio_buffer.speech_started"
SPEECH_STOPPED = "input_audio_buffer.speech_stopped"
INPUT_AUDIO_COMMITTED = "input_audio_buffer.committed"
INPUT_AUDIO_CLEARED = "input_audio_buffer.cleared"
INPUT_AUDIO_TIMEOUT = "input_audio_buffer.timeout_triggered"
ITEM_CREATED_BETA = "conversation.item.created"
ITEM_ADDED = "conversation.item.added"
ITEM_DONE = "conversation.item.done"
ITEM_RETRIEVED = "conversation.item.retrieved"
ITEM_TRUNCATED = "conversation.item.truncated"
ITEM_DELETED = "conversation.item.deleted"
TRANSCRIPTION_DELTA = "conversation.item.input_audio_transcription.delta"
TRANSCRIPTION_COMPLETED = "conversation.item.input_audio_transcription.completed"
TRANSCRIPTION_FAILED = "conversation.item.input_audio_transcription.failed"
TRANSCRIPTION_SEGMENT = "conversation.item.input_audio_transcription.segment"
RESPONSE_CREATED = "response.created"
RESPONSE_DONE = "response.done"
OUTPUT_ITEM_ADDED = "response.output_item.added"
OUTPUT_ITEM_DONE = "response.output_item.done"
CONTENT_PART_ADDED = "response.content_part.added"
CONTENT_PART_DONE = "response.content_part.done"
FUNCTION_ARGS_DELTA = "response.function_call_arguments.delta"
FUNCTION_ARGS_DONE = "response.function_call_arguments.done"

AUDIO_DELTA_TYPES: frozenset[str] = frozenset({BETA_NAMES.audio_delta, GA_NAMES.audio_delta})
TEXT_DELTA_TYPES: frozenset[str] = frozenset({BETA_NAMES.text_delta, GA_NAMES.text_delta})
TRANSCRIPT_DELTA_TYPES: frozenset[str] = frozenset(
    {BETA_NAMES.transcript_delta, GA_NAMES.transcript_delta}
)
TEXT_DONE_TYPES: frozenset[str] = frozenset({BETA_NAMES.text_done, GA_NAMES.text_done})
TRANSCRIPT_DONE_TYPES: frozenset[str] = frozenset(
    {BETA_NAMES.transcript_done, GA_NAMES.transcript_done}
)
ITEM_CREATED_TYPES: frozenset[str] = frozenset({ITEM_CREATED_BETA, ITEM_ADDED})

def is_audio_delta(event_type: str | None) -> bool:
    """True for a server audio delta event in either dialect."""
    return event_type in AUDIO_DELTA_TYPES



ID_KEYS: frozenset[str] = frozenset({"id", "item_id", "response_id", "call_id",
                                     "previous_item_id", "delegation_id"})
"""Keys whose string values are item / response / call ids (section 2), at any depth;
``delegation_id`` is GPT-Live's (a replay maps it like the others)."""

VOLATILE_KEYS: frozenset[str] = ID_KEYS | frozenset({"event_id", "conversation_id",
                                                     "expires_at", "obfuscation",
                                                     "client_secret"})
"""Keys whose values differ on every run (section 11, "Diff noise")."""

SERVER_ID_RE = re.compile(r"\b(?:event|item|resp|call|sess|conv)_[A-Za-z0-9]{8,}\b")
"""A server-generated id inside free text (e.g. an error message)."""

TRANSCRIPTION_PREFIX = "conversation.item.input_audio_transcription."
ITEM_REFERENCE = "item_reference"


def is_delta_type(event_type: str | None) -> bool:
    """True for a streamed fragment (``*.delta``): its boundaries carry no meaning."""
    return event_type is not None and event_type.endswith(".delta")


AUDIO_DONE_TYPES: frozenset[str] = frozenset({BETA_NAMES.audio_done, GA_NAMES.audio_done})
SESSION_CONFIG_CLIENT_TYPES: frozenset[str] = frozenset({SESSION_UPDATE,
                                                         TRANSCRIPTION_SESSION_UPDATE})
"""Client events whose ``session`` object can set audio formats and turn detection."""
SESSION_CONFIG_SERVER_TYPES: frozenset[str] = frozenset({SESSION_CREATED, SESSION_UPDATED,
                                                         TRANSCRIPTION_SESSION_UPDATED})
"""Server events carrying the effective ``session`` object."""
ERROR_COMMIT_EMPTY = "input_audio_buffer_commit_empty"
"""``error.code`` of a commit refused for holding < 100 ms (the buffer is kept)."""
INPUT_AUDIO_PART = "input_audio"


def error_code(event: Mapping[str, Any]) -> str | None:
    """``error.code`` of an ``error`` event, or None."""
    err = event.get("error")
    code = err.get("code") if isinstance(err, dict) else None
    return code if isinstance(code, str) else None



USAGE_TOKEN_FIELDS: tuple[tuple[str, str | None, str], ...] = (
    ("input_tokens", None, "input_tokens"),
    ("output_tokens", None, "output_tokens"),
    ("total_tokens", None, "total_tokens"),
    ("input_text_tokens", "input_token_details", "text_tokens"),
    ("input_audio_tokens", "input_token_details", "audio_tokens"),
    ("input_cached_tokens", "input_token_details", "cached_tokens"),
    ("output_text_tokens", "output_token_details", "text_tokens"),
    ("output_audio_tokens", "output_token_details", "audio_tokens"),
)
"""(flat name, detail object or None, key) of the token counts in ``response.usage``."""


def usage_tokens(usage: Any) -> dict[str, int | None]:
    """The token counts of a ``response.done`` usage object, flattened (None where absent)."""
    out: dict[str, int | None] = {}
    for name, detail, key in USAGE_TOKEN_FIELDS:
        source = usage.get(detail) if isinstance(usage, dict) and detail else usage
        value = source.get(key) if isinstance(source, dict) else None
        out[name] = value if isinstance(value, int) and not isinstance(value, bool) else None
    return out


def response_status_reason(response: Any) -> str | None:
    """Why a response ended as it did: ``status_details.reason`` or its error code."""
    details = response.get("status_details") if isinstance(response, dict) else None
    if not isinstance(details, dict):
        return None
    reason = details.get("reason")
    if isinstance(reason, str):
        return reason
    err = details.get("error")
    code = err.get("code") if isinstance(err, dict) else None
    return code if isinstance(code, str) else None
