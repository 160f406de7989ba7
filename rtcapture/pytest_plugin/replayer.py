"""Serving one recorded session to the code under test, checking every client event.

The server side is the mock's playback (:class:`~rtcapture.mock.playback.PlaybackSession`:
recorded bytes, opcodes and pacing, each server frame sent once the client has sent the
frames that preceded it). Here its connection is wrapped so that each client frame is
matched against the cassette's next client frame first; the first mismatch ends the
connection (close code 1008) and is kept for the test's report.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

from ..mock.playback import PlaybackSession, build_cues, client_times, recorded_close
from ..mock.server import WS_LOG
from ..protocol import Direction, Opcode, parse_frame
from ..proxy.ingest import SessionTally
from ..store.records import EventRecord, SessionRecord
from .matcher import ClientMatcher, expected_client_frames

MISMATCH_CLOSE = 1008
"""Close code sent to the client when its event does not match the cassette (policy)."""


@dataclass
class EpisodeLog:
    """What happened on one replayed connection."""

    path: Path
    sent: int = 0
    matched: set[int] = field(default_factory=set)
    """Indices of the recorded client events the test has sent."""
    connected: bool = False
    problems: list[str] = field(default_factory=list)
    frames: list[EventRecord] = field(default_factory=list)


class _CheckedConnection:
    """The server connection as playback sees it: client frames pass only when they match."""

    def __init__(self, ws: ServerConnection, replay: EpisodeReplay) -> None:
        self.ws = ws
        self.replay = replay
        self.transport = ws.transport
        self._t0 = time.monotonic_ns()
        self._tally = SessionTally()

    def log(self, direction: Direction, data: bytes, binary: bool) -> None:
        log = self.replay.log
        log.frames.append(self._tally.build(
            "", len(log.frames), direction, time.monotonic_ns() - self._t0, time.time_ns(),
            Opcode.BINARY if binary else Opcode.TEXT, data))

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        log = self.replay.log
        async for message in self.ws:
            data = message.encode() if isinstance(message, str) else message
            self.log(Direction.CLIENT, data, isinstance(message, bytes))
            index = log.sent
            log.sent += 1
            problem = self.replay.match(index, data)
            if problem is not None:
                log.problems.append(problem)
                await self.ws.close(MISMATCH_CLOSE, "client event does not match the cassette")
                return
            yield message

    async def send(self, data: bytes, text: bool = True) -> None:
        await self.ws.send(data, text=text)
        self.log(Direction.SERVER, data, not text)

    async def close(self, code: int | None = 1000, reason: str = "") -> None:
        await self.ws.close(code, reason)  # type: ignore[arg-type]


def _type_of(data: bytes) -> str:
    return parse_frame(data).type or "not an event"


class EpisodeReplay:
    """A playback server for one recorded session of a cassette."""

    def __init__(self, path: Path, session: SessionRecord, events: Sequence[EventRecord],
                 matcher: ClientMatcher, *, fast: bool) -> None:
        self.session = session
        self.expected = expected_client_frames(events)
        self.matcher = matcher
        self.fast = fast
        self.log = EpisodeLog(path)
        self._cues = build_cues(events)
        self._client_t_ns = client_times(events)
        self._server: Server | None = None

    def match(self, index: int, data: bytes) -> str | None:
        """Take the recorded client event ``data`` matches; else the problem to report.

        The next unsent recorded event is tried first, then the few after it (clients
        such as the Agents SDK send some events from concurrent tasks, in either order).
        """
        log, expected = self.log, self.expected
        pending = [i for i in range(len(expected)) if i not in log.matched]
        if not pending:
            return (f"client event #{index} ({_type_of(data)}) was not in the recording: the "
                    f"cassette's {len(expected)} client events were all sent already")
        lines = self.matcher.mismatch(expected[pending[0]], data)
        chosen = pending[0] if not lines else next(
            (i for i in pending[1:self.matcher.reorder_window]
             if not self.matcher.mismatch(expected[i], data)), None)
        if chosen is None:
            nxt, got = expected[pending[0]], _type_of(data)
            which = "" if (nxt.index, nxt.type) == (index, got) else \
                f" (its client event #{nxt.index}, {nxt.type or 'a frame'})"
            return "\n".join([f"client event #{index} ({got}) does not match the cassette"
                              f"{which}:", *(f"  {line}" for line in lines)])
        log.matched.add(chosen)
        return None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen on an ephemeral loopback port."""
        recorded = self.session.subprotocol

        def select(ws: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
            return Subprotocol(recorded) if recorded is not None and recorded in offered \
                else None

        self._server = await serve(self._handle, "127.0.0.1", 0, max_size=None,
                                   select_subprotocol=select, close_timeout=2,
                                   logger=WS_LOG)

    async def _handle(self, ws: ServerConnection) -> None:
        self.log.connected = True
        checked: Any = _CheckedConnection(ws, self)  # duck-types the ServerConnection
        await PlaybackSession(checked, self._cues, self._client_t_ns, fast=self.fast,
                              speed=1.0, close=recorded_close(self.session)).run()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def unsent(self) -> str | None:
        """The problem of client events the test never sent, if any."""
        log = self.log
        missing = [e for e in self.expected if e.index not in log.matched]
        if log.problems or not missing:
            return None
        nxt = missing[0]
        where = ("the test never opened this connection" if not log.connected else
                 f"{len(log.matched)} of {len(self.expected)} sent")
        return (f"{len(missing)} recorded client events were never sent "
                f"({where}); next expected: client event #{nxt.index} "
                f"{nxt.data.decode('utf-8', 'replace')[:200]}")
