"""The address a test's client connects to: a TCP splice in front of the players and the
recorder, so one URL serves every connection of a test, each to the right place.

Connection ``n`` of the test goes, byte for byte, to whatever ``route(n)`` names (a
loopback port); ``None`` closes it at once (the problem is reported with the test).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

CHUNK = 1 << 16


async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(CHUNK):
            dst.write(data)
            await dst.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if dst.can_write_eof():
                dst.write_eof()
            else:
                dst.close()


class Front:
    """Listens on ``127.0.0.1:0``; ``connections`` counts the clients seen."""

    def __init__(self, route: Callable[[int], Awaitable[int | None]]) -> None:
        self.route = route
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._open.add(task)
        index = self.connections
        self.connections += 1
        try:
            port = await self.route(index)
            if port is None:
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
            finally:
                up_writer.close()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            self._open.discard(task)

    async def drained(self, timeout: float) -> bool:
        """Wait (up to ``timeout``) until every client connection has ended."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._open:
                    await asyncio.wait(set(self._open))
                return True
        return False

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._open):
                task.cancel()
            await asyncio.gather(*self._open, return_exceptions=True)
            await self._server.wait_closed()
