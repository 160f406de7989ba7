"""The conversation track: one stereo time line, user left, assistant right as played.

Chunks are *queued* when their event is read (where they go is decided at once) and
*placed* when their samples come out of the resampler. Only a bounded window is held in
memory: blocks behind ``now - HOLD_S`` are written out, since no later event can change
them; a truncation may still silence assistant audio inside the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .wav import WavWriter, WrittenFile

LEFT, RIGHT = 0, 1
BLOCK_FRAMES = 1 << 15
HOLD_S = 5.0
"""How far behind the newest event the track stays open, for late truncations."""
MAX_AHEAD_S = 300.0
"""Most audio held queued ahead of the newest event (a client or server far faster than
real time); beyond it the oldest part is written out early."""
SPARE_BLOCKS = 8
JOIN_S = 0.005
"""A chunk arriving this close after the previous one's end plays on without a gap."""


@dataclass(slots=True)
class _Layout:
    """Where one assistant item's audio sits on the time line (conversation frames)."""

    segments: list[list[int]] = field(default_factory=list)  # [start, item_offset, frames]
    total: int = 0
    cut: int | None = None  # frames heard, once truncated


@dataclass(frozen=True, slots=True)
class Placement:
    """One assistant item on the conversation's time line (ms since the session start)."""

    item: object
    start_ms: float
    sent_end_ms: float
    """Where it would have ended had it all been heard."""
    cut_ms: float | None
    """Where the heard audio stops in ``conversation.wav`` (None: not truncated)."""


