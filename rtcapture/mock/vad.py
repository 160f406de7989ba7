"""Energy-based voice activity detection on the input audio clock.

The real service uses a neural VAD whose ``threshold`` is a probability; here it maps to
a level (``threshold_dbfs``): 0.0 -> -60 dBFS, 0.5 -> -35 dBFS, 1.0 -> -10 dBFS. Audio is
cut into 10 ms frames; a frame is loud when its RMS is above that level. Speech starts
after ``MIN_SPEECH_MS`` of consecutive loud frames; it stops once ``silence_duration_ms``
of quiet frames followed it. Times are ms of audio appended since the session started.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

FRAME_MS = 10
MIN_SPEECH_MS = 30
SEMANTIC_SILENCE_MS = {"low": 1200, "medium": 700, "auto": 700, "high": 300}
"""``semantic_vad`` has no silence setting; eagerness picks one (an [unverified] choice)."""


def threshold_dbfs(threshold: float) -> float:
    """The frame level (dBFS RMS) that a ``threshold`` in 0..1 stands for."""
    return -60.0 + 50.0 * min(max(threshold, 0.0), 1.0)


@dataclass(frozen=True, slots=True)
class VadSettings:
    """The parts of ``turn_detection`` the detector needs."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 200

    @classmethod
    def from_turn_detection(cls, td: dict[str, Any]) -> VadSettings:
        """Settings from a (complete) turn_detection object of either VAD type."""
        if td.get("type") == "semantic_vad":
            eagerness = td.get("eagerness") or "auto"
            return cls(0.5, 300, SEMANTIC_SILENCE_MS.get(eagerness, 700))
        return cls(float(td.get("threshold", 0.5)), int(td.get("prefix_padding_ms", 300)),
                   int(td.get("silence_duration_ms", 200)))


@dataclass(frozen=True, slots=True)
class VadEvent:
    """Speech started (``audio_start_ms``) or stopped (``audio_end_ms``)."""

    kind: str  # "started" | "stopped"
    ms: int


class EnergyVad:
    """Feeds on int16 samples; reports speech start and stop on the audio clock."""

    def __init__(self, settings: VadSettings, rate: int, base_ms: int = 0) -> None:
        self.settings = settings
        self.base_ms = base_ms
        self.rate = rate
        self.frame = max(1, rate * FRAME_MS // 1000)
        self._level = 32768.0 * 10 ** (threshold_dbfs(settings.threshold) / 20)
        self._pending = np.zeros(0, dtype=np.int16)
        self._frames_done = 0
        self.in_speech = False
        self._loud_run = 0
        self._quiet_run = 0
        self._onset_frame = 0

    @property
    def clock_ms(self) -> int:
        """The audio clock after the last whole frame analysed."""
        return self.base_ms + self._frames_done * FRAME_MS

    def reset(self) -> None:
        """Forget any speech in progress (buffer cleared or committed by hand)."""
        self.in_speech = False
        self._loud_run = 0
        self._quiet_run = 0

    def feed(self, samples: np.ndarray, floor_ms: int = 0) -> list[VadEvent]:
        """Analyse more audio; ``floor_ms`` is the earliest ms still in the input buffer."""
        data = np.concatenate([self._pending, np.asarray(samples, dtype=np.int16)])
        n_frames = data.size // self.frame
        self._pending = data[n_frames * self.frame:]
        if n_frames == 0:
            return []
        frames = data[: n_frames * self.frame].astype(np.float64).reshape(n_frames, self.frame)
        rms = np.sqrt(np.mean(frames * frames, axis=1))
        loud = rms > self._level
        events: list[VadEvent] = []
        min_run = max(1, math.ceil(MIN_SPEECH_MS / FRAME_MS))
        silence_frames = max(1, math.ceil(self.settings.silence_duration_ms / FRAME_MS))
        for is_loud in loud.tolist():
            index = self._frames_done
            self._frames_done += 1
            if not self.in_speech:
                if is_loud:
                    if self._loud_run == 0:
                        self._onset_frame = index
                    self._loud_run += 1
                    if self._loud_run >= min_run:
                        self.in_speech = True
                        self._quiet_run = 0
                        start = (self.base_ms + self._onset_frame * FRAME_MS
                                 - self.settings.prefix_padding_ms)
                        events.append(VadEvent("started", max(start, floor_ms, 0)))
                else:
                    self._loud_run = 0
            elif is_loud:
                self._quiet_run = 0
            else:
                self._quiet_run += 1
                if self._quiet_run >= silence_frames:
                    self.in_speech = False
                    self._loud_run = 0
                    self._quiet_run = 0
                    events.append(VadEvent("stopped", self.clock_ms))
        return events
