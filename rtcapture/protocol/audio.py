"""Audio formats (beta names, GA objects) and the base64 audio events carry."""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .events import AUDIO_DELTA_TYPES, INPUT_AUDIO_APPEND, INPUT_AUDIO_PART
from .live import audio_key as live_audio_key


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
        name = value.get("type")
        fmt = _FORMAT_BY_NAME.get(name) if isinstance(name, str) else None
        if fmt is PCM16 and isinstance(value.get("rate"), int) and value["rate"] > 0:
            return AudioFormat(Encoding.PCM16, value["rate"])
        return fmt
    return None


def session_audio_formats(session: Any) -> tuple[AudioFormat | None, AudioFormat | None]:
    """(input, output) formats a session object sets, in any dialect; None where unset.

    A GPT-Live session has one ``audio.format`` for both directions."""
    if not isinstance(session, dict):
        return None, None
    fin = parse_audio_format(session.get("input_audio_format"))
    fout = parse_audio_format(session.get("output_audio_format"))
    audio = session.get("audio")
    if isinstance(audio, dict) and "format" in audio:
        fin = fout = parse_audio_format(audio.get("format"))
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
    """Strictly decode base64 audio: a string from an event, or the bytes a sniffer found
    in a frame. None if it is neither, or not valid base64 (a character outside the
    alphabet, white space, missing or misplaced padding, data after the padding)."""
    if not isinstance(b64, (str, bytes)):
        return None
    try:
        return binascii.a2b_base64(b64, strict_mode=True)
    except ValueError:  # binascii.Error, or a str that is not ASCII
        return None


def audio_payload(event: Mapping[str, Any]) -> str | None:
    """The base64 audio an event carries (input append, output delta), or None."""
    key = _audio_key(event.get("type"))
    value = event.get(key) if key is not None else None
    return value if isinstance(value, str) else None


def _audio_key(event_type: Any) -> str | None:
    if event_type == INPUT_AUDIO_APPEND:
        return "audio"
    if event_type in AUDIO_DELTA_TYPES:
        return "delta"
    return live_audio_key(event_type)


AUDIO_MARKER_PREFIX = "<audio "


def strip_audio(event: dict[str, Any]) -> dict[str, Any]:
    """A copy of an event with base64 audio replaced by a short marker."""
    key = _audio_key(event.get("type"))
    b64 = audio_payload(event)
    if b64 is None or key is None:
        return event
    out = dict(event)
    n = b64_decoded_len(b64)
    out[key] = f"{AUDIO_MARKER_PREFIX}{n if n is not None else '?'} bytes>"
    return out



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


