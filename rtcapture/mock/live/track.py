"""The Live output track: one continuous stream of audio on the session timeline, silence
except where speech or a fixture is scheduled; cut short when the user talks over it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from ...codec import encode_samples
from ...protocol import AudioFormat


@dataclass
class Segment:
    """Audio placed on the timeline from ``start_ms``, with its words (absolute ms)."""

    start_ms: float
    samples: np.ndarray
    words: list[tuple[str, float, float]] = field(default_factory=list)
    on_done: Callable[[], Awaitable[None]] | None = None
    """Called once the track has played the segment to its end (not when cut)."""

    def end_ms(self, rate: int) -> float:
        return self.start_ms + self.samples.size * 1000 / rate


@dataclass
class Chunk:
    """One output delta and the transcript fragments that start within it."""

    audio: bytes
    words: list[tuple[str, float, float]]
    finished: list[Segment]
    samples: np.ndarray
    """The chunk's samples (what ``audio`` encodes in the session format)."""
    start_ms: int
    """Where the chunk starts on the session timeline (inclusive)."""
    end_ms: int
    """Where it ends (exclusive)."""


class OutputTrack:
    """Emits ``chunk_ms`` deltas up to the timeline position it is told about."""

    def __init__(self, fmt: AudioFormat, chunk_ms: int) -> None:
        self.fmt = fmt
        self.chunk = max(1, fmt.rate * chunk_ms // 1000)
        self.emitted = 0
        """Samples emitted so far (the track's own clock)."""
        self.segments: list[Segment] = []

    @property
    def emitted_ms(self) -> float:
        return self.emitted * 1000 / self.fmt.rate

    @property
    def busy_until_ms(self) -> float:
        """Where the last scheduled audio ends (the emitted position when idle)."""
        return max([self.emitted_ms, *(s.end_ms(self.fmt.rate) for s in self.segments)])

    def speaking_at(self, ms: float) -> bool:
        """True while scheduled audio covers ``ms``."""
        return any(s.start_ms <= ms < s.end_ms(self.fmt.rate) for s in self.segments)

    def schedule(self, segment: Segment) -> None:
        """Place a segment; it never starts before what was already emitted."""
        segment.start_ms = max(segment.start_ms, self.emitted_ms)
        self.segments.append(segment)

    def cut(self, at_ms: float) -> int:
        """Stop all speech at ``at_ms`` (a barge-in); returns how many words were dropped."""
        dropped = 0
        kept: list[Segment] = []
        for seg in self.segments:
            keep = max(0, int((at_ms - seg.start_ms) * self.fmt.rate / 1000))
            if keep <= 0:
                dropped += len(seg.words)
                continue
            if keep < seg.samples.size:
                seg.samples = seg.samples[:keep]
                before = len(seg.words)
                seg.words = [w for w in seg.words if w[1] < at_ms]
                dropped += before - len(seg.words)
                seg.on_done = None
            kept.append(seg)
        self.segments = kept
        return dropped

    def advance(self, until_ms: float) -> list[Chunk]:
        """Every whole chunk up to ``until_ms`` on the timeline, in order."""
        out: list[Chunk] = []
        limit = int(until_ms * self.fmt.rate / 1000)
        rate = self.fmt.rate
        while self.emitted + self.chunk <= limit:
            lo, hi = self.emitted, self.emitted + self.chunk
            buf = np.zeros(self.chunk, dtype=np.int16)
            words: list[tuple[str, float, float]] = []
            finished: list[Segment] = []
            for seg in list(self.segments):
                start = int(round(seg.start_ms * rate / 1000))
                a, b = max(lo, start), min(hi, start + seg.samples.size)
                if a < b:
                    buf[a - lo:b - lo] = seg.samples[a - start:b - start]
                words.extend(w for w in seg.words if lo <= w[1] * rate / 1000 < hi)
                if start + seg.samples.size <= hi:
                    finished.append(seg)
                    self.segments.remove(seg)
            self.emitted = hi
            out.append(Chunk(encode_samples(buf, self.fmt), words, finished, buf,
                             lo * 1000 // rate, hi * 1000 // rate))
        return out
