"""Sniffing raw frames: the type and the audio of a JSON text frame found in its bytes,
without decoding the JSON (the hot paths: replay's server frames, audio extraction, the
export's ``payload`` column).

Every rule is conservative: it answers only for a frame whose layout proves the answer
(a real top-level member, an unescaped value) and otherwise returns None, so that the
caller decodes the JSON. A member name is real where its opening quote follows one of
``{ , space tab CR LF``: inside a string a quote is escaped, so it follows a backslash.
"""

from __future__ import annotations

import json
import re

from .audio import _audio_key
from .events import INPUT_AUDIO_APPEND
from .frames import ParsedFrame, parse_frame

_QUOTE, _SPACE, _BACKSLASH = 0x22, 0x20, 0x5C
_BEFORE_KEY = frozenset(b"{, \t\r\n")
_AFTER_STRING = frozenset(b",} \t\r\n")

APPEND_PREFIXES = tuple(
    json.dumps({"type": INPUT_AUDIO_APPEND, "audio": ""}, separators=seps)[:-2].encode()
    for seps in ((", ", ": "), (",", ":")))
"""How the OpenAI SDKs start an append: ``{"type": "input_audio_buffer.append", "audio": "``
(Python's default separators) and the compact form."""
AUDIO_KEY_TOKENS = {True: (b'"audio":"', b'"audio": "'), False: (b'"delta":"', b'"delta": "')}
"""The audio member's name and opening quote (compact, then spaced), for appends (True)
and deltas (False)."""

_TYPE_RE = re.compile(rb'"type"\s*:\s*"([^"\\]{1,120})"')
_TYPE_WINDOW = 256
_CONTENT_INDEX_RE = re.compile(rb'"content_index"\s*:\s*(\d{1,9})\s*[,}]')


def _is_key(data: bytes, at: int) -> bool:
    """Whether the quote at ``at`` opens a member name (not an escaped quote in a string)."""
    return at >= 1 and data[at - 1] in _BEFORE_KEY


def sniff_type(data: bytes) -> str | None:
    """The top-level ``type`` of a frame when it stands in its first 256 bytes before any
    nested object; None when the frame does not show it that plainly."""
    match = _TYPE_RE.search(data, 0, _TYPE_WINDOW)
    while match is not None and not _is_key(data, match.start()):
        match = _TYPE_RE.search(data, match.start() + 1, _TYPE_WINDOW)
    if match is None or b"{" in data[1:match.start()]:
        return None
    try:
        return match.group(1).decode()
    except UnicodeDecodeError:
        return None


def _flat_string_value(data: bytes, key: bytes) -> bytes | None:
    """The raw string value of top-level ``key`` (quoted) in a JSON object frame; None
    unless the frame is the simple shape (one object, the key once, an unescaped string
    value)."""
    at = data.find(key)
    if at < 0 or not _is_key(data, at):
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
    """The base64 ``audio`` of a flat ``input_audio_buffer.append`` frame.

    For frames already known to parse as an append. Returns None unless the frame is the
    simple shape (one object, one ``"audio"`` key, an unescaped string value); decode the
    JSON then. The value is not checked: base64-decode it strictly.
    """
    for prefix in APPEND_PREFIXES:
        if data.startswith(prefix) and data.endswith(b'"}'):
            start, end = len(prefix), len(data) - 2
            if data.find(b'"', start, end) < 0 and data.find(b"\\", start, end) < 0:
                return data[start:end]
    return _flat_string_value(data, b'"audio"')


def audio_delta_b64(data: bytes) -> tuple[bytes, int] | None:
    """The base64 ``delta`` and the ``content_index`` (0 when absent) of a flat audio
    delta frame; None when the frame is not that simple shape. For frames already known
    to parse as an audio delta."""
    b64 = _flat_string_value(data, b'"delta"')
    if b64 is None:
        return None
    at = data.find(b'"content_index"')
    if at < 0:
        return b64, 0
    match = _CONTENT_INDEX_RE.match(data, at)
    if match is None or not _is_key(data, at) \
            or data.find(b'"content_index"', match.end()) >= 0:
        return None
    return b64, int(match.group(1))


