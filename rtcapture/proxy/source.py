"""The record stream as the writer reads it: the pipe from the recorder, and the spill
files the recorder writes while the writer is behind (:mod:`.spill`).

A ``spill`` control on the pipe switches reading to its file; everything the pipe carries
after it waits (``held``) until the file has been read to its end, which the first of those
records, a ``spill_end`` control, tells. If the pipe ends while a spill file is read
(the recorder died, even by ``kill -9``), the file is read to its end: it is part of what
survives.
"""

from __future__ import annotations

import contextlib
import os
import select
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .controls import Control, Spill, SpillEnd
from .spill import leftover_spills
from .stream import FrameMsg, StreamDecoder

READ_SIZE = 1 << 20
READ_PAUSE_S = 0.01
"""After draining the pipe, let frames gather this long before reading again: waking for
every batch the relay writes (thousands a second) cost more CPU than parsing them (the
pipe holds 1 MiB; the relay never waits on it). Also how often a spill file being written
is looked at again."""
STALL_S = 30.0
"""A spill file that stops short of its announced end for this long is given up (its write
failed after the end was announced): the frames it lacks count as lost."""

Record = FrameMsg | Control


@dataclass
class _Reading:
    """A spill file being read."""

    path: Path
    fd: int
    decoder: StreamDecoder = field(default_factory=StreamDecoder)
    offset: int = 0
    end: int | None = None
    """Its length, once the recorder has said (``spill_end``)."""
    since: float = field(default_factory=time.monotonic)
    """When it last grew (or was opened)."""


class RecordSource:
    """Records in stream order, from the pipe or the spill file in force."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pipe = StreamDecoder()
        self.pipe_ended = False
        self.idle = False
        """The last :meth:`read` found nothing new (the writer may commit now)."""
        self.spill: _Reading | None = None
        self.held: deque[Record] = deque()
        """Pipe records that come after the spill file in force."""
        self.done: list[Path] = []
        """Spill files read to their end, to delete once what they held is committed."""
        self.opened: set[Path] = set()
        self.leftovers: tuple[Path, str] | None = None
        """Where the recorder's spill files go, and its id: read at the end if never
        announced (the recorder was killed before its ``spill`` control reached the pipe)."""

    @property
    def position(self) -> tuple[str, int] | None:
        """The spill file being read and how far (None: reading the pipe)."""
        return (str(self.spill.path), self.spill.offset) if self.spill is not None else None

    def read(self, timeout: float) -> Iterator[Record] | None:
        """The records available now, waiting up to ``timeout`` for some; None once the
        stream has ended (the pipe closed and every spill file read)."""
        if self.spill is not None:
            return self._from_spill(timeout)
        if self.held:
            self.idle = False
            return self._from_held()
        if self.pipe_ended:
            return self._from_leftovers()
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            self.idle = True
            return iter(())
        chunk = os.read(self.fd, READ_SIZE)
        if chunk == b"":
            self.pipe_ended = True
            return self._from_leftovers()
        self.idle = False
        if len(chunk) < READ_SIZE:
            time.sleep(READ_PAUSE_S)  # batching reads, not synchronisation
        return self._route(self.pipe.feed(chunk))

    def _route(self, records: Iterator[Record]) -> Iterator[Record]:
        """Pass pipe records on; a ``spill`` switches to its file, and what follows waits."""
        for msg in records:
            if self.spill is not None:
                self.held.append(msg)
            elif isinstance(msg, Spill):
                self._open(msg)
            else:
                yield msg

    def _from_held(self) -> Iterator[Record]:
        """What waited for a spill file, up to the next ``spill``."""
        while self.held and self.spill is None:
            msg = self.held.popleft()
            if isinstance(msg, Spill):
                self._open(msg)
            else:
                yield msg

    def _from_leftovers(self) -> Iterator[Record] | None:
        """After the pipe: the next spill file of this recorder not read yet, if any."""
        if self.leftovers is None:
            return None
        for path in leftover_spills(*self.leftovers):
            if path not in self.opened:
                with contextlib.suppress(OSError):
                    self._open(Spill(str(path)))
                    return iter(())
                self.opened.add(path)
        return None

    def _open(self, msg: Spill) -> None:
        path = Path(msg.path)
        self.opened.add(path)
        self.spill = _Reading(path, os.open(path, os.O_RDONLY))

    def _from_spill(self, timeout: float) -> Iterator[Record]:
        spill = self.spill
        assert spill is not None
        head = self.held[0] if self.held else None
        if spill.end is None and isinstance(head, SpillEnd):
            self.held.popleft()
            spill.end = head.size
        want = READ_SIZE if spill.end is None else min(READ_SIZE, spill.end - spill.offset)
        chunk = os.read(spill.fd, want) if want > 0 else b""
        if chunk:
            spill.offset += len(chunk)
            spill.since = time.monotonic()
            self.idle = False
            return spill.decoder.feed(chunk)
        if spill.end is not None and spill.offset >= spill.end:
            self._close()
            return iter(())
        if self.pipe_ended:  # the recorder is gone: the file is as long as it gets
            self._close()
            return iter(())
        if spill.end is not None and time.monotonic() - spill.since > STALL_S:
            self._close()
            return iter(())
        self.idle = True
        ready, _, _ = select.select([self.fd], [], [], min(timeout, READ_PAUSE_S))
        if ready:  # the pipe: its spill_end, what follows it, or its end
            chunk = os.read(self.fd, READ_SIZE)
            if chunk == b"":
                self.pipe_ended = True
            else:
                self.held.extend(self._route(self.pipe.feed(chunk)))  # all held: spilling
        return iter(())

    def _close(self) -> None:
        spill = self.spill
        assert spill is not None
        os.close(spill.fd)
        self.done.append(spill.path)
        self.spill = None

    def forget_done(self) -> None:
        """Delete the spill files read to their end (call once their records are committed)."""
        for path in self.done:
            with contextlib.suppress(OSError):
                path.unlink()
        self.done.clear()
