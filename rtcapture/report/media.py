"""The page's audio: waveform envelopes and the conversation as heard, encoded compactly.

``audio.extract_audio`` writes ``conversation.wav`` (left user, right assistant as heard,
cut at truncations) into a scratch folder; this module streams it back block by block
(bounded memory for an hour-long session) into per-side peak envelopes, and into one Ogg
Vorbis stream (mono, 16 kHz, ~30 kbit/s, through libsndfile) that Chromium plays from a
``data:`` URL; Ogg's granule positions keep seeking exact. Why Vorbis and not Opus or
MP3: ``docs/report.md``.
"""

from __future__ import annotations

import base64
import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio.extract import extract_audio
from ..audio.mixer import Placement
from ..audio.resample import Resampler
from ..audio.tracks import CONVERSATION_WAV
from ..store import Store

ENVELOPE_HZ = 100
"""Envelope buckets per second (one per 10 ms)."""
PLAY_RATE = 16_000
"""The embedded audio's sample rate (speech needs no more; the API sends 24 kHz)."""
VORBIS_LEVEL = 0.9
"""libsndfile's compression level for Vorbis (0 best quality .. 1 smallest): ~30 kbit/s."""
BLOCK_FRAMES = 1 << 16
AUDIO_MIME = "audio/ogg"


@dataclass
class Media:
    """What the page shows and plays of a session's audio."""

    duration_ms: float = 0.0
    """Length of ``conversation.wav``."""
    user_envelope: bytes = b""
    """Peak per bucket of the user channel, 0-255."""
    assistant_envelope: bytes = b""
    """Peak per bucket of the assistant channel as heard, 0-255."""
    placements: list[Placement] = field(default_factory=list)
    audio: bytes | None = None
    """The conversation as heard, Ogg Vorbis (None with ``--no-audio`` or without audio)."""

    def data_url(self) -> str | None:
        """The audio as a ``data:`` URL, or None."""
        if self.audio is None:
            return None
        return f"data:{AUDIO_MIME};base64," + base64.b64encode(self.audio).decode("ascii")


def _peaks(samples: np.ndarray, per_bucket: int, carry: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Peak magnitude (0-255) per bucket of ``per_bucket`` frames; returns the leftover."""
    data = np.concatenate((carry, samples)) if carry.size else samples
    whole = data.shape[0] // per_bucket * per_bucket
    if not whole:
        return b"", data
    blocks = np.abs(data[:whole].astype(np.int32)).reshape(-1, per_bucket).max(axis=1)
    return np.minimum(blocks * 255 // 32768 + (blocks > 0), 255).astype(np.uint8).tobytes(), \
        data[whole:]


def _finish_peaks(carry: np.ndarray) -> bytes:
    if not carry.size:
        return b""
    peak = int(np.abs(carry.astype(np.int32)).max())
    return bytes([min(255, peak * 255 // 32768 + (peak > 0))])


def read_media(store: Store, session_id: str, *, with_audio: bool = True) -> Media:
    """Extract a session's audio and turn it into envelopes (and Vorbis unless told not to)."""
    with tempfile.TemporaryDirectory(prefix="rtcapture-report-") as tmp:
        report = extract_audio(store, session_id, Path(tmp))
        media = Media(placements=report.placements)
        wav = Path(tmp) / CONVERSATION_WAV
        if not wav.exists():
            return media
        _read_conversation(wav, media, with_audio)
    return media


def _read_conversation(wav: Path, media: Media, with_audio: bool) -> None:
    with sf.SoundFile(wav) as src:
        rate = src.samplerate
        media.duration_ms = src.frames * 1000 / rate
        per_bucket = max(1, rate // ENVELOPE_HZ)
        user, asst = bytearray(), bytearray()
        carry_u = carry_a = np.zeros(0, dtype=np.int16)
        out_rate = min(rate, PLAY_RATE)
        resampler = Resampler(rate, out_rate) if out_rate != rate else None
        buf = io.BytesIO()
        enc = sf.SoundFile(buf, "w", out_rate, 1, format="OGG", subtype="VORBIS",
                           compression_level=VORBIS_LEVEL) if with_audio else None
        try:
            for block in src.blocks(BLOCK_FRAMES, dtype="int16", always_2d=True):
                left, right = block[:, 0], block[:, 1]
                peaks, carry_u = _peaks(left, per_bucket, carry_u)
                user += peaks
                peaks, carry_a = _peaks(right, per_bucket, carry_a)
                asst += peaks
                if enc is not None:
                    mono = ((left.astype(np.int32) + right) // 2).astype(np.int16)
                    enc.write(resampler.feed(mono) if resampler else mono)
            user += _finish_peaks(carry_u)
            asst += _finish_peaks(carry_a)
            if enc is not None and resampler is not None:
                enc.write(resampler.flush())
        finally:
            if enc is not None:
                enc.close()
        media.user_envelope, media.assistant_envelope = bytes(user), bytes(asst)
        if enc is not None:
            media.audio = buf.getvalue()
