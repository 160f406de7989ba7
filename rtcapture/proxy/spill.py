"""The spill file: where the record stream goes while the writer is behind.

When more than ``spill_at`` bytes wait for the writer, the sink stops queueing them in
memory (and never stops the relay's legs to wait for it): it appends the record stream to a
local file instead, and tells the writer on the pipe (a ``spill`` control), which reads the
file as it would the pipe. Once the writer has nearly caught up, the sink says where the file
ends (``spill_end`` on the pipe) and goes back to the pipe; the writer finishes the file,
commits it, deletes it and reads the pipe again. Order is kept: nothing goes to the pipe
between the two controls.

The file survives the recorder: killed by ``kill -9``, its writer still reads the file to its
end, even when the ``spill`` control never reached the pipe (it looks for the recorder's
spill files once the pipe has ended). Writes happen on a thread of their own, so a slow disk never holds the event loop.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
from pathlib import Path
from urllib.parse import unquote

SPILL_AT = 64 << 10
"""Bytes waiting in the recorder's memory for the writer (the pipe being full) before the
sink spills to a file. With the rest of the record the pipe last took in part, it is what
a ``kill -9`` of the recorder can take with it while its writer is stuck."""
SPILL_RESUME = 256 << 10
"""The sink goes back to the pipe once the writer is this close to the file's end."""
SUFFIX = ".rtcspill"


def spill_name(recorder_id: str, number: int) -> str:
    """The file name of a recorder's ``number``-th spill file."""
    return f"rtcapture-{recorder_id}-{number}{SUFFIX}"


def leftover_spills(folder: Path, recorder_id: str) -> list[Path]:
    """A recorder's spill files in ``folder``, in the order they were written."""
    prefix = f"rtcapture-{recorder_id}-"
    numbered: list[tuple[int, Path]] = []
    for path in folder.glob(f"{prefix}*{SUFFIX}"):
        number = path.name[len(prefix):-len(SUFFIX)]
        if number.isdigit():
            numbered.append((int(number), path))
    return [path for _, path in sorted(numbered)]


def default_spill_dir(db_url: str) -> Path:
    """Where spill files go by default: beside a SQLite database file, else the temp dir."""
    scheme, _, rest = db_url.partition(":///")
    if scheme.split("+")[0] == "sqlite" and rest and not rest.startswith(":memory:"):
        path = Path(unquote(rest.split("?")[0]))
        if path.name:
            return path.parent if path.is_absolute() else (Path.cwd() / path).parent
    return Path(tempfile.gettempdir())


class SpillFile:
    """An append-only file written by a thread, in the order :meth:`append` was called."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self.queued = 0
        """Bytes handed to :meth:`append`."""
        self.written = 0
        """Bytes on disk (updated by the thread)."""
        self.failed: str | None = None
        """Why a write failed (nothing after it is written)."""
        self._queue: queue.SimpleQueue[bytes | bytearray | memoryview | None] = \
            queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="rtcapture-spill", daemon=True)
        self._thread.start()

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` to be written after everything queued before (returns at once)."""
        self.queued += len(data)
        self._queue.put(data)

    def finish(self) -> None:
        """Write what is queued, then close the file (the thread ends; returns at once)."""
        self._queue.put(None)

    def join(self, timeout: float | None = None) -> None:
        """Wait until the thread has written everything queued and closed the file."""
        self._thread.join(timeout)

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self.failed is not None:
                continue
            try:
                view = memoryview(data)
                while view:
                    n = os.write(self.fd, view)
                    view = view[n:]
                    self.written += n
            except OSError as exc:
                self.failed = exc.strerror or str(exc)
        os.close(self.fd)
