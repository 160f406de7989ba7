"""Audio chunks as samples: strict base64, then PCM16 / µ-law / A-law to int16."""

from __future__ import annotations

import binascii
from typing import Any

import numpy as np

from ..codec import alaw_decode, ulaw_decode
from ..protocol import AudioFormat, Encoding

PCM16_LE = np.dtype("<i2")
LITTLE_ENDIAN = np.dtype(np.int16) == PCM16_LE
"""On little-endian machines PCM16 bytes are int16 samples as they are (no copy)."""


def decode_chunk(b64: Any, fmt: AudioFormat) -> np.ndarray | str:
    """A base64 chunk (str, or bytes from a fast path) as int16 samples at ``fmt.rate``,
    or why it is invalid."""
    if isinstance(b64, str):
        try:
            b64 = b64.encode("ascii")
        except UnicodeEncodeError:
            return "invalid base64"
    elif not isinstance(b64, bytes):
        return "audio missing or not a string"
    try:
        raw = binascii.a2b_base64(b64, strict_mode=True)
    except (binascii.Error, ValueError):
        return "invalid base64"
    if fmt.encoding is Encoding.ULAW:
        return ulaw_decode(raw)
    if fmt.encoding is Encoding.ALAW:
        return alaw_decode(raw)
    if len(raw) % 2:
        return f"odd length ({len(raw)} bytes) for 16-bit PCM"
    samples = np.frombuffer(raw, dtype=PCM16_LE)
    return samples if LITTLE_ENDIAN else samples.astype(np.int16)


def decode_pcm16(b64: bytes) -> np.ndarray | str:
    """``decode_chunk`` for PCM16 on a little-endian machine, without the checks of type."""
    try:
        raw = binascii.a2b_base64(b64, strict_mode=True)
    except (binascii.Error, ValueError):
        return "invalid base64"
    if len(raw) & 1:
        return f"odd length ({len(raw)} bytes) for 16-bit PCM"
    return np.frombuffer(raw, dtype=PCM16_LE)
