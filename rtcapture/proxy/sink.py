"""The relay's end of the record stream: batches records into the writer process's pipe.

Per frame the relay only packs a header and appends two byte strings to a list; one
``write`` per event-loop iteration hands the batch to the pipe. If the writer falls
behind, the pipe buffer grows to ``high_water`` and then every relay leg stops reading
(backpressure) until it drains: memory stays bounded and nothing is dropped. If the
writer process dies, frames are counted as lost, stderr says so once, and it is restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import StoreError
from ..store.stream import pack_control, pack_frame

logger = logging.getLogger("rtcapture.sink")

class Reader(Protocol):
    """A relay leg that stops reading while the sink is paused."""

    def update_reading(self) -> None: ...


HIGH_WATER = 64 << 20
"""Bytes buffered towards the writer before the relay applies backpressure."""
RESTART_DELAY_S = 1.0


class WriterSink:
    """Feeds the writer process and relays its status reports."""

    def __init__(self, db_url: str, recorder_id: str, *,
                 on_report: Callable[[dict[str, Any]], None],
                 high_water: int = HIGH_WATER) -> None:
        self.db_url = db_url
        self.recorder_id = recorder_id
        self.on_report = on_report
        self.high_water = high_water
        self.proc: asyncio.subprocess.Process | None = None
        self.store_ok = True
        self.lost = 0
        self.paused = False
        self.pauses = 0
        """How many times backpressure was applied (reported in the summary)."""
        self.readers: set[Reader] = set()
        """Relay legs, told to re-check whether they may read when ``paused`` changes."""
        self._chunks: list[bytes] = []
        self._scheduled = False
        self._alive = False
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # lifecycle ----------------------------------------------------------------------

    async def start(self, timeout: float = 30.0) -> None:
        """Start the writer process and wait until it has opened the database."""
        self._loop = asyncio.get_running_loop()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rtcapture.store.writer",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.transport.set_write_buffer_limits(  # type: ignore[attr-defined]
            high=self.high_water, low=self.high_water // 2)
        self.proc.stdin.write(pack_control(
            {"op": "config", "db_url": self.db_url, "recorder_id": self.recorder_id}))
        try:
            async with asyncio.timeout(timeout):
                line = await self.proc.stdout.readline()
        except TimeoutError:
            line = b""
        if not line or json.loads(line).get("event") != "ready":
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
            elif kind == "store_ok":
                self.store_ok = True
            self.on_report(report)
        await proc.wait()
        self._alive = False
        if not self._closing:
            self.store_ok = False
            self.on_report({"event": "writer_died", "returncode": proc.returncode})
            self._resume_readers()
            await asyncio.sleep(RESTART_DELAY_S)  # back-off before restarting
            with contextlib.suppress(StoreError, OSError):
                await self.start()
                self.on_report({"event": "store_ok"})

    async def close(self, timeout: float = 60.0) -> dict[str, Any] | None:
        """Flush, tell the writer to finish, and wait for it to commit everything."""
        self._closing = True
        proc = self.proc
        if proc is None or proc.stdin is None:
            return None
        if self._alive:
            self._flush()
            with contextlib.suppress(ConnectionError, RuntimeError):
                proc.stdin.write(pack_control({"op": "shutdown"}))
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
              t_ns: int, wall_ns: int, data: bytes) -> None:
        """Queue one frame record (returns at once)."""
        if not self._alive:
            self.lost += 1
            return
        self._chunks.append(pack_frame(session_no, seq, server, binary, delivered, t_ns,
                                       wall_ns, data))
        self._chunks.append(data)
        if not self._scheduled:
            self._scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    def control(self, obj: dict[str, Any]) -> None:
        """Queue one control record (session begin/opened/end)."""
        if not self._alive:
            return
        self._chunks.append(pack_control(obj))
        if not self._scheduled:
            self._scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)

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
        try:
            transport.write(data)
        except (ConnectionError, RuntimeError):
            return
        if not self.paused and transport.get_write_buffer_size() > self.high_water:
            self.paused = True
            self.pauses += 1
            for reader in list(self.readers):
                reader.update_reading()
            self._spawn(self._wait_drained(proc))

    async def _wait_drained(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None
        with contextlib.suppress(ConnectionError):
            await proc.stdin.drain()
        self._resume_readers()

    def _resume_readers(self) -> None:
        if self.paused:
            self.paused = False
            for reader in list(self.readers):
                reader.update_reading()
