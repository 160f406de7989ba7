"""Streaming sample-rate conversion, and chunk streams that remember which output frames
came from which input chunk.

The resampler is a centred windowed-sinc (Kaiser) polyphase filter for any rational ratio:
no delay, bounded memory, and a finite input of ``n`` samples always gives exactly
``ceil(n * rate_out / rate_in)`` output frames, so placements can be computed before the
filter has produced them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from math import gcd
from typing import Generic, TypeVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

T = TypeVar("T")

HALF_TAPS = 16
"""Filter half-width in zero crossings of the narrower band (32 taps per phase)."""
ROLLOFF = 0.94
"""Pass band edge as a fraction of the lower Nyquist frequency."""
KAISER_BETA = 8.6
_BATCH = 1 << 15


def to_int16(values: np.ndarray) -> np.ndarray:
    """Round and clip float samples to int16."""
    return np.clip(np.rint(values), -32768, 32767).astype(np.int16)


def out_frames(n_in: int, rate_in: int, rate_out: int) -> int:
    """Frames a stream of ``n_in`` input samples becomes: ``ceil(n_in * out / in)``."""
    return -(-n_in * rate_out // rate_in)


class Resampler:
    """Converts an int16 stream from ``rate_in`` to ``rate_out`` chunk by chunk."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        g = gcd(rate_in, rate_out)
        self.up, self.down = rate_out // g, rate_in // g
        stretch = max(1.0, self.down / self.up)
        self._taps_half = int(np.ceil(HALF_TAPS * stretch))
        cutoff = 0.5 * ROLLOFF / stretch  # cycles per input sample
        offsets = np.arange(-self._taps_half + 1, self._taps_half + 1, dtype=np.float64)
        t = offsets[None, :] - np.arange(self.up, dtype=np.float64)[:, None] / self.up
        x = np.clip(t / (self._taps_half + 1), -1.0, 1.0)
        window = np.i0(KAISER_BETA * np.sqrt(1.0 - x * x)) / np.i0(KAISER_BETA)
        kernel = 2 * cutoff * np.sinc(2 * cutoff * t) * window
        kernel /= kernel.sum(axis=1, keepdims=True)  # unit gain at DC in every phase
        self._kernel = kernel.astype(np.float32)  # (phases, taps)
        self._buf = np.zeros(self._taps_half - 1, dtype=np.float32)
        self._buf0 = -(self._taps_half - 1)  # absolute input index of _buf[0]
        self._n_in = 0
        self._next = 0  # next output index

    @property
    def total_out(self) -> int:
        """Output frames the input so far will give once flushed."""
        return -(-self._n_in * self.up // self.down)

    def feed(self, samples: np.ndarray) -> np.ndarray:
        """Add input samples; returns the output frames that are now complete."""
        if samples.size:
            self._buf = np.concatenate((self._buf, samples.astype(np.float32)))
            self._n_in += samples.size
        # output j needs input up to floor(j * down / up) + taps_half
        last_base = self._n_in - 1 - self._taps_half
        end = -(-(last_base + 1) * self.up // self.down) if last_base >= 0 else 0
        return self._run(max(end, self._next))

    def flush(self) -> np.ndarray:
        """The remaining output frames (the input's end padded with silence)."""
        self._buf = np.concatenate((self._buf, np.zeros(self._taps_half, dtype=np.float32)))
        return self._run(self.total_out)

    def _run(self, end: int) -> np.ndarray:
        start = self._next
        if end <= start:
            return np.zeros(0, dtype=np.int16)
        out = np.empty(end - start, dtype=np.float32)
        taps = self._kernel.shape[1]
        windows = sliding_window_view(self._buf, taps)
        for lo in range(start, end, _BATCH):
            hi = min(end, lo + _BATCH)
            for first in range(lo, min(hi, lo + self.up)):
                count = (hi - first + self.up - 1) // self.up
                phase = (first * self.down) % self.up
                row = (first * self.down) // self.up - self._taps_half + 1 - self._buf0
                rows = windows[row: row + self.down * (count - 1) + 1: self.down]
                out[first - start: hi - start: self.up] = rows @ self._kernel[phase]
        self._next = end
        keep_from = (end * self.down) // self.up - self._taps_half + 1 - self._buf0
        if keep_from > 0:
            self._buf = self._buf[keep_from:].copy()
            self._buf0 += keep_from
        return to_int16(out)


@dataclass(slots=True)
class Piece(Generic[T]):
    """Output frames of one input chunk: ``frames`` start ``offset`` frames into it."""

    tag: T
    offset: int
    frames: np.ndarray


class ChunkStream(Generic[T]):
    """Chunks at any rate in, one rate out, each output frame traced back to its chunk.

    ``feed`` says at once how many output frames a chunk will occupy, so a caller can decide
    where they go; the frames themselves come out as ``Piece``s, possibly a little later
    (the filter looks ahead) and always in order. A change of input rate flushes the filter.
    """

    def __init__(self, rate_out: int) -> None:
        self.rate_out = rate_out
        self._rate_in: int | None = None
        self._resampler: Resampler | None = None
        self._seg_in = 0  # input samples in the current segment
        self._seg_out0 = 0  # output index where the current segment started
        self._allotted = 0  # output frames promised to chunks so far
        self._emitted = 0  # output frames produced so far
        self._anchors: deque[tuple[int, int, T]] = deque()  # (start, frames, tag)

    def passes(self, rate_in: int) -> bool:
        """True when a chunk at ``rate_in`` would come straight back (no filter involved):
        the caller may then use the samples as they are and skip ``feed``."""
        return rate_in == self.rate_out and self._resampler is None

    def frames_for(self, n: int, rate_in: int) -> int:
        """Output frames a chunk of ``n`` samples at ``rate_in`` would occupy if fed now."""
        if rate_in == self.rate_out:
            return n
        done = self._seg_in if rate_in == self._rate_in else 0
        return (out_frames(done + n, rate_in, self.rate_out)
                - out_frames(done, rate_in, self.rate_out))

    def feed(self, samples: np.ndarray, rate_in: int, tag: T) -> tuple[int, list[Piece[T]]]:
        """Add one chunk; returns its length in output frames and the pieces now ready."""
        pieces: list[Piece[T]] = []
        if rate_in != self._rate_in:
            pieces.extend(self._end_segment())
            self._rate_in = rate_in
            self._resampler = None if rate_in == self.rate_out else Resampler(
                rate_in, self.rate_out)
        if self._resampler is None:
            n_out = samples.size
            self._allotted += n_out
            if n_out:
                self._emitted += n_out
                pieces.append(Piece(tag, 0, samples))
            return n_out, pieces
        before = self._seg_out0 + out_frames(self._seg_in, rate_in, self.rate_out)
        self._seg_in += samples.size
        after = self._seg_out0 + out_frames(self._seg_in, rate_in, self.rate_out)
        self._anchors.append((before, after - before, tag))
        self._allotted = after
        pieces.extend(self._split(self._resampler.feed(samples)))
        return after - before, pieces

    def flush(self) -> list[Piece[T]]:
        """Everything still held by the filter."""
        pieces = self._end_segment()
        self._rate_in = None
        return pieces

    def pending(self) -> tuple[T, int] | None:
        """The chunk and offset of the oldest frame promised but not yet produced."""
        for start, n, tag in self._anchors:
            if start + n > self._emitted:
                return tag, max(0, self._emitted - start)
        return None

    def _end_segment(self) -> list[Piece[T]]:
        pieces: list[Piece[T]] = []
        if self._resampler is not None:
            pieces = list(self._split(self._resampler.flush()))
        self._resampler = None
        self._seg_in = 0
        self._seg_out0 = self._allotted
        self._emitted = self._allotted
        self._anchors.clear()
        return pieces

    def _split(self, frames: np.ndarray) -> Iterator[Piece[T]]:
        pos, end = self._emitted, self._emitted + frames.size
        anchors = self._anchors
        while anchors and pos < end:
            start, n, tag = anchors[0]
            stop = min(end, start + n)
            if stop > pos:
                yield Piece(tag, pos - start, frames[pos - self._emitted: stop - self._emitted])
                pos = stop
            if start + n <= pos:
                anchors.popleft()
        while anchors and anchors[0][1] == 0:
            anchors.popleft()
        self._emitted = end
