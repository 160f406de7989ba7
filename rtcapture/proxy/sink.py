"""The relay's end of the record stream: batches records into the writer process's pipe.

Per frame the relay only packs a header and appends two byte strings to a list; one
``write`` per event-loop iteration hands the batch to the pipe, a non-blocking pipe of its
own (no transport buffer: what the pipe does not take now is in our hands). When the writer
falls behind, that rest waits in a small backlog; past ``spill_at`` bytes recording spills
to a file (:mod:`.spill`) instead of holding anything more in memory, and relaying never
waits. Only when no spill file can be written does the old rule apply: once ``high_water``
bytes wait, every relay leg stops reading (backpressure) until half of it has drained.
While the store itself has failed, frames past ``high_water`` are dropped and counted
instead (open sessions keep relaying, they end ``incomplete``). If the writer process dies,
frames are counted as lost, stderr says so once, and it is restarted.

The writer runs in a process group of its own and ignores SIGINT, SIGTERM and SIGHUP: a
terminal's Ctrl-C (sent to the whole foreground group), a closed terminal and a service
manager's SIGTERM to every process must not end it before the recorder has handed it
everything. It ends when its stdin does (the recorder exited, even by ``kill -9``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import StoreError
from ..protocol.sniff import LARGE_FRAME
from .controls import Config, Control, Shutdown, Spill, SpillEnd
from .spill import SPILL_AT, SPILL_RESUME, SpillFile, spill_name
from .stream import pack_control, pack_frame

logger = logging.getLogger("rtcapture.sink")

class Reader(Protocol):
    """A relay leg that stops reading while the sink is paused."""

    def update_reading(self) -> None: ...


HIGH_WATER = 64 << 20
"""Bytes buffered towards the writer before the relay applies backpressure."""
PIPE_CHUNK = 1 << 20
"""At most this much is written to the pipe at a time."""
RESTART_DELAY_S = 1.0
PIPE_SIZE = 1 << 20
"""The pipe's capacity (fewer wake-ups of the writer)."""


def _write_all(fd: int, pieces: list[bytes | bytearray | memoryview]) -> None:
    """Write every piece to a blocking ``fd`` (at shutdown)."""
    for piece in pieces:
        view = memoryview(piece)
        while view:
            view = view[os.write(fd, view):]


