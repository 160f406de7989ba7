"""Run ``rtcapture record`` as a real process and read its address."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import dataclass, field

_URL = re.compile(rb"recording on (wss?://[\d.]+:\d+)")


@dataclass
class RecorderProcess:
    """A running recorder process and everything it printed."""

    proc: asyncio.subprocess.Process
    url: str
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def _pump(self, stream: asyncio.StreamReader, sink: bytearray) -> None:
        while chunk := await stream.read(65536):
            sink.extend(chunk)

    def start_pumps(self) -> None:
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._tasks = [asyncio.create_task(self._pump(self.proc.stdout, self.stdout)),
                       asyncio.create_task(self._pump(self.proc.stderr, self.stderr))]

    async def wait_output(self, needle: bytes, timeout: float) -> None:
        """Wait until stdout contains ``needle``."""
        async with asyncio.timeout(timeout):
            while needle not in self.stdout:
                await asyncio.sleep(0.02)  # polling a pipe buffer, not synchronising peers

    async def stop(self, timeout: float = 30.0) -> int:
        """SIGINT (Ctrl-C), then wait for exit and the end of its output."""
        if self.proc.returncode is None:
            self.proc.send_signal(2)
        async with asyncio.timeout(timeout):
            code = await self.proc.wait()
            await asyncio.gather(*self._tasks)
        return code


async def start_recorder(db_url: str, upstream: str, *args: str, global_args: tuple[str, ...] = (),
                         prefix: tuple[str, ...] = (), timeout: float = 30.0) -> RecorderProcess:
    """Start ``rtcapture record`` on a free port and wait for its listening line."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        *prefix, sys.executable, "-m", "rtcapture", "--db", db_url, *global_args, "record",
        "--listen", "127.0.0.1:0", "--upstream", upstream, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        start_new_session=True)
    assert proc.stdout is not None
    first = b""
    async with asyncio.timeout(timeout):
        while not (match := _URL.search(first)):
            line = await proc.stdout.readline()
            if not line:
                err = await proc.stderr.read() if proc.stderr else b""
                raise RuntimeError(f"recorder exited: {err.decode(errors='replace')}")
            first += line
    rp = RecorderProcess(proc, match.group(1).decode(), stdout=bytearray(first))
    rp.start_pumps()
    return rp
