"""The input audio buffer: appended bytes on the session's audio clock, and server VAD.

The clock counts ms of audio appended since the session started (what
``audio_start_ms`` / ``audio_end_ms`` use). Commits and clears remove audio from the buffer
but never rewind the clock.
"""

from __future__ import annotations

from typing import Any

from ..codec import decode_samples
from ..protocol import PCM16, AudioFormat
from .vad import EnergyVad, VadEvent, VadSettings

MIN_COMMIT_MS = 100


class InputAudio:
    """Buffered input audio plus the detector watching it."""

    def __init__(self) -> None:
        self.fmt: AudioFormat = PCM16
        self.buffer = bytearray()
        self.buffer_start_ms = 0.0
        self.clock_ms = 0.0
        self.vad: EnergyVad | None = None
        self._vad_key: tuple[Any, ...] | None = None
        self._carry = b""
        self.speech_item_id: str | None = None
        """Id promised in ``speech_started`` for the user item being spoken."""
        self.last_activity_ms = 0.0

    @property
    def buffered_ms(self) -> float:
        return self.fmt.ms_of(len(self.buffer))

    def configure(self, fmt: AudioFormat, turn_detection: dict[str, Any] | None) -> None:
        """Follow a session change: new format drops the buffer; new VAD settings restart it."""
        if fmt != self.fmt:
            self.fmt = fmt
            self.buffer.clear()
            self._carry = b""
            self.buffer_start_ms = self.clock_ms
            self._vad_key = None
        key = None if turn_detection is None else (fmt, tuple(sorted(
            (k, str(v)) for k, v in turn_detection.items())))
        if key != self._vad_key:
            self._vad_key = key
            self.speech_item_id = None
            self.vad = None if turn_detection is None else EnergyVad(
                VadSettings.from_turn_detection(turn_detection), fmt.rate,
                base_ms=int(self.clock_ms))

    def append(self, data: bytes) -> list[VadEvent]:
        """Add audio; returns what the VAD saw in it."""
        if not data:
            return []
        self.buffer.extend(data)
        self.clock_ms += self.fmt.ms_of(len(data))
        if self.vad is None:
            return []
        whole = self._carry + data
        usable = len(whole) - len(whole) % self.fmt.bytes_per_sample
        self._carry = whole[usable:]
        return self.vad.feed(decode_samples(whole[:usable], self.fmt),
                             floor_ms=int(round(self.buffer_start_ms)))

    def _offset(self, ms: float) -> int:
        n = int(round((ms - self.buffer_start_ms) * self.fmt.bytes_per_ms))
        n -= n % self.fmt.bytes_per_sample
        return min(max(n, 0), len(self.buffer))

    def drop_before(self, ms: float) -> None:
        """Forget buffered audio older than ``ms`` (speech start minus padding)."""
        n = self._offset(ms)
        del self.buffer[:n]
        self.buffer_start_ms += self.fmt.ms_of(n)

    def take_until(self, ms: float) -> bytes:
        """Remove and return the buffered audio up to ``ms``."""
        n = self._offset(ms)
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        self.buffer_start_ms += self.fmt.ms_of(n)
        return data

    def take_all(self) -> bytes:
        """Remove and return everything buffered (a manual commit)."""
        data = bytes(self.buffer)
        self.buffer.clear()
        self.buffer_start_ms = self.clock_ms
        self._reset_vad()
        return data

    def clear(self) -> None:
        """Drop the buffer (``input_audio_buffer.clear``)."""
        self.take_all()

    def _reset_vad(self) -> None:
        if self.vad is not None:
            self.vad.reset()
        self.speech_item_id = None