@dataclass
class Dropped:
    """Frames of one session dropped while the store failed, by direction."""

    client_events: int = 0
    server_events: int = 0
    client_bytes: int = 0
    server_bytes: int = 0

    def add(self, server: bool, nbytes: int) -> None:
        if server:
            self.server_events += 1
            self.server_bytes += nbytes
        else:
            self.client_events += 1
            self.client_bytes += nbytes

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class WriterSink:
    """Feeds the writer process and relays its status reports."""

    def __init__(self, db_url: str, recorder_id: str, *,
                 on_report: Callable[[dict[str, Any]], None],
                 high_water: int = HIGH_WATER, spill_dir: Path | None = None,
                 spill_at: int = SPILL_AT) -> None:
        self.db_url = db_url
        self.recorder_id = recorder_id
        self.on_report = on_report
        self.high_water = high_water
        self.spill_dir = spill_dir
        """Where to spill while the writer is behind (None: never; backpressure instead)."""
        self.spill_at = min(spill_at, high_water // 2)
        self.spills = 0
        """How many times recording fell behind and spilled to a file."""
        self._spill: SpillFile | None = None
        self._spill_started = 0.0
        self._spill_warned = False
        self.proc: asyncio.subprocess.Process | None = None
        self.store_ok = True
        self.lost = 0
        """Frames not handed to the writer (writer dead, or dropped while the store failed)."""
        self.dropped: dict[int, Dropped] = {}
        """Session number -> frames dropped while the store failed (see :meth:`take_dropped`)."""
        self.paused = False
        self.pauses = 0
        """How many times backpressure was applied (reported in the summary)."""
        self.readers: set[Reader] = set()
        """Relay legs, told to re-check whether they may read when ``paused`` changes."""
        self.stored: dict[int, int] = {}
        """Session number -> events the writer committed (its latest report)."""
        self.on_restart: Callable[[], None] | None = None
        """Called once a restarted writer is ready (to tell it about open sessions)."""
        self.restarts = 0
        self._chunks: list[bytes | bytearray] = []
        self._backlog: deque[bytes | bytearray | memoryview] = deque()
        self._backlog_bytes = 0
        self._fd: int | None = None
        """The pipe to the writer's stdin (non-blocking; ours alone, no transport buffer)."""
        self._watching = False
        self._scheduled = False
        self._alive = False
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # lifecycle ----------------------------------------------------------------------

    async def start(self, timeout: float = 30.0) -> None:
        """Start the writer process and wait until it has opened the database."""
        self._loop = asyncio.get_running_loop()
        read_end, write_end = os.pipe()
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "rtcapture.proxy.writer",
                stdin=read_end, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, process_group=0)
        except OSError as exc:
            os.close(write_end)
            raise StoreError(f"cannot start the writer process ({sys.executable}): "
                             f"{exc.strerror or exc}") from None
        finally:
            os.close(read_end)
        assert self.proc.stdout is not None
        with contextlib.suppress(OSError):
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        os.set_blocking(write_end, False)
        self._fd = write_end
        self._backlog.clear()
        self._backlog_bytes = 0
        self._send(pack_control(Config(
            self.db_url, self.recorder_id,
            str(self.spill_dir) if self.spill_dir is not None else None)))
        try:
            async with asyncio.timeout(timeout):
                line = await self.proc.stdout.readline()
        except TimeoutError:
            line = b""
        try:
            answer = json.loads(line) if line else {}
        except ValueError:
            answer = {}
        if answer.get("event") == "open_failed":  # the store's own one-line error
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.proc.wait()
            raise StoreError(str(answer.get("reason")))
        if answer.get("event") != "ready":
            err = b""
            if self.proc.stderr is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2):
                        err = await self.proc.stderr.read()
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
            raise StoreError(f"the writer could not open the database: "
                             f"{lines[-1] if lines else 'no answer'}")
        self._alive = True
        self.store_ok = True
        self._spawn(self._read_reports(self.proc))
        self._spawn(self._drain_stderr(self.proc))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro, name="rtcapture-writer-io")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        last = b""
        while line := await proc.stderr.readline():
            last = line
        if last.strip() and not self._closing:
            from ..protocol import redact_text

            logger.debug("writer: %s", redact_text(last.decode(errors="replace").strip()))

    async def _read_reports(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            try:
                report = json.loads(line)
            except ValueError:
                continue
            kind = report.get("event")
            if kind == "store_failed":
                self.store_ok = False
                self._resume_readers()  # past high water, frames are dropped now
            elif kind == "store_ok":
                self.store_ok = True
            elif kind == "stored":
                for no, rows in report.get("sessions", {}).items():
                    self.stored[int(no)] = int(rows)
            elif kind == "spill_read":
                self._spill_progress(report)
                continue
            self.on_report(report)
        await proc.wait()
        self._alive = False
        self._close_fd()
        self._backlog.clear()  # the writer is gone: what waited for it is lost with it
        self._backlog_bytes = 0
        self._chunks.clear()
        self._drop_spill()
        if not self._closing:
            self.store_ok = False
            self.on_report({"event": "writer_died", "returncode": proc.returncode})
            self._resume_readers()
            await self._restart()

    async def _restart(self) -> None:
        """Start a new writer (after a back-off), retrying until it works or we close."""
        while not self._closing:
            await asyncio.sleep(RESTART_DELAY_S)
            if self._closing:
                return
            try:
                await self.start()
            except (StoreError, OSError) as exc:
                self.on_report({"event": "restart_failed", "reason": str(exc)})
                continue
            self.restarts += 1
            if self.on_restart is not None:
                self.on_restart()
            self.on_report({"event": "store_ok"})
            return

    @property
    def alive(self) -> bool:
        """Whether a writer process takes records now."""
        return self._alive

    def kill(self) -> None:
        """End the writer at once (a forced exit): what it has not committed is lost."""
        self._closing = True
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    async def close(self, timeout: float | None = None) -> dict[str, Any] | None:
        """Flush, tell the writer to finish, and wait for it to commit everything (no
        bound by default: the caller cancels to give up)."""
        self._closing = True
        proc = self.proc
        if proc is None:
            return None
        if self._alive and self._fd is not None:
            self._flush()
            end = await self._close_spill()
            rest = [*self._backlog, *([end] if end is not None else []),
                    pack_control(Shutdown())]  # in order, the shutdown record last
            self._backlog.clear()
            self._backlog_bytes = 0
            fd = self._fd
            self._stop_watching()
            self._fd = None
            os.set_blocking(fd, True)
            with contextlib.suppress(OSError):
                await asyncio.to_thread(_write_all, fd, rest)
            os.close(fd)
        else:
            self._close_fd()
        try:
            async with asyncio.timeout(timeout):
                await proc.wait()
                for task in list(self._tasks):
                    await task
        except TimeoutError:
            proc.kill()
        return None

    # records --------------------------------------------------------------------------

    def frame(self, session_no: int, seq: int, server: bool, binary: bool, delivered: bool,
              t_ns: int, wall_ns: int, data: bytes | bytearray, incomplete: bool = False
              ) -> None:
        """Queue one frame record (returns at once)."""
        if not self._alive:
            self.lost += 1
            return
        if not self.store_ok and self.pending_bytes() > self.high_water:
            self.lost += 1
            self.dropped.setdefault(session_no, Dropped()).add(server, len(data))
            return
        header = pack_frame(session_no, seq, server, binary, delivered, t_ns, wall_ns, data,
                            incomplete)
        if len(data) >= LARGE_FRAME:  # sent from its own buffer, never joined
            self._queue_large(header, data)
            return
        self._chunks.append(header)
        self._chunks.append(data)
        if not self._scheduled:
            self._scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    def control(self, msg: Control) -> None:
        """Queue one control record (session begin/opened/end); never dropped."""
        if not self._alive:
            return
        self._chunks.append(pack_control(msg))
        if not self._scheduled:
            self._scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    def take_dropped(self, session_no: int) -> dict[str, int]:
        """What of a session was dropped while the store failed (forgotten once taken)."""
        return self.dropped.pop(session_no, Dropped()).as_dict()

    def pending_bytes(self) -> int:
        """Bytes held in memory for the writer (the pipe being full; a spill file's are
        :meth:`spilled_unread`)."""
        return self._backlog_bytes

    def spilled_unread(self) -> int:
        """Bytes of the current spill file the writer has not read yet."""
        spill = self._spill
        return spill.queued - self._spill_read if spill is not None else 0

    @property
    def spilling(self) -> bool:
        """Whether records go to a spill file now (the writer is behind)."""
        return self._spill is not None

    def _flush(self) -> None:
        self._scheduled = False
        if not self._chunks:
            return
        data = b"".join(self._chunks)
        self._chunks.clear()
        if self._fd is None or not self._alive:
            return
        self._send(data)

    def _queue_large(self, header: bytes, data: bytes | bytearray) -> None:
        """Send a large frame behind everything queued before, its payload from its own
        buffer: no copy of it is made here."""
        self._flush()
        if self._fd is None or not self._alive:
            return
        self._send(header, boundary=False)
        self._send(memoryview(data))

    def _send(self, data: bytes | bytearray | memoryview, boundary: bool = True) -> None:
        """Hand ``data`` on in order: to the spill file while spilling, else what the pipe
        takes now, the rest kept in the backlog. Once more than ``spill_at`` waits there,
        at a record boundary (``data`` ends one), what follows goes to a spill file."""
        if self._spill is not None:
            self._to_spill(data)
            return
        rest = self._to_pipe(data)
        if rest is None:
            return
        self._hold(rest)  # a record begun on the pipe ends there
        if boundary and self.spill_dir is not None and self.store_ok \
                and self._backlog_bytes > self.spill_at:
            self._start_spill()

    def _to_pipe(self, data: bytes | bytearray | memoryview
                 ) -> bytes | bytearray | memoryview | None:
        """Write what the pipe takes now, in order; the rest (None: nothing left)."""
        if self._backlog:
            return data
        sent = self._write(data)
        return None if sent == len(data) else memoryview(data)[sent:]

    def _hold(self, data: bytes | bytearray | memoryview) -> None:
        """Keep ``data`` in the backlog until the pipe takes it."""
        self._backlog.append(data)
        self._backlog_bytes += len(data)
        self._queued()

    def _write(self, data: bytes | bytearray | memoryview) -> int:
        """Write what the pipe takes without waiting (0 once the writer is gone)."""
        if self._fd is None:
            return 0
        try:
            return os.write(self._fd, data)
        except BlockingIOError:
            return 0
        except OSError:  # the writer is gone: _read_reports sees it exit
            return len(data)

    def _queued(self) -> None:
        """Apply backpressure past ``high_water``; feed the backlog as the pipe takes it."""
        if not self.paused and self.store_ok and self._backlog_bytes > self.high_water:
            self.paused = True
            self.pauses += 1
            for reader in list(self.readers):
                reader.update_reading()
        if self._backlog and not self._watching and self._fd is not None:
            assert self._loop is not None
            self._loop.add_writer(self._fd, self._on_writable)
            self._watching = True

    def _on_writable(self) -> None:
        """The pipe takes more: move the backlog into it, ``PIPE_CHUNK`` at a time; lift
        backpressure once no more than half of ``high_water`` waits."""
        while self._backlog:
            head = self._backlog[0]
            piece = memoryview(head)[:PIPE_CHUNK]
            sent = self._write(piece)
            if sent == 0:
                break
            self._backlog_bytes -= sent
            if sent == len(head):
                self._backlog.popleft()
            else:
                self._backlog[0] = memoryview(head)[sent:]
        if not self._backlog:
            self._stop_watching()
        if self.paused and self._backlog_bytes <= self.high_water // 2:
            self._resume_readers()

    def _stop_watching(self) -> None:
        if self._watching and self._fd is not None and self._loop is not None:
            self._loop.remove_writer(self._fd)
        self._watching = False

    def _close_fd(self) -> None:
        self._stop_watching()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    # spilling ------------------------------------------------------------------------

    def _start_spill(self) -> None:
        """Send what follows to a new spill file (announced on the pipe, after the backlog)."""
        assert self.spill_dir is not None
        path = self.spill_dir / spill_name(self.recorder_id, self.spills + 1)
        try:
            spill = SpillFile(path)
        except OSError as exc:
            logger.error("cannot create a spill file in %s (%s): the relay waits for the "
                         "writer instead", self.spill_dir, exc.strerror or exc)
            self.spill_dir = None
            return
        rest = self._to_pipe(pack_control(Spill(str(path))))  # after what the backlog holds
        if rest is not None:
            self._hold(rest)
        self._spill, self._spill_read = spill, 0
        self._spill_started = time.monotonic()
        self.spills += 1
        say = logger.warning if not self._spill_warned else logger.debug
        say("recording is behind (%.1f MB wait for the writer): spilling to %s; relaying "
            "goes on at full speed and the writer catches up from the file",
            self.pending_bytes() / 1e6, path)

    def _to_spill(self, data: bytes | bytearray | memoryview) -> None:
        spill = self._spill
        assert spill is not None
        spill.append(data)
        if spill.failed is not None:
            logger.error("cannot write the spill file %s (%s): frames after it are lost; "
                         "the relay waits for the writer instead", spill.path, spill.failed)
            self.spill_dir = None
            self._end_spill()

    def _spill_progress(self, report: dict[str, Any]) -> None:
        """The writer's position in the spill file: go back to the pipe once it is close."""
        spill = self._spill
        if spill is None or report.get("path") != str(spill.path):
            return
        self._spill_read = int(report.get("offset", 0))
        if spill.queued - self._spill_read <= SPILL_RESUME:
            self._end_spill()

    def _finish_spill(self) -> SpillFile | None:
        """Stop spilling: the thread writes what is queued, then closes the file."""
        spill, self._spill = self._spill, None
        if spill is not None:
            spill.finish()
        return spill

    def _end_spill(self) -> None:
        """Close the spill file and say on the pipe where it ends; the pipe takes over."""
        spill = self._finish_spill()
        if spill is None:
            return
        size = spill.written if spill.failed is not None else spill.queued
        self._send(pack_control(SpillEnd(str(spill.path), size)))
        say = logger.warning if not self._spill_warned else logger.debug
        self._spill_warned = True
        say("recording caught up after %.1f s behind (%.1f MB spilled)",
            time.monotonic() - self._spill_started, spill.queued / 1e6)

    async def _close_spill(self) -> bytes | None:
        """At shutdown: the spill file written out, and its end record (None: no spill)."""
        spill = self._finish_spill()
        if spill is None:
            return None
        await asyncio.to_thread(spill.join)
        return pack_control(SpillEnd(str(spill.path), spill.written))

    def _drop_spill(self) -> None:
        """The writer died: its spill file is abandoned (its frames count as lost)."""
        spill = self._finish_spill()
        if spill is not None:
            with contextlib.suppress(OSError):
                spill.path.unlink()

    def _resume_readers(self) -> None:
        if self.paused:
            self.paused = False
            for reader in list(self.readers):
                reader.update_reading()
