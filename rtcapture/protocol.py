"""All Realtime API knowledge: event names (beta and GA), id fields, audio formats,
frame parsing, flavour detection and secret redaction. Pure functions, no I/O.

See the protocol reference for the wire format; every other module asks this one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit


class Direction(StrEnum):
    """Who sent a frame."""

    CLIENT = "client"
    SERVER = "server"


class Flavour(StrEnum):
    """Protocol dialect (section 1.4 of the reference)."""

    BETA = "beta"
    GA = "ga"


class Opcode(StrEnum):
    """WebSocket data frame kind."""

    TEXT = "text"
    BINARY = "binary"


# --------------------------------------------------------------------------- events


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

_GA_ONLY_SERVER_PREFIXES = ("response.output_text.", "response.output_audio.",
                            "response.output_audio_transcript.")
_GA_ONLY_SERVER_TYPES = frozenset({ITEM_ADDED, ITEM_DONE, INPUT_AUDIO_TIMEOUT,
                                   TRANSCRIPTION_SEGMENT})
_BETA_ONLY_SERVER_PREFIXES = ("response.text.", "response.audio.", "response.audio_transcript.")


def is_audio_delta(event_type: str | None) -> bool:
    """True for a server audio delta event in either dialect."""
    return event_type in AUDIO_DELTA_TYPES


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class ParsedFrame:
    """What a frame says about itself, as far as the recorder needs."""

    type: str | None = None
    event_id: str | None = None
    item_id: str | None = None
    response_id: str | None = None
    call_id: str | None = None
    parse_error: str | None = None
    event: dict[str, Any] | None = None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_frame(data: bytes, opcode: Opcode | str = Opcode.TEXT) -> ParsedFrame:
    """Parse a raw frame into its type and ids; never raises.

    A frame that is binary, not UTF-8, not JSON or not a JSON object gets
    ``parse_error`` set and no fields.
    """
    if opcode != Opcode.TEXT:
        return ParsedFrame(parse_error="binary frame")
    try:
        text = data.decode("utf-8")  # json.loads(bytes) would also accept UTF-16/32
    except UnicodeDecodeError:
        return ParsedFrame(parse_error="invalid UTF-8")
    try:
        obj = json.loads(text)
    except RecursionError:
        return ParsedFrame(parse_error="JSON nested too deeply")
    except ValueError as exc:
        return ParsedFrame(parse_error=f"invalid JSON: {str(exc)[:120]}")
    except Exception as exc:  # noqa: BLE001 - the parser must never raise
        return ParsedFrame(parse_error=f"unparseable frame: {type(exc).__name__}")
    if not isinstance(obj, dict):
        return ParsedFrame(parse_error="JSON value is not an object")
    return fields_of(obj)


def fields_of(obj: dict[str, Any]) -> ParsedFrame:
    """Extract type and ids from an already-decoded event (section 2's table)."""
    event_type = _str_or_none(obj.get("type"))
    item = obj.get("item")
    item = item if isinstance(item, dict) else None
    response = obj.get("response")
    response = response if isinstance(response, dict) else None

    item_id = _str_or_none(obj.get("item_id"))
    if item_id is None and item is not None:
        item_id = _str_or_none(item.get("id"))

    response_id = _str_or_none(obj.get("response_id"))
    if response_id is None and response is not None:
        response_id = _str_or_none(response.get("id"))

    call_id = _str_or_none(obj.get("call_id"))
    if call_id is None and item is not None:
        call_id = _str_or_none(item.get("call_id"))

    return ParsedFrame(
        type=event_type,
        event_id=_str_or_none(obj.get("event_id")),
        item_id=item_id,
        response_id=response_id,
        call_id=call_id,
        parse_error=None if event_type is not None else "missing or non-string type",
        event=obj,
    )


def decode_event(data: bytes) -> dict[str, Any] | None:
    """Decode a text frame into an event dict, or None if it is not one."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except Exception:  # noqa: BLE001
        return None
    return obj if isinstance(obj, dict) else None


# --------------------------------------------------------------------------- audio


class Encoding(StrEnum):
    """Sample encoding of Realtime audio."""

    PCM16 = "pcm16"
    ULAW = "ulaw"
    ALAW = "alaw"


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """A Realtime audio format: encoding and sample rate (mono)."""

    encoding: Encoding
    rate: int

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self.encoding is Encoding.PCM16 else 1

    @property
    def bytes_per_ms(self) -> float:
        return self.rate * self.bytes_per_sample / 1000

    def ms_of(self, nbytes: int) -> float:
        """Duration in ms of ``nbytes`` of this format."""
        return nbytes / self.bytes_per_ms

    @property
    def beta_name(self) -> str:
        return {Encoding.PCM16: "pcm16", Encoding.ULAW: "g711_ulaw", Encoding.ALAW: "g711_alaw"}[
            self.encoding
        ]

    def ga_object(self) -> dict[str, Any]:
        """The GA format object for this format."""
        if self.encoding is Encoding.PCM16:
            return {"type": "audio/pcm", "rate": self.rate}
        return {"type": "audio/pcmu" if self.encoding is Encoding.ULAW else "audio/pcma"}


PCM16 = AudioFormat(Encoding.PCM16, 24000)
G711_ULAW = AudioFormat(Encoding.ULAW, 8000)
G711_ALAW = AudioFormat(Encoding.ALAW, 8000)

_FORMAT_BY_NAME = {
    "pcm16": PCM16,
    "g711_ulaw": G711_ULAW,
    "g711_alaw": G711_ALAW,
    "audio/pcm": PCM16,
    "audio/pcmu": G711_ULAW,
    "audio/pcma": G711_ALAW,
}


def parse_audio_format(value: Any) -> AudioFormat | None:
    """An audio format from a beta name (``"pcm16"``) or a GA object; None if unknown."""
    if isinstance(value, str):
        return _FORMAT_BY_NAME.get(value)
    if isinstance(value, dict):
        fmt = _FORMAT_BY_NAME.get(value.get("type")) if isinstance(value.get("type"), str) else None
        if fmt is PCM16 and isinstance(value.get("rate"), int) and value["rate"] > 0:
            return AudioFormat(Encoding.PCM16, value["rate"])
        return fmt
    return None


def session_audio_formats(session: Any) -> tuple[AudioFormat | None, AudioFormat | None]:
    """(input, output) formats a session object sets, in either dialect; None where unset."""
    if not isinstance(session, dict):
        return None, None
    fin = parse_audio_format(session.get("input_audio_format"))
    fout = parse_audio_format(session.get("output_audio_format"))
    audio = session.get("audio")
    if isinstance(audio, dict):
        ain, aout = audio.get("input"), audio.get("output")
        if isinstance(ain, dict) and "format" in ain:
            fin = parse_audio_format(ain.get("format")) or fin
        if isinstance(aout, dict) and "format" in aout:
            fout = parse_audio_format(aout.get("format")) or fout
    return fin, fout


def b64_decoded_len(b64: str) -> int | None:
    """Decoded length of a base64 string without decoding it; None if malformed length."""
    n = len(b64)
    if n % 4:
        return None
    if n == 0:
        return 0
    pad = (b64[-1] == "=") + (b64[-2] == "=")
    return n // 4 * 3 - pad


def decode_audio_b64(b64: Any) -> bytes | None:
    """Strictly decode base64 audio; None if it is not valid base64."""
    if not isinstance(b64, str):
        return None
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return None


def audio_payload(event: Mapping[str, Any]) -> str | None:
    """The base64 audio an event carries (input append, output delta), or None."""
    event_type = event.get("type")
    if event_type == INPUT_AUDIO_APPEND:
        value = event.get("audio")
    elif event_type in AUDIO_DELTA_TYPES:
        value = event.get("delta")
    else:
        return None
    return value if isinstance(value, str) else None


AUDIO_MARKER_PREFIX = "<audio "


def strip_audio(event: dict[str, Any]) -> dict[str, Any]:
    """A copy of an event with base64 audio replaced by a short marker."""
    key = "audio" if event.get("type") == INPUT_AUDIO_APPEND else "delta"
    b64 = audio_payload(event)
    if b64 is None:
        return event
    out = dict(event)
    n = b64_decoded_len(b64)
    out[key] = f"{AUDIO_MARKER_PREFIX}{n if n is not None else '?'} bytes>"
    return out


# --------------------------------------------------------------------------- flavour


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
    """Rule 5 (weak): the Azure preview URL shape suggests beta."""
    parts = urlsplit(path)
    if parts.path.rstrip("/").endswith("/openai/realtime") and "api-version" in parts.query:
        return Flavour.BETA
    return None


def model_from_path(path: str) -> str | None:
    """The model (or Azure deployment) named in a Realtime URL's query."""
    query = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
    return query.get("model") or query.get("deployment") or None


# --------------------------------------------------------------------------- secrets

SECRET_HEADERS = frozenset({"authorization", "api-key"})
SECRET_QUERY_PARAMS = frozenset({"authorization", "api-key"})
KEY_SUBPROTOCOL_PREFIX = "openai-insecure-api-key."
_KEY_RE = re.compile(r"(?:sk-|ek_)[A-Za-z0-9_\-]{6,}")
_KEY_RE_BYTES = re.compile(rb"(?:sk-|ek_)[A-Za-z0-9_\-]{6,}")
REDACTED_PREFIX = "REDACTED-"


def secret_marker(secret: str) -> str:
    """The stable marker replacing a secret: a short hash and its last 4 characters."""
    digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{REDACTED_PREFIX}{digest}-{secret[-4:] if len(secret) > 8 else ''}"


# Both functions look for the prefixes with ``in`` first: a substring search runs about ten
# times faster than the regex over frames that hold no key, which is nearly all of them.


def redact_text(text: str) -> str:
    """Replace ``sk-…`` / ``ek_…`` keys anywhere in a string."""
    if "sk-" not in text and "ek_" not in text:
        return text
    return _KEY_RE.sub(lambda m: secret_marker(m.group(0)), text)


def redact_bytes(data: bytes) -> bytes:
    """Replace ``sk-…`` / ``ek_…`` keys anywhere in raw bytes."""
    if b"sk-" not in data and b"ek_" not in data:
        return data
    return _KEY_RE_BYTES.sub(
        lambda m: secret_marker(m.group(0).decode("ascii")).encode("ascii"), data
    )


_MARKER_RE = re.compile(rf"{REDACTED_PREFIX}[0-9a-f]{{8}}-\S{{0,4}}")


def _mark(secret: str) -> str:
    """The marker of a secret; a value that already is a marker stays as it is, so that
    redacting twice (export after record, import after export) changes nothing."""
    return secret if _MARKER_RE.fullmatch(secret) else secret_marker(secret)


def _redact_credential(value: str) -> str:
    scheme, sep, token = value.partition(" ")
    if sep and scheme.lower() in ("bearer", "basic", "token"):
        return f"{scheme} {_mark(token.strip())}"
    return _mark(value.strip())


def redact_header(name: str, value: str) -> str:
    """A header value safe to store or print."""
    if name.lower() in SECRET_HEADERS or name.lower() == "x-rtcapture-token":
        return _redact_credential(value)
    if name.lower() == "sec-websocket-protocol":
        return ", ".join(redact_subprotocols([p.strip() for p in value.split(",")]))
    return redact_text(value)


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers with every secret replaced by its marker."""
    return [(name, redact_header(name, value)) for name, value in headers]


def redact_subprotocols(subprotocols: Iterable[str]) -> list[str]:
    """Subprotocol entries with embedded keys replaced by markers."""
    out = []
    for proto in subprotocols:
        for prefix in (KEY_SUBPROTOCOL_PREFIX, "rtcapture-token."):
            if proto.startswith(prefix):
                proto = prefix + _mark(proto[len(prefix):])
                break
        else:
            proto = redact_text(proto)
        out.append(proto)
    return out


def redact_url(url: str) -> str:
    """A URL (or path with query) with secret query parameters and keys replaced."""
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return redact_text(url)
    if not query and "@" not in parts.netloc:
        return redact_text(url)
    if query:
        cleaned = [
            (k, _redact_credential(v) if k.lower() in SECRET_QUERY_PARAMS else redact_text(v))
            for k, v in query
        ]
        parts = parts._replace(query=urlencode(cleaned, quote_via=quote, safe="/:"))
    netloc = parts.netloc
    if "@" in netloc:  # user:password@host
        netloc = "REDACTED@" + netloc.rpartition("@")[2]
    return redact_text(urlunsplit(parts._replace(netloc=netloc)))


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
        return self.handshake or self.seen or self.path_hint or Flavour.GA


# --------------------------------------------------------------------------- ids (replay, diff)

ID_KEYS: frozenset[str] = frozenset({"id", "item_id", "response_id", "call_id",
                                     "previous_item_id"})
"""Keys whose string values are item / response / call ids (section 2), at any depth."""

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


# --------------------------------------------------------------------------- audio extraction

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


def session_turn_detection(session: Any) -> bool | None:
    """Whether a session object turns server turn detection on (True) or off (False).

    None when the object does not mention it (a partial ``session.update``).
    """
    if not isinstance(session, dict):
        return None
    audio = session.get("audio")
    if isinstance(audio, dict) and isinstance(audio.get("input"), dict) \
            and "turn_detection" in audio["input"]:
        return audio["input"]["turn_detection"] is not None
    if "turn_detection" in session:
        return session["turn_detection"] is not None
    return None


def response_output_format(response: Any) -> AudioFormat | None:
    """The output audio format a ``response`` object states (beta or GA), or None."""
    if not isinstance(response, dict):
        return None
    audio = response.get("audio")
    if isinstance(audio, dict) and isinstance(audio.get("output"), dict):
        fmt = parse_audio_format(audio["output"].get("format"))
        if fmt is not None:
            return fmt
    return parse_audio_format(response.get("output_audio_format"))


def item_input_audio(item: Any) -> list[Any]:
    """The ``audio`` values of a user message item's ``input_audio`` parts (those present)."""
    if not isinstance(item, dict) or not isinstance(item.get("content"), list):
        return []
    return [part["audio"] for part in item["content"]
            if isinstance(part, dict) and part.get("type") == INPUT_AUDIO_PART
            and part.get("audio") is not None]


def error_code(event: Mapping[str, Any]) -> str | None:
    """``error.code`` of an ``error`` event, or None."""
    err = event.get("error")
    code = err.get("code") if isinstance(err, dict) else None
    return code if isinstance(code, str) else None


_APPEND_PREFIXES = tuple(
    json.dumps({"type": INPUT_AUDIO_APPEND, "audio": ""}, separators=seps)[:-2].encode()
    for seps in ((", ", ": "), (",", ":")))
_CONTENT_INDEX_RE = re.compile(rb'"content_index"\s*:\s*(\d{1,9})\s*[,}]')


def _flat_string_value(data: bytes, key: bytes) -> bytes | None:
    """The raw string value of top-level ``key`` (quoted) in a JSON object frame, found
    without decoding it; None unless the frame is the simple shape (one object, the key
    once, an unescaped string value)."""
    at = data.find(key)
    if at < 0:
        return None
    colon = data.find(b":", at + len(key))
    start = data.find(b'"', colon + 1)
    end = data.find(b'"', start + 1)
    if colon < 0 or start < 0 or end < 0 or data[at + len(key):start].strip(b" \t\r\n:") \
            or data.find(b"\\", start, end) >= 0 or data.count(b"{", 0, at) != 1 \
            or data.find(b"{", end) >= 0 or data.find(key, end) >= 0:
        return None  # escapes in the value, or nesting / repeated keys: decode the JSON
    return data[start + 1:end]


def append_audio_b64(data: bytes) -> bytes | None:
    """The base64 ``audio`` of a flat ``input_audio_buffer.append`` frame, found without
    decoding the JSON (the hot path of audio extraction).

    For frames already known to parse as an append. Returns None unless the frame is the
    simple shape (one object, one ``"audio"`` key, an unescaped string value); decode the
    JSON then. The value is not checked: base64-decode it strictly.
    """
    for prefix in _APPEND_PREFIXES:  # how the OpenAI SDKs serialise an append
        if data.startswith(prefix) and data.endswith(b'"}'):
            start, end = len(prefix), len(data) - 2
            if data.find(b'"', start, end) < 0 and data.find(b"\\", start, end) < 0:
                return data[start:end]
    return _flat_string_value(data, b'"audio"')


def audio_delta_b64(data: bytes) -> tuple[bytes, int] | None:
    """The base64 ``delta`` and the ``content_index`` (0 when absent) of a flat audio
    delta frame, without decoding the JSON; None when the frame is not that simple shape.
    For frames already known to parse as an audio delta."""
    b64 = _flat_string_value(data, b'"delta"')
    if b64 is None:
        return None
    at = data.find(b'"content_index"')
    if at < 0:
        return b64, 0
    match = _CONTENT_INDEX_RE.match(data, at)
    if match is None or data.find(b'"content_index"', match.end()) >= 0:
        return None
    return b64, int(match.group(1))


# --------------------------------------------------------------------------- usage, redaction (export)

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
