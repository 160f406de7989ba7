"""G.711 (µ-law, A-law) and PCM16 sample codecs, vectorised with numpy, and the one
decoder of an event's base64 audio chunk to samples (:func:`decode_chunk`).

Pure functions, no I/O; audio extraction, the mock and the demo use them. The G.711 tables follow the
classic reference implementation (Sun's ``g711.c``, also used by ``audioop``), so encoding
and decoding match what telephony bridges produce byte for byte.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .protocol import AudioFormat, Encoding, decode_audio_b64

PCM16_LE = np.dtype("<i2")
LITTLE_ENDIAN = np.dtype(np.int16) == PCM16_LE
"""On little-endian machines PCM16 bytes are int16 samples as they are (no copy)."""

_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)
_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159


def _ulaw_decode_table() -> np.ndarray:
    u = (~np.arange(256, dtype=np.int32)) & 0xFF
    t = ((u & 0x0F) << 3) + _ULAW_BIAS
    t = t << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _ulaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    pcm = np.minimum(np.abs(pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = np.searchsorted(_SEG_UEND, pcm, side="left")
    uval = (seg << 4) | ((pcm >> (seg + 1)) & 0x0F)
    out = np.where(seg >= 8, 0x7F ^ mask, uval ^ mask)
    return out.astype(np.uint8)


def _alaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    pcm = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = np.searchsorted(_SEG_AEND, pcm, side="left")
    low = np.where(seg < 2, (pcm >> 1) & 0x0F, (pcm >> np.maximum(seg, 1)) & 0x0F)
    aval = (seg << 4) | low
    out = np.where(seg >= 8, 0x7F ^ mask, aval ^ mask)
    return out.astype(np.uint8)


_ULAW_DECODE = _ulaw_decode_table()
_ALAW_DECODE = _alaw_decode_table()
_ULAW_ENCODE = _ulaw_encode_table()  # indexed by sample + 32768
_ALAW_ENCODE = _alaw_encode_table()


def _as_int16(samples: np.ndarray | bytes) -> np.ndarray:
    if isinstance(samples, bytes | bytearray | memoryview):
        return pcm16_decode(bytes(samples))
    return np.asarray(samples, dtype=np.int16)


def ulaw_decode(data: bytes) -> np.ndarray:
    """µ-law bytes to int16 samples (one sample per byte)."""
    return _ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def alaw_decode(data: bytes) -> np.ndarray:
    """A-law bytes to int16 samples (one sample per byte)."""
    return _ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def ulaw_encode(samples: np.ndarray | bytes) -> bytes:
    """int16 samples (or PCM16 little-endian bytes) to µ-law bytes."""
    pcm = _as_int16(samples).astype(np.int32) + 32768
    return _ULAW_ENCODE[pcm].tobytes()


def alaw_encode(samples: np.ndarray | bytes) -> bytes:
    """int16 samples (or PCM16 little-endian bytes) to A-law bytes."""
    pcm = _as_int16(samples).astype(np.int32) + 32768
    return _ALAW_ENCODE[pcm].tobytes()


def pcm16_decode(data: bytes) -> np.ndarray:
    """PCM16 little-endian bytes to int16 samples (on a little-endian machine, a read-only
    view of ``data``); a trailing odd byte is ignored."""
    samples = np.frombuffer(data, dtype=PCM16_LE, count=len(data) // 2)
    return samples if LITTLE_ENDIAN else samples.astype(np.int16)


def pcm16_encode(samples: np.ndarray) -> bytes:
    """int16 samples to PCM16 little-endian bytes."""
    return np.asarray(samples, dtype=np.int16).astype("<i2").tobytes()


def decode_samples(data: bytes, fmt: AudioFormat) -> np.ndarray:
    """Raw audio bytes of a Realtime format to int16 samples at the format's rate."""
    if fmt.encoding is Encoding.ULAW:
        return ulaw_decode(data)
    if fmt.encoding is Encoding.ALAW:
        return alaw_decode(data)
    return pcm16_decode(data)


def decode_chunk(b64: Any, fmt: AudioFormat) -> np.ndarray | str:
    """A base64 audio chunk (str from an event, or bytes a sniffer found) as int16 samples
    at ``fmt.rate``, or why it is invalid."""
    if not isinstance(b64, (str, bytes)):
        return "audio missing or not a string"
    raw = decode_audio_b64(b64)
    if raw is None:
        return "invalid base64"
    if fmt.encoding is Encoding.PCM16 and len(raw) % 2:
        return f"odd length ({len(raw)} bytes) for 16-bit PCM"
    return decode_samples(raw, fmt)


def decode_pcm16(b64: bytes) -> np.ndarray | str:
    """:func:`decode_chunk` for PCM16 bytes on a little-endian machine (the hot path of
    audio extraction: no dispatch on the format)."""
    raw = decode_audio_b64(b64)
    if raw is None:
        return "invalid base64"
    if len(raw) & 1:
        return f"odd length ({len(raw)} bytes) for 16-bit PCM"
    return np.frombuffer(raw, dtype=PCM16_LE)


def encode_samples(samples: np.ndarray, fmt: AudioFormat) -> bytes:
    """int16 samples (at the format's rate) to raw audio bytes of a Realtime format."""
    if fmt.encoding is Encoding.ULAW:
        return ulaw_encode(samples)
    if fmt.encoding is Encoding.ALAW:
        return alaw_encode(samples)
    return pcm16_encode(samples)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Linear-interpolation resampling of int16 samples (good enough for previews)."""
    samples = np.asarray(samples, dtype=np.int16)
    if from_rate == to_rate or samples.size == 0:
        return samples.copy()
    n_out = int(round(samples.size * to_rate / from_rate))
    positions = np.arange(n_out, dtype=np.float64) * (from_rate / to_rate)
    out = np.interp(positions, np.arange(samples.size, dtype=np.float64),
                    samples.astype(np.float64))
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)
