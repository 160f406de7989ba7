"""Playback: serve a recorded session's server frames back, byte-exact, in step with the client.

Each recorded server frame is sent once the client has sent as many frames as preceded it
in the recording, and after the recorded gap from the frame just before it (scaled by
1/speed; none when ``fast``). Frames go out with their recorded opcode and bytes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ..protocol import Direction, Opcode
from ..store.records import EventRecord, SessionRecord

NO_STATUS = 1005
"""Recorded when the server's close frame carried no code; played back as such a frame."""
ABNORMAL = 1006
"""Recorded when the server dropped the connection without a close frame; played back by
dropping the TCP connection."""

Close = tuple[int | None, str]
"""How playback ends after the last frame: close code (None: a close frame without one;
``ABNORMAL``: drop the connection) and reason."""


def recorded_close(record: SessionRecord) -> Close | None:
    """How the recorded server ended the session, or None when the client (or the
    recorder) ended it: playback then waits for the client to close."""
    if record.closed_by != "server" or record.close_code is None:
        return None
    if record.close_code == NO_STATUS:
        return None, ""
    return int(record.close_code), record.close_reason or ""


@dataclass(frozen=True, slots=True)
class Cue:
    """One server frame to send and what must happen first."""

    needs_clients: int
    """Client frames that preceded it in the recording."""
    t_ns: int
    ref_client: int | None
    """Index of the client frame right before it in the recording, when that is the
    nearest preceding frame of the two directions; the gap is measured from its arrival."""
    opcode: Opcode
    data: bytes


def build_cues(events: Sequence[EventRecord], client_media: bool = True) -> list[Cue]:
    """The server frames of a recording, with their client prerequisites (``client_media``
    False: the client's media rows are not counted, a WebRTC call's track has no frames)."""
    cues: list[Cue] = []
    clients = 0
    last_was_client = False
    for ev in sorted(events, key=lambda e: e.seq):
        if ev.direction == Direction.CLIENT and not client_media and ev.opcode == Opcode.MEDIA:
            continue
        if ev.direction == Direction.CLIENT:
            clients += 1
            last_was_client = True
            continue
        cues.append(Cue(clients, ev.t_ns, clients - 1 if last_was_client else None,
                        ev.opcode, ev.data))
        last_was_client = False
    return cues


def client_times(events: Sequence[EventRecord], client_media: bool = True) -> list[int]:
    """Recorded ``t_ns`` of each client frame, in order (``client_media``: as above)."""
    return [ev.t_ns for ev in sorted(events, key=lambda e: e.seq)
            if ev.direction == Direction.CLIENT and (client_media or ev.opcode != Opcode.MEDIA)]


class PlaybackSession:
    """Plays one recording to one client connection."""

    def __init__(self, ws: ServerConnection, cues: list[Cue], client_t_ns: list[int], *,
                 fast: bool, speed: float, close: Close | None) -> None:
        self.ws = ws
        self.cues = cues
        self.client_t_ns = client_t_ns
        self.fast = fast
        self.speed = speed if speed > 0 else 1.0
        self.close = close
        self.arrivals: list[float] = []
        self.gone = False
        """The client has closed (or dropped) the connection."""
        self._arrived = asyncio.Condition()

    async def _receive(self) -> None:
        try:
            async for _ in self.ws:
                async with self._arrived:
                    self.arrivals.append(time.monotonic())
                    self._arrived.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self.gone = True
            async with self._arrived:
                self._arrived.notify_all()

    def _joined(self, needs_clients: int) -> bool:
        """The recording's next step may go: that many client frames came, or the client left."""
        return len(self.arrivals) >= needs_clients or self.gone

    async def run(self) -> None:
        """Send every cue in order, then close as the recording did."""
        reader = asyncio.create_task(self._receive(), name="mock-playback-reader")
        try:
            ref_local, ref_t_ns = time.monotonic(), 0
            for cue in self.cues:
                async with self._arrived:
                    await self._arrived.wait_for(partial(self._joined, cue.needs_clients))
                if len(self.arrivals) < cue.needs_clients:
                    return  # the client left before the recording's next step
                if cue.ref_client is not None and cue.ref_client < len(self.client_t_ns):
                    ref_local = self.arrivals[cue.ref_client]
                    ref_t_ns = self.client_t_ns[cue.ref_client]
                if not self.fast:
                    target = ref_local + max(cue.t_ns - ref_t_ns, 0) / 1e9 / self.speed
                    delay = target - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await self.send(cue)
                ref_local, ref_t_ns = time.monotonic(), cue.t_ns
            if self.close is not None:
                await self._end(*self.close)
            await reader
        except ConnectionClosed:
            pass
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def send(self, cue: Cue) -> None:
        """Send one cue's frame (a WebRTC call plays media cues on its track)."""
        await self.ws.send(cue.data, text=cue.opcode != Opcode.BINARY)

    async def _end(self, code: int | None, reason: str) -> None:
        if code == ABNORMAL:
            self.ws.transport.abort()
        else:  # websockets sends a close frame without a code for None
            await self.ws.close(code, reason)  # type: ignore[arg-type]