class ConversationMixer:
    """Builds ``conversation.wav`` in time order with a bounded look-back window."""

    def __init__(self, writer: WavWriter, hold_s: float = HOLD_S,
                 max_ahead_s: float = MAX_AHEAD_S) -> None:
        self.rate = writer.rate
        self._writer = writer
        self._hold = round(hold_s * self.rate)
        self._max_ahead = max(round(max_ahead_s * self.rate), BLOCK_FRAMES)
        self._join = round(JOIN_S * self.rate)
        self._blocks: dict[int, np.ndarray] = {}
        self._zero = np.zeros((BLOCK_FRAMES, 2), dtype=np.int16)
        self._base = 0  # first frame not yet written (a block boundary)
        self._user_end: int | None = None
        self._asst_end: int | None = None
        self._last_item: object = None
        self._layouts: dict[object, _Layout] = {}
        self._started = False
        self._runs: list[list] = [[0, 0, []], [0, 0, []]]  # per channel: start, frames, parts
        self._stage = np.empty(2 * BLOCK_FRAMES, dtype=np.int16)
        self._spare: list[np.ndarray] = []  # written blocks, reused
        self._commits = 0
        self.late_frames = 0
        """Frames that could not be placed or silenced because they were already written."""

    @property
    def held_frames(self) -> int:
        """Frames of conversation currently held in memory (bounded by the window)."""
        return len(self._blocks) * BLOCK_FRAMES

    def frame_at(self, t_ns: int) -> int:
        """The conversation frame of a time since the session start."""
        return (max(t_ns, 0) * self.rate + 500_000_000) // 1_000_000_000

    def _start(self, t_frame: int, end: int | None) -> int:
        start = t_frame if end is None or t_frame > end + self._join else end
        return max(start, self._base)

    # ------------------------------------------------------------------ queueing

    def queue_user(self, t_ns: int, frames: int) -> int:
        """Where a user chunk sent at ``t_ns`` goes: its send time, after the previous one."""
        start = self._start(self.frame_at(t_ns), self._user_end)
        self._user_end = start + frames
        return start

    def add_user(self, times_ns: list[int], chunks: list[np.ndarray]) -> None:
        """``queue_user`` then ``place_user`` for a run of chunks (the hot path: no
        resampling involved)."""
        rate, join, base = self.rate, self._join, self._base
        end = self._user_end
        run = self._runs[LEFT]
        for t_ns, samples in zip(times_ns, chunks, strict=True):
            t = (t_ns * rate + 500_000_000) // 1_000_000_000 if t_ns > 0 else 0
            start = t if end is None or t > end + join else end
            if start < base:
                start = base
            n = samples.shape[0]
            if run[2] and run[0] + run[1] == start and run[1] < BLOCK_FRAMES:
                run[2].append(samples)
                run[1] += n
            else:
                self._run(LEFT, start, samples)
                run = self._runs[LEFT]
            end = start + n
        self._user_end = end

    def queue_assistant(self, item: object, t_ns: int, frames: int) -> tuple[int, int]:
        """Queue an assistant chunk as a real-time player would; returns (start, item offset).

        It plays at its arrival or when the previous chunk ends, whichever is later; audio of
        an item past its truncation point takes no time.
        """
        layout = self._layouts.setdefault(item, _Layout())
        offset = layout.total
        layout.total += frames
        if layout.cut is not None:
            frames = max(0, min(frames, layout.cut - offset))
        start = self._start(self.frame_at(t_ns), self._asst_end)
        if frames:
            segs = layout.segments
            if segs and segs[-1][0] + segs[-1][2] == start and segs[-1][1] + segs[-1][2] == offset:
                segs[-1][2] += frames
            else:
                segs.append([start, offset, frames])
            self._asst_end = start + frames
            self._last_item = item
        return start, offset

    # ------------------------------------------------------------------ placing

    def place_user(self, start: int, samples: np.ndarray) -> None:
        """Write user samples at ``start`` (left channel)."""
        run = self._runs[LEFT]
        if run[2] and run[0] + run[1] == start and run[1] < BLOCK_FRAMES:
            run[2].append(samples)  # contiguous with the previous chunk: place them together
            run[1] += samples.shape[0]
        else:
            self._run(LEFT, start, samples)

    def place_assistant(self, item: object, start: int, offset: int,
                        samples: np.ndarray) -> None:
        """Write an assistant item's samples, ``offset`` frames into the item, at ``start``."""
        layout = self._layouts.get(item)
        if layout is not None and layout.cut is not None:
            samples = samples[:max(0, layout.cut - offset)]
        run = self._runs[RIGHT]
        if run[2] and run[0] + run[1] == start and run[1] < BLOCK_FRAMES:
            run[2].append(samples)
            run[1] += samples.shape[0]
        else:
            self._run(RIGHT, start, samples)

    def _run(self, channel: int, start: int, samples: np.ndarray) -> None:
        """Place the pending run of a channel and start a new one."""
        self._flush_run(channel)
        self._runs[channel] = [start, samples.shape[0], [samples]]

    def _flush_run(self, channel: int) -> None:
        start, frames, parts = self._runs[channel]
        if not parts:
            return
        self._runs[channel] = [0, 0, []]
        if len(parts) == 1:
            self._place(channel, start, parts[0])
        elif frames <= self._stage.shape[0]:  # reuse one buffer: fresh memory costs faults
            self._place(channel, start, np.concatenate(parts, out=self._stage[:frames]))
        else:
            self._place(channel, start, np.concatenate(parts))

    def truncate(self, item: object, audio_end_ms: float) -> None:
        """The user heard only the first ``audio_end_ms`` of an item: silence the rest."""
        cut = max(0, round(audio_end_ms * self.rate / 1000))
        self._flush_run(RIGHT)
        layout = self._layouts.setdefault(item, _Layout())
        if layout.cut is not None and layout.cut <= cut:
            return
        layout.cut = cut
        stop_at: int | None = None
        played_to: int | None = None  # end of the last segment wholly heard
        for start, offset, n in layout.segments:
            if offset + n <= cut:
                played_to = start + n
                continue
            keep = max(0, cut - offset)
            if stop_at is None:
                stop_at = start + keep if keep or played_to is None else played_to
            self._silence(RIGHT, start + keep, start + n)
        if stop_at is not None and item == self._last_item and self._asst_end is not None:
            self._asst_end = max(min(self._asst_end, stop_at), self._base)

    def _place(self, channel: int, start: int, samples: np.ndarray) -> None:
        n = samples.shape[0]
        if n == 0:
            return
        if start < self._base:
            skip = self._base - start
            self.late_frames += min(skip, n)
            if skip >= n:
                return
            samples, start, n = samples[skip:], self._base, n - skip
        self._started = True
        pos = 0
        while pos < n:
            index, off = divmod(start + pos, BLOCK_FRAMES)
            m = min(n - pos, BLOCK_FRAMES - off)
            block = self._blocks.get(index)
            if block is None:
                block = self._blocks[index] = self._new_block()
            block[off:off + m, channel] = samples[pos:pos + m]
            pos += m

    def _new_block(self) -> np.ndarray:
        if self._spare:
            block = self._spare.pop()
            block.fill(0)
            return block
        return np.zeros((BLOCK_FRAMES, 2), dtype=np.int16)

    def _silence(self, channel: int, start: int, stop: int) -> None:
        if start < self._base:
            self.late_frames += min(stop, self._base) - start
            start = self._base
        while start < stop:
            index, off = divmod(start, BLOCK_FRAMES)
            m = min(stop - start, BLOCK_FRAMES - off)
            block = self._blocks.get(index)
            if block is not None:
                block[off:off + m, channel] = 0
            start += m

    # ------------------------------------------------------------------ writing

    def advance(self, t_ns: int, floor: int | None = None) -> None:
        """Write out what no event from ``t_ns`` on can change (never past ``floor``)."""
        upto = self.frame_at(t_ns) - self._hold
        high = max(self._user_end or 0, self._asst_end or 0)
        if high - max(upto, self._base) > self._max_ahead:
            upto = high - self._max_ahead
        if floor is not None:
            upto = min(upto, floor)
        if upto >= self._base + BLOCK_FRAMES:
            self._commit(upto)

    def _commit(self, upto: int) -> None:
        self._flush_run(LEFT)
        self._flush_run(RIGHT)
        if not self._started:
            return
        while self._base + BLOCK_FRAMES <= upto:
            block = self._blocks.pop(self._base // BLOCK_FRAMES, None)
            if block is None:
                self._writer.write_now(self._zero)
            else:
                self._writer.write_now(block)
                if len(self._spare) < SPARE_BLOCKS:
                    self._spare.append(block)
            self._base += BLOCK_FRAMES
        self._commits += 1
        if self._commits % 64 == 0:
            self._forget_written()

    def _forget_written(self) -> None:
        for layout in self._layouts.values():
            if layout.segments and layout.segments[0][0] + layout.segments[0][2] <= self._base:
                layout.segments = [s for s in layout.segments if s[0] + s[2] > self._base]

    def placements(self) -> list[Placement]:
        """Where each assistant item sat on the time line: as sent and as heard (ms)."""
        out = []
        for item, layout in self._layouts.items():
            if not layout.segments:
                continue
            first = layout.segments[0][0]
            heard_end, queued = first, 0
            for start, offset, n in layout.segments:
                queued += n
                keep = n if layout.cut is None else max(0, min(n, layout.cut - offset))
                if keep:
                    heard_end = start + keep
            last = layout.segments[-1]
            sent_end = last[0] + last[2] + (layout.total - queued)
            ms = 1000 / self.rate
            out.append(Placement(item, first * ms, sent_end * ms,
                                 None if layout.cut is None else heard_end * ms))
        return out

    def discard(self) -> None:
        """Drop everything and delete the file."""
        self._blocks.clear()
        self._runs = [[0, 0, []], [0, 0, []]]
        self._writer.discard()

    def finish(self) -> WrittenFile | None:
        """Write everything left; returns the file, or None when nothing was ever placed."""
        self._flush_run(LEFT)
        self._flush_run(RIGHT)
        if self._started:
            end = max(self._user_end or 0, self._asst_end or 0)
            self._commit(end - end % BLOCK_FRAMES)
            if end > self._base:
                block = self._blocks.pop(self._base // BLOCK_FRAMES, None)
                tail = (self._zero if block is None else block)[:end - self._base]
                self._writer.write(tail)
                self._base = end
        self._blocks.clear()
        return self._writer.close()
