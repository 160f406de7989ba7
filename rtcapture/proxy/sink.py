"""The relay's end of the record stream: batches records into the writer process's pipe.

Per frame the relay only packs a header and appends two byte strings to a list; one
``write`` per event-loop iteration hands the batch to the pipe. When the writer falls
behind, batches wait in a backlog of their own (the pipe transport is kept under
``PIPE_CHUNK``: its buffer grows by copying, ours does not); once ``high_water`` bytes wait,
every relay leg stops reading (backpressure) until half of it has drained: memory stays
bounded and nothing is dropped. While the store itself has failed, frames past
``high_water`` are dropped and counted instead (open sessions keep relaying, they end
``incomplete``). If the writer process dies, frames are counted as lost, stderr says so
once, and it is restarted.

The writer runs in a process group of its own and ignores SIGINT, SIGTERM and SIGHUP: a
terminal's Ctrl-C (sent to the whole foreground group), a closed terminal and a service
manager's SIGTERM to every process must not end it before the recorder has handed it
everything. It ends when its stdin does (the recorder exited, even by ``kill -9``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from ..errors import StoreError
from ..protocol.sniff import LARGE_FRAME
from .controls import Config, Control, Shutdown
from .stream import pack_control, pack_frame

logger = logging.getLogger("rtcapture.sink")

class Reader(Protocol):
    """A relay leg that stops reading while the sink is paused."""

    def update_reading(self) -> None: ...


HIGH_WATER = 64 << 20
"""Bytes buffered towards the writer before the relay applies backpressure."""
PIPE_CHUNK = 1 << 20
"""At most about this much is handed to the pipe transport at a time (a quarter of
``high_water`` when that is smaller)."""
RESTART_DELAY_S = 1.0


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
                 high_water: int = HIGH_WATER) -> None:
        self.db_url = db_url
        self.recorder_id = recorder_id
        self.on_report = on_report
        self.high_water = high_water
        self.chunk = max(16 << 10, min(PIPE_CHUNK, high_water // 4))
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
        self._backlog: deque[bytes | memoryview] = deque()
        self._backlog_bytes = 0
        self._feeding = False
        self._scheduled = False
        self._alive = False
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # lifecycle ----------------------------------------------------------------------

    async def start(self, timeout: float = 30.0) -> None:
        """Start the writer process and wait until it has opened the database."""
        self._loop = asyncio.get_running_loop()
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "rtcapture.proxy.writer",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, process_group=0)
        except OSError as exc:
            raise StoreError(f"cannot start the writer process ({sys.executable}): "
                             f"{exc.strerror or exc}") from None
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.transport.set_write_buffer_limits(
            high=self.chunk // 2, low=self.chunk // 4)
        self._backlog.clear()
        self._backlog_bytes = 0
        self.proc.stdin.write(pack_control(Config(self.db_url, self.recorder_id)))
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
            self.on_report(report)
        await proc.wait()
        self._alive = False
        self._backlog.clear()  # the writer is gone: what waited for it is lost with it
        self._backlog_bytes = 0
        self._chunks.clear()
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
        if proc is None or proc.stdin is None:
            return None
        if self._alive:
            self._flush()
            with contextlib.suppress(ConnectionError, RuntimeError):
                while self._backlog:  # in order, before the shutdown record
                    proc.stdin.write(self._backlog.popleft())
                self._backlog_bytes = 0
                proc.stdin.write(pack_control(Shutdown()))
                await proc.stdin.drain()
            proc.stdin.close()
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
        self._chunks.append(pack_frame(session_no, seq, server, binary, delivered, t_ns,
                                       wall_ns, data, incomplete))
        if len(data) >= LARGE_FRAME:  # queued as slices of itself, never joined
            self._queue_large(data)
            return
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
        """Bytes handed over but not yet read by the writer (pipe transport and backlog)."""
        proc = self.proc
        size = proc.stdin.transport.get_write_buffer_size() \
            if proc is not None and proc.stdin is not None else 0
        return size + self._backlog_bytes

    def _flush(self) -> None:
        self._scheduled = False
        if not self._chunks:
            return
        data = b"".join(self._chunks)
        self._chunks.clear()
        proc = self.proc
        if proc is None or proc.stdin is None or not self._alive:
            return
        transport = proc.stdin.transport
        if self._backlog or transport.get_write_buffer_size() >= self.chunk:
            self._backlog.append(data)
            self._backlog_bytes += len(data)
        else:
            try:
                transport.write(data)
            except (ConnectionError, RuntimeError):
                return
        self._queued(proc)

    def _queue_large(self, data: bytes | bytearray) -> None:
        """Queue a large payload (its header is the last of ``_chunks``) as ``chunk``-long
        slices of itself behind everything queued before: no copy of it is made here, and
        the pipe transport never holds more than about ``chunk`` of it."""
        self._flush()
        proc = self.proc
        if proc is None or proc.stdin is None or not self._alive:
            return
        view = memoryview(data)
        for at in range(0, len(view), self.chunk):
            self._backlog.append(view[at:at + self.chunk])
        self._backlog_bytes += len(view)
        self._queued(proc)

    def _queued(self, proc: asyncio.subprocess.Process) -> None:
        """Apply backpressure past ``high_water``; start feeding the backlog to the pipe."""
        if not self.paused and self.store_ok and self.pending_bytes() > self.high_water:
            self.paused = True
            self.pauses += 1
            for reader in list(self.readers):
                reader.update_reading()
        if (self._backlog or self.paused) and not self._feeding:
            self._feeding = True
            self._spawn(self._feed(proc))

    async def _feed(self, proc: asyncio.subprocess.Process) -> None:
        """Move the backlog into the pipe as the writer reads it, ``chunk`` bytes at a time;
        lift backpressure once no more than half of ``high_water`` waits."""
        assert proc.stdin is not None
        transport = proc.stdin.transport
        try:
            while (self._backlog or self.paused) and proc is self.proc and self._alive:
                await proc.stdin.drain()  # waits while the transport holds over chunk/2
                while self._backlog and transport.get_write_buffer_size() < self.chunk:
                    data = self._backlog.popleft()
                    self._backlog_bytes -= len(data)
                    transport.write(data)
                if self.paused and self.pending_bytes() <= self.high_water // 2:
                    self._resume_readers()
        except (ConnectionError, RuntimeError):
            pass
        finally:
            self._feeding = False

    def _resume_readers(self) -> None:
        if self.paused:
            self.paused = False
            for reader in list(self.readers):
                reader.update_reading()
