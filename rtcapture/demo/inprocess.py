"""A deterministic client for the sample cassettes: the mock's connection driven directly,
in-process, on a virtual clock.

Over a socket, where a server event lands among the client's sends depends on scheduling.
Here the mock handles each client frame completely before it sees the next one (unpaced
replies), so every server frame follows the client frame that caused it, exactly where a
real-time client would see it; and the virtual clock stamps every frame with the same time
on every run. Only the flows' ``pause_until`` (streaming audio at real time) and a small
fixed step per server frame move the clock.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass

from ..mock.connection import MockConnection
from ..mock.scenario import Scenario
from ..protocol import ClosedBy, Direction, Flavour, is_delta_type, parse_frame
from .client import Event, FlowError, VirtualClock

SERVER_STEP_MS = 1.0
"""Virtual time between consecutive server frames."""
FIRST_DELTA_MS = 200.0
"""Virtual time a response "thinks" before its first delta (text, audio or arguments)."""
SETTLE_ROUNDS = 8
"""Event-loop turns given to a paced reply's task to reach its next wait."""
RECV_TIMEOUT_S = 30.0
"""Real time ``recv`` waits for a paced reply before the flow is declared stuck."""


@dataclass(frozen=True, slots=True)
class LoggedFrame:
    """One frame of the session, as a recorder in the middle would have stored it."""

    direction: Direction
    t_ns: int
    data: bytes


class _Pipe:
    """Stands in for the server side's WebSocket: what the mock sends goes to the client."""

    def __init__(self, client: InProcessClient) -> None:
        self._client = client

    async def send(self, message: bytes | str, text: bool | None = None) -> None:
        self._client._server_frame(message.encode() if isinstance(message, str) else message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self._client._server_closed(code, reason)


class InProcessClient:
    """A :class:`~rtcapture.demo.client.RealtimeClient` whose server is a ``MockConnection``
    in the same event loop; ``frames`` is the session's frame log."""

    name = "in-process client"

    def __init__(self, scenario: Scenario, flavour: Flavour, *, seed: int = 0,
                 model: str | None = None, connection: int = 0) -> None:
        self.flavour = flavour
        self.clock = VirtualClock()
        self.frames: list[LoggedFrame] = []
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.closed_by: ClosedBy | None = None
        self._unread: deque[tuple[LoggedFrame, Event]] = deque()
        self._arrived = asyncio.Event()
        self._delta_seen: set[str] = set()
        # The handshake decides the dialect for beta clients (OpenAI-Beta header); a GA
        # client's handshake says nothing, as over a real socket.
        self.conn = MockConnection(_Pipe(self), scenario=scenario, seed=seed,  # type: ignore[arg-type]
                                   fast=False, flavour=flavour if flavour is Flavour.BETA
                                   else None, model=model, connection=connection)

    async def start(self) -> None:
        """The server's opening events (``session.created``, ...)."""
        await self.conn.start()

    # ------------------------------------------------------------------ server side

    def _server_frame(self, data: bytes) -> None:
        if self.closed_by is not None:
            return
        parsed = parse_frame(data)
        response_id = parsed.response_id
        self.clock.advance(SERVER_STEP_MS)
        if is_delta_type(parsed.type) and response_id and response_id not in self._delta_seen:
            self._delta_seen.add(response_id)
            self.clock.advance(FIRST_DELTA_MS)
        frame = LoggedFrame(Direction.SERVER, self._now_ns(), data)
        self.frames.append(frame)
        if parsed.event is not None:
            self._unread.append((frame, parsed.event))
        self._arrived.set()

    def _server_closed(self, code: int, reason: str) -> None:
        if self.closed_by is None:
            self.closed_by, self.close_code, self.close_reason = ClosedBy.SERVER, code, reason
        self._arrived.set()

    # ------------------------------------------------------------------ client side

    def _now_ns(self) -> int:
        return round(self.clock.now_ms() * 1_000_000)

    async def _settle(self) -> None:
        """Let paced replies' tasks run up to their next wait (no real time passes)."""
        for _ in range(SETTLE_ROUNDS):
            await asyncio.sleep(0)

    async def send(self, event: Event) -> None:
        if self.closed_by is not None:
            raise FlowError("the connection is closed")
        await self._settle()
        data = json.dumps(event)
        self.frames.append(LoggedFrame(Direction.CLIENT, self._now_ns(), data.encode()))
        await self.conn.on_frame(data)
        await self._settle()

    async def recv(self) -> Event:
        if not self._unread:
            await self._settle()
        while not self._unread:
            if self.closed_by is not None:
                raise FlowError("the server closed the connection")
            self._arrived.clear()
            try:
                async with asyncio.timeout(RECV_TIMEOUT_S):
                    await self._arrived.wait()
            except TimeoutError:
                raise FlowError(f"the mock sent nothing for {RECV_TIMEOUT_S:g} s") from None
        return self._unread.popleft()[1]

    async def recv_before(self, t_ms: float) -> Event | None:
        if self._unread:
            return self._unread.popleft()[1]
        await self.clock.pause_until(t_ms)
        return None

    def pending(self) -> list[Event]:
        out = [event for _, event in self._unread]
        self._unread.clear()
        return out

    async def abort(self) -> None:
        """The connection drops: frames the client never read were never recorded."""
        lost = {id(frame) for frame, _ in self._unread}
        self.frames = [f for f in self.frames if id(f) not in lost]
        self._unread.clear()
        self.closed_by, self.close_code = ClosedBy.SERVER, 1006
        self.close_reason = "connection lost"
        await self.conn.shutdown()

    async def close(self) -> None:
        """A normal close by the client (1000)."""
        if self.closed_by is None:
            self.closed_by, self.close_code, self.close_reason = ClosedBy.CLIENT, 1000, ""
        await self.conn.shutdown()
