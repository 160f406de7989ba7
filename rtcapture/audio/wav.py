"""16-bit PCM WAV files written incrementally with soundfile, and what was written."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

BUFFER_FRAMES = 1 << 16
"""Small writes are gathered up to this many frames before reaching libsndfile."""
DIRECT_FRAMES = 1 << 13
"""Writes at least this long (with nothing gathered) go straight to the file."""


_stages = threading.local()


def _stage(frames: int, tail: tuple[int, ...]) -> np.ndarray:
    """A reused int16 buffer of ``frames`` frames, shared by this thread's writers (they
    write synchronously): gathering into fresh memory costs a page fault per 4 KiB."""
    if frames > 4 * BUFFER_FRAMES:
        return np.empty((frames, *tail), dtype=np.int16)  # rare (a huge chunk): not kept
    key = f"buf{tail}"
    buf = getattr(_stages, key, None)
    if buf is None or buf.shape[0] < frames:
        buf = np.empty((4 * BUFFER_FRAMES, *tail), dtype=np.int16)
        setattr(_stages, key, buf)
    return buf[:frames]


class _SoundFile(sf.SoundFile):
    """A SoundFile whose close does not fsync (``flush`` is libsndfile's ``sf_write_sync``).

    The header is still completed by ``sf_close``; an exported WAV needs no sync to disk,
    and syncing hundreds of MB (or hundreds of turn files) dominated the run time.
    """

    def flush(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """One WAV file the extraction wrote."""

    path: Path
    kind: str
    """``input``, ``output``, ``conversation``, ``user_turn``, ``assistant_turn`` or
    ``assistant_heard`` (an assistant turn cut where the user interrupted it)."""
    channels: int
    rate: int
    frames: int
    item_id: str | None = None

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate

    def as_json(self) -> dict[str, Any]:
        """The ``audio --json`` record of this file."""
        return {"path": str(self.path), "kind": self.kind, "channels": self.channels,
                "rate": self.rate, "frames": self.frames,
                "duration_s": round(self.duration_s, 6), "item_id": self.item_id}


class WavWriter:
    """A WAV file opened on the first write (no audio, no file), buffered, reopenable."""

    def __init__(self, path: Path, rate: int, channels: int = 1, kind: str = "",
                 item_id: str | None = None) -> None:
        self.path = path
        self.rate = rate
        self.channels = channels
        self.kind = kind
        self.item_id = item_id
        self.frames = 0
        self._file: _SoundFile | None = None
        self._created = False
        self._pending: list[np.ndarray] = []
        self._pending_frames = 0

    @property
    def is_open(self) -> bool:
        return self._file is not None

    def write(self, frames: np.ndarray) -> None:
        """Append int16 frames (shape ``(n,)`` mono or ``(n, channels)``)."""
        n = frames.shape[0]
        if n == 0:
            return
        self.frames += n
        if n >= DIRECT_FRAMES and not self._pending:
            self._write(frames)
            return
        self._pending.append(frames)  # kept until drained: callers hand arrays over
        self._pending_frames += n
        if self._pending_frames >= BUFFER_FRAMES:
            self._drain()

    def write_all(self, parts: list[np.ndarray], frames: int) -> None:
        """Append several arrays holding ``frames`` frames in all (gathered, one copy)."""
        self.frames += frames
        self._pending.extend(parts)
        self._pending_frames += frames
        if self._pending_frames >= BUFFER_FRAMES:
            self._drain()

    def suspend(self) -> None:
        """Close the file handle for now; the next write reopens it and appends."""
        self._drain()
        if self._file is not None:
            self._file.close()
            self._file = None

    def close(self) -> WrittenFile | None:
        """Finish the file; returns it, or None when nothing was ever written."""
        self.suspend()
        if not self._created:
            return None
        return WrittenFile(self.path, self.kind, self.channels, self.rate, self.frames,
                           self.item_id)

    def discard(self) -> None:
        """Close and delete the file."""
        self._pending, self._pending_frames = [], 0
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._created:
            self.path.unlink(missing_ok=True)
        self._created = False
        self.frames = 0

    def write_now(self, frames: np.ndarray) -> None:
        """Append frames and write them before returning (the caller may reuse the array)."""
        self._drain()
        self.frames += frames.shape[0]
        self._sink().write(frames)

    def _drain(self) -> None:
        if not self._pending:
            return
        parts, n = self._pending, self._pending_frames
        self._pending, self._pending_frames = [], 0
        if len(parts) == 1:
            self._write(parts[0])
        else:
            self._write(np.concatenate(parts, out=_stage(n, parts[0].shape[1:])))

    def _write(self, block: np.ndarray) -> None:
        self._sink().write(block)

    def _sink(self) -> _SoundFile:
        if self._file is None:
            if self._created:
                self._file = _SoundFile(self.path, "r+")
                self._file.seek(0, sf.SEEK_END)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = _SoundFile(self.path, "w", samplerate=self.rate,
                                        channels=self.channels, subtype="PCM_16",
                                        format="WAV")
                self._created = True
        return self._file


def copy_head(src: Path, dst: WavWriter, frames: int, block: int = BUFFER_FRAMES) -> None:
    """Copy the first ``frames`` frames of a WAV file into ``dst``, block by block."""
    with sf.SoundFile(src, "r") as f:
        left = min(frames, f.frames)
        while left > 0:
            data = f.read(min(block, left), dtype="int16", always_2d=False)
            if len(data) == 0:
                break
            dst.write(data)
            left -= len(data)
