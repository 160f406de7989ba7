"""User items cut out of the appended audio, for ``--per-turn``: one file per committed
item (split by commits or by the server's VAD positions; cleared audio left out).

The positions that delimit items arrive after the audio itself (VAD events report
``audio_start_ms``/``audio_end_ms`` in the past), so the stream goes through a delay line of
``DELAY_S`` seconds before frames are routed into the file of whichever item covers them.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from .turns import TurnFolder
from .wav import WavWriter, WrittenFile

DELAY_S = 15.0
"""How late a VAD event may report a position and still cut the stream exactly."""


@dataclass(eq=False)
class _Span:
    """One stretch of the appended stream that is (or may become) a user item."""

    writer: WavWriter
    item_id: str | None = None
    ordinal: int | None = None
    closing: bool = False  # a CLOSE mark exists
    opened: bool = False  # routing has reached its start
    closed: bool = False  # routing has passed its end
    dropped: bool = False  # cleared, refused or never committed
    done: bool = False  # finalized or discarded


class _Mark(IntEnum):
    CLOSE = 0  # a span ending where the next begins closes first
    OPEN = 1


@dataclass
class UserTurns:
    """Cuts committed user items out of the appended audio (at ``rate``)."""

    folder: TurnFolder
    rate: int
    vad: bool = True
    """Turn detection when the cutter starts (the service default is server VAD)."""
    delay_s: float = DELAY_S
    files: list[WrittenFile] = field(default_factory=list)
    late_marks: int = 0
    """Turn boundaries that arrived later than the delay line and were moved forward."""

    def __post_init__(self) -> None:
        self._delay = round(self.delay_s * self.rate)
        self._ring: deque[np.ndarray] = deque()
        self._ring_frames = 0
        self._pos = 0  # frames of appended audio so far (some may still be in a resampler)
        self._head = 0  # frames routed so far
        self._marks: list[tuple[int, int, int, _Span]] = []
        self._order = 0
        self._active: _Span | None = None
        self._vad = True  # the service default (server_vad)
        self._boundary = 0  # last commit / clear position
        self._manual: _Span | None = None  # the open implicit span of a manual-turn session
        self._vad_spans: dict[str, _Span] = {}
        self._commits: deque[_Span] = deque()
        self._spans: list[_Span] = []  # not yet finalized or discarded
        self._created: dict[str, WavWriter] = {}
        if not self.vad:
            self.set_vad(False)

    # ------------------------------------------------------------------ the stream

    @property
    def held_frames(self) -> int:
        """Frames in the delay line (at most ``delay_s`` worth)."""
        return self._ring_frames

    def promise(self, frames: int) -> None:
        """An append of ``frames`` frames was sent (its samples may come later, resampled)."""
        self._pos += frames

    def append(self, frames: np.ndarray) -> None:
        """The samples of appended audio, in order."""
        self._ring.append(frames)
        self._ring_frames += frames.size
        while self._ring_frames - self._ring[0].size >= self._delay:
            block = self._ring.popleft()
            self._ring_frames -= block.size
            self._route(block)
        excess = self._ring_frames - self._delay
        if excess > 0:
            block = self._ring[0]
            self._ring[0] = block[excess:]
            self._ring_frames -= excess
            self._route(block[:excess])

    def ms_to_frames(self, ms: float) -> int:
        """A position in ms of appended audio (the VAD events' clock) as a frame index."""
        return max(0, round(ms * self.rate / 1000))

    # ------------------------------------------------------------------ what the events say

    def set_vad(self, on: bool) -> None:
        """Turn detection switched on (server commits) or off (the client commits)."""
        if on == self._vad:
            return
        self._vad = on
        if on:
            if self._manual is not None:
                self._close(self._manual, self._pos)
                self._manual.dropped = True
                self._manual = None
        else:
            self._manual = self._open(max(self._boundary, self._head))

    def speech_started(self, item_id: str | None, start_ms: float) -> None:
        """Server VAD heard speech from ``start_ms`` on: item ``item_id`` starts there."""
        for other in self._vad_spans.values():
            if not other.closing:
                self._close(other, self.ms_to_frames(start_ms))
        span = self._open(self.ms_to_frames(start_ms), item_id)
        if item_id is not None:
            self._vad_spans[item_id] = span

    def speech_stopped(self, item_id: str | None, end_ms: float) -> None:
        """Server VAD: item ``item_id`` ends at ``end_ms``."""
        span = self._vad_spans.get(item_id) if item_id is not None else None
        if span is None:
            span = self._open(max(self._boundary, self._head), item_id)
            if item_id is not None:
                self._vad_spans[item_id] = span
        if not span.closing:
            self._close(span, self.ms_to_frames(end_ms))
        self._boundary = max(self._boundary, self.ms_to_frames(end_ms))

    def timeout_triggered(self, item_id: str | None, start_ms: float, end_ms: float) -> None:
        """The idle timeout committed ``start_ms``..``end_ms`` as item ``item_id``."""
        span = self._open(self.ms_to_frames(start_ms), item_id)
        self._close(span, self.ms_to_frames(end_ms))
        if item_id is not None:
            self._vad_spans[item_id] = span

    def client_commit(self) -> None:
        """``input_audio_buffer.commit``: everything since the last boundary is one item."""
        span = self._manual
        if span is None and self._vad:
            speaking = [k for k, s in self._vad_spans.items() if not s.closing]
            if speaking:
                span = self._vad_spans.pop(speaking[-1])
        if span is None:
            span = self._open(max(self._boundary, self._head))
        self._close(span, self._pos)
        self._commits.append(span)
        self._boundary = self._pos
        self._manual = None if self._vad else self._open(self._pos)

    def commit_failed(self) -> None:
        """The oldest commit was refused (< 100 ms): the server kept that audio, so its
        span runs on into the next item (or, if routing already passed it, is dropped)."""
        if not self._commits:
            return
        span, successor = self._commits.popleft(), self._manual
        if not span.closed and successor is not None and not successor.opened \
                and not self._commits:
            self._marks = [m for m in self._marks if not (
                (m[3] is span and m[1] == _Mark.CLOSE) or m[3] is successor)]
            heapq.heapify(self._marks)
            self._discard(successor)
            span.closing = False
            self._manual = span
            return
        span.dropped = True
        if span.closed:
            self._discard(span)

    def client_clear(self) -> None:
        """``input_audio_buffer.clear``: audio not yet committed is left out."""
        for span in [self._manual, *self._vad_spans.values()]:
            if span is not None and span.ordinal is None:
                span.dropped = True
                if not span.closing:
                    self._close(span, self._pos)
        self._vad_spans = {k: s for k, s in self._vad_spans.items() if not s.dropped}
        self._boundary = self._pos
        self._manual = None if self._vad else self._open(self._pos)

    def committed(self, item_id: str | None) -> None:
        """``input_audio_buffer.committed``: the item exists; it takes the next number."""
        span = self._vad_spans.pop(item_id, None) if item_id is not None else None
        if span is None and self._commits:
            span = self._commits.popleft()
        if span is None and self._manual is not None:
            span = self._manual
            self._close(span, self._pos)
            self._boundary = self._pos
            self._manual = self._open(self._pos)
        if span is None or span.dropped:
            return
        if not span.closing:
            self._close(span, self._pos)
        span.item_id = item_id or span.item_id
        span.ordinal = self.folder.ordinal()
        if span.closed:
            self._finalize(span)

    def created_item(self, key: str) -> None:
        """A user item the client created with its audio inline takes the next number."""
        if key not in self._created:
            path = self.folder.path(self.folder.ordinal(), "user", key)
            self._created[key] = WavWriter(path, self.rate, kind="user_turn", item_id=key)

    def created_audio(self, key: str, frames: np.ndarray) -> None:
        """Samples of a client-created user item."""
        writer = self._created.get(key)
        if writer is not None:
            writer.write(frames)
            writer.suspend()

    def finish(self) -> list[WrittenFile]:
        """Route what the delay line holds, close every span; returns the files written."""
        while self._ring:
            self._route(self._ring.popleft())
        self._ring_frames = 0
        while self._marks and self._marks[0][0] <= self._pos:
            self._apply(heapq.heappop(self._marks))
        self._marks.clear()
        self._active = None
        for span in list(self._spans):
            span.closed = True
            if span.ordinal is not None:
                self._finalize(span)
            else:
                self._discard(span)
        for writer in self._created.values():
            written = writer.close()
            if written is not None:
                self.files.append(written)
        return self.files

    def discard(self) -> None:
        """Delete every file of this cutter (before starting over)."""
        for span in list(self._spans):
            self._discard(span)
        for writer in self._created.values():
            writer.discard()
        for written in self.files:
            written.path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ marks and routing

    def _open(self, pos: int, item_id: str | None = None) -> _Span:
        span = _Span(WavWriter(self.folder.pending_path(), self.rate, kind="user_turn"),
                     item_id=item_id)
        self._spans.append(span)
        self._mark(pos, _Mark.OPEN, span)
        return span

    def _close(self, span: _Span, pos: int) -> None:
        span.closing = True
        self._mark(pos, _Mark.CLOSE, span)

    def _mark(self, pos: int, kind: _Mark, span: _Span) -> None:
        if pos < self._head:
            self.late_marks += 1
            pos = self._head
        self._order += 1
        heapq.heappush(self._marks, (pos, int(kind), self._order, span))

    def _route(self, frames: np.ndarray) -> None:
        start, end = self._head, self._head + frames.size
        at = start
        while self._marks and self._marks[0][0] < end:
            mark = heapq.heappop(self._marks)
            if mark[0] > at:
                self._emit(frames[at - start: mark[0] - start])
                at = mark[0]
            self._apply(mark)
        self._emit(frames[at - start:])
        self._head = end

    def _apply(self, mark: tuple[int, int, int, _Span]) -> None:
        _, kind, _, span = mark
        if kind == _Mark.OPEN:
            span.opened = True
            if self._active is not None and self._active is not span:
                self._end(self._active)
            self._active = None if span.closed else span
        else:
            if self._active is span:
                self._active = None
            self._end(span)

    def _end(self, span: _Span) -> None:
        if span.closed:
            return
        span.closed = True
        span.writer.suspend()
        if span.dropped:
            self._discard(span)
        elif span.ordinal is not None:
            self._finalize(span)

    def _emit(self, frames: np.ndarray) -> None:
        if self._active is not None and not self._active.dropped and frames.size:
            self._active.writer.write(frames)

    def _discard(self, span: _Span) -> None:
        span.writer.discard()
        if not span.done:
            span.done = True
            self._spans.remove(span)

    def _finalize(self, span: _Span) -> None:
        if span.dropped or span.ordinal is None:
            self._discard(span)
            return
        span.done = True
        self._spans.remove(span)
        written = span.writer.close()
        if written is None:
            return
        target = self.folder.path(span.ordinal, "user", span.item_id or "item")
        written.path.replace(target)
        self.files.append(WrittenFile(target, "user_turn", 1, written.rate, written.frames,
                                      span.item_id))