def b64_len(audio_bytes: int) -> int:
    """Length of the padded base64 text that decodes to ``audio_bytes`` bytes."""
    return 4 * ((audio_bytes + 2) // 3)


def _closes_string(frame: bytes, end: int) -> bool:
    """Whether ``end`` is an unescaped closing quote followed by what may end a value."""
    return end + 1 < len(frame) and frame[end] == _QUOTE and frame[end - 1] != _BACKSLASH \
        and frame[end + 1] in _AFTER_STRING


def audio_span(frame: bytes, is_append: bool, audio_bytes: int) -> tuple[int, int] | None:
    """Where the base64 audio of an append (``is_append``) or audio delta stands in its
    frame, given the decoded length the parsed event showed: ``frame[start:end]``.

    Three rules, tried in order; None when none proves the span (decode the JSON then):

    1. the audio is the object's last member (``…"delta":"<b64>"}``);
    2. an append's ``"audio"`` comes right after ``"type"`` (the SDKs' layout);
    3. the first ``"audio":`` / ``"delta":`` member, with no ``{`` before it but the
       frame's own, its value exactly that long.

    The raw value must be exactly ``b64_len(audio_bytes)`` long, so it carries no escapes.
    """
    n = len(frame)
    size = b64_len(audio_bytes)
    if frame.endswith(b'"}'):  # rule 1
        for key in AUDIO_KEY_TOKENS[is_append]:
            at = n - 2 - size - len(key)
            if _is_key(frame, at) and frame.startswith(key, at):
                return n - 2 - size, n - 2
    if is_append:  # rule 2
        for prefix in APPEND_PREFIXES:
            end = len(prefix) + size
            if frame.startswith(prefix) and _closes_string(frame, end):
                return len(prefix), end
    key = AUDIO_KEY_TOKENS[is_append][0][:-1]  # rule 3
    at = frame.find(key)
    if _is_key(frame, at) and frame.count(b"{", 0, at) == 1:  # not in a nested object
        start = at + len(key)
        if start < n and frame[start] == _SPACE:
            start += 1
        end = start + 1 + size
        if start < n and frame[start] == _QUOTE and _closes_string(frame, end):
            return start + 1, end
    return None


LARGE_FRAME = 1 << 20
"""What a large frame is, everywhere in the recording pipeline: the relay writes it from
its own buffer and records it without a copy, the sink queues it as slices of itself, the
writer's decoder frees its buffer first and stores it at once, and a text one is parsed by
:func:`parse_large_frame` when it can be. Also malloc's fixed mmap threshold."""
_VALUE_OPENS = re.compile(rb'\s*:\s*"')
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def parse_large_frame(data: bytes) -> tuple[ParsedFrame, int | None] | None:
    """Parse a large audio frame (an append or an audio delta) without decoding its audio:
    what :func:`parse_frame` would say, except that the event's audio member reads ``""``,
    and the audio's decoded length (None for a base64 text of a malformed length).

    Only the frame less its audio value is decoded: decoding 50 MB of JSON holds two more
    copies of it (the text, then the string value). None unless the audio member's name
    stands once in the frame and its value is plain base64 (nothing to unescape), and the
    rest decodes to an object holding it at the top level; parse the whole frame then.
    """
    key = _audio_key(sniff_type(data))
    if key is None:
        return None
    token = b'"' + key.encode() + b'"'
    at = data.find(token)
    opens = _VALUE_OPENS.match(data, at + len(token)) if at >= 0 else None
    if opens is None or not _is_key(data, at) or data.find(token, at + 1) >= 0:
        return None
    start = opens.end()
    end = data.find(b'"', start)
    if end < 0 or _BASE64_TEXT.fullmatch(data, start, end) is None:
        return None
    parsed = parse_frame(data[:start] + data[end:])
    if parsed.event is None or parsed.event.get(key) != "":
        return None
    size = end - start
    padding = data.count(b"=", max(start, end - 2), end)
    return parsed, None if size % 4 else size // 4 * 3 - padding
