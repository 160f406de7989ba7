"""``--per-turn`` files: the ``turns/`` folder and its numbering, and one file per
assistant audio item (plus its "as heard" cut when the user interrupted it). User items
are cut out of the appended audio by ``cutter``.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .wav import WavWriter, WrittenFile, copy_head

MAX_OPEN_FILES = 16
_TURN_FILE_RE = re.compile(r"^(\d{4,}-(user|assistant)-.*|\.pending-\d+)\.wav$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class TurnFolder:
    """The ``turns/`` folder: conversation-order numbering and file names."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._next = 0
        self._pending = 0

    def clear_stale(self) -> None:
        """Remove turn files an earlier run left here (only names this module writes)."""
        if self.folder.is_dir():
            for path in self.folder.iterdir():
                if path.is_file() and _TURN_FILE_RE.match(path.name):
                    path.unlink()

    def remove_if_empty(self) -> None:
        """Remove the folder when no turn file ended up in it."""
        if self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()

    def ordinal(self) -> int:
        """The next position in conversation order."""
        self._next += 1
        return self._next

    def path(self, ordinal: int, role: str, name: str, suffix: str = "") -> Path:
        """``NNNN-<role>-<item id>.wav``: names sort in conversation order."""
        safe = _UNSAFE.sub("_", name)[:80] or "item"
        return self.folder / f"{ordinal:04d}-{role}-{safe}{suffix}.wav"

    def pending_path(self) -> Path:
        """A temporary name for a turn whose number is not known yet."""
        self._pending += 1
        return self.folder / f".pending-{self._pending}.wav"


@dataclass
class AssistantTurns:
    """One file per assistant audio item (at ``rate``), and its "as heard" cut."""

    folder: TurnFolder
    rate: int
    files: list[WrittenFile] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._writers: dict[tuple[str, int], WavWriter] = {}
        self._open: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._heard_ms: dict[tuple[str, int], float] = {}

    def start(self, key: tuple[str, int]) -> None:
        """First audio of an item: it takes the next number."""
        if key in self._writers:
            return
        item_id, content_index = key
        name = item_id if content_index == 0 else f"{item_id}-part{content_index}"
        path = self.folder.path(self.folder.ordinal(), "assistant", name)
        self._writers[key] = WavWriter(path, self.rate, kind="assistant_turn", item_id=item_id)

    def write(self, key: tuple[str, int], frames: np.ndarray) -> None:
        """Samples of an item, in order (a bounded number of files stay open)."""
        writer = self._writers.get(key)
        if writer is None:
            return
        writer.write(frames)
        self._open[key] = None
        self._open.move_to_end(key)
        while len(self._open) > MAX_OPEN_FILES:
            oldest, _ = self._open.popitem(last=False)
            self._writers[oldest].suspend()

    def done(self, item_id: str | None) -> None:
        """The item's audio is complete: release its file handle."""
        for key in [k for k in self._open if k[0] == item_id]:
            del self._open[key]
            self._writers[key].suspend()

    def truncate(self, key: tuple[str, int], audio_end_ms: float) -> None:
        """The user heard only the first ``audio_end_ms`` of the item."""
        self._heard_ms[key] = min(audio_end_ms, self._heard_ms.get(key, audio_end_ms))

    def discard(self) -> None:
        """Delete every file (before starting over)."""
        for writer in self._writers.values():
            writer.discard()
        self._writers.clear()
        self._open.clear()

    def finish(self) -> list[WrittenFile]:
        """Close every file and write the "as heard" cuts; returns the files written."""
        for key, writer in self._writers.items():
            written = writer.close()
            if written is None:
                continue
            self.files.append(written)
            heard_ms = self._heard_ms.get(key)
            if heard_ms is None:
                continue
            heard = WavWriter(written.path.with_suffix(".heard.wav"), self.rate,
                              kind="assistant_heard", item_id=written.item_id)
            frames = min(written.frames, max(0, round(heard_ms * self.rate / 1000)))
            copy_head(written.path, heard, frames)
            result = heard.close()
            if result is not None:  # heard nothing: no (empty) file
                self.files.append(result)
        self._writers.clear()
        return self.files

