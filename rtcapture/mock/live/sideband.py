"""The Live mock's sideband: ``…/live/sessions/{session_id}/attach`` observes a session the
mock serves on a primary connection and may send it commands.

On attach the sideband gets ``session.started`` (the session as it stands), then every
server event of the session from that point; the audio of both directions is reflected
as PCM16 24 kHz (``session.input_audio.append`` as received, before mute, and
``session.output_audio.delta`` with ``start_ms``/``end_ms``). Its commands act on the
session; their acknowledgements go to every connection, an ``error`` only to the sender.
``session.closed`` (a ``session.close`` from either side, a scenario close, or
``connection_lost`` when the primary drops) ends every connection; a sideband that goes
away leaves the session running. An unknown session id gets ``error
{code: session_not_found}`` and close 1008.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ...codec import encode_samples, resample
from ...protocol import PCM16, AudioFormat, live
from ..ids import IdFactory
from .schema import SIDEBAND_EVENTS, LiveError

if TYPE_CHECKING:
    from .connection import LiveMockConnection

log = logging.getLogger("rtcapture.mock")


def reflected_audio(samples: np.ndarray, fmt: AudioFormat, data: bytes | None = None) -> str:
    """Base64 PCM16 24 kHz of ``samples`` (``data``: their bytes when ``fmt`` already is
    PCM16 24 kHz, passed on unchanged)."""
    if data is None or fmt != PCM16:
        data = encode_samples(resample(samples, fmt.rate, live.SIDEBAND_FORMAT_RATE), PCM16)
    return base64.b64encode(data).decode()


class LiveSessions:
    """The started Live sessions of one mock, by session id (what attach looks up)."""

    def __init__(self) -> None:
        self.by_id: dict[str, LiveMockConnection] = {}

    def add(self, conn: LiveMockConnection) -> None:
        self.by_id[conn.session_id] = conn

    def drop(self, conn: LiveMockConnection) -> None:
        if self.by_id.get(getattr(conn, "session_id", "")) is conn:
            del self.by_id[conn.session_id]

    def __contains__(self, session_id: str) -> bool:
        return session_id in self.by_id


class Sidebands:
    """The sideband connections attached to one session; fans server events out."""

    def __init__(self) -> None:
        self.attached: list[SidebandConnection] = []
        self.ever: list[SidebandConnection] = []
        """Every sideband that attached (tests read their frames)."""

    def __bool__(self) -> bool:
        return bool(self.attached)

    def attach(self, sideband: SidebandConnection) -> None:
        self.attached.append(sideband)
        self.ever.append(sideband)

    def detach(self, sideband: SidebandConnection) -> None:
        if sideband in self.attached:
            self.attached.remove(sideband)

    async def publish(self, data: bytes) -> None:
        """Send one frame to every attached sideband; a gone one is dropped."""
        for sideband in list(self.attached):
            try:
                await sideband.send_raw(data)
            except ConnectionClosed:
                self.detach(sideband)

    async def close_all(self) -> None:
        """End every attached sideband (the session has closed)."""
        for sideband in list(self.attached):
            self.detach(sideband)
            await sideband.close()


class SidebandConnection:
    """One attached sideband: receives the session's events, forwards its commands."""

    def __init__(self, ws: ServerConnection, primary: LiveMockConnection, *,
                 graceful: bool) -> None:
        self.ws = ws
        self.primary = primary
        self.graceful = graceful
        """``graceful_close=true``: close 1000 with a handshake, else an empty close
        frame (the client reads 1005, as reported for the service)."""
        self.keep = primary.keep_sent
        self.sent: list[bytes] = []
        self.received: list[bytes] = []

    async def send_raw(self, data: bytes) -> None:
        if self.keep:
            self.sent.append(data)
        await self.ws.send(data.decode("utf-8"), text=True)

    async def send_error(self, body: dict[str, Any]) -> None:
        """An ``error`` for this sideband's own command (no one else sees it)."""
        await self.send_raw(self.primary.frame({"type": live.ERROR, "error": body}))

    async def run(self) -> None:
        """``session.started`` at once, then the session's events until it closes."""
        primary = self.primary
        try:
            async with primary.lock:  # nothing of the session slips in before it
                await self.send_raw(primary.frame({"type": live.SESSION_STARTED,
                                                   "session": primary.resource()}))
                primary.sidebands.attach(self)
            async for message in self.ws:
                if self.keep:
                    self.received.append(message.encode() if isinstance(message, str)
                                         else message)
                await primary.on_frame(message, allowed=SIDEBAND_EVENTS,
                                       reply=self.send_error)
                if primary.closed:
                    break
        except ConnectionClosed:
            pass
        finally:
            primary.sidebands.detach(self)

    async def close(self) -> None:
        try:
            if self.graceful:
                await self.ws.close(1000)
            else:
                await self.ws.close(None)  # type: ignore[arg-type]  # empty close frame
        except ConnectionClosed:
            pass


async def serve_attach(ws: ServerConnection, sessions: LiveSessions, path: str) -> None:
    """Serve one attach request: the sideband of a running session, else the refusal."""
    session_id = live.attach_target(path) or ""
    primary = sessions.by_id.get(session_id)
    if primary is None or primary.closed:
        error = LiveError(live.ERROR_SESSION_NOT_FOUND,
                          f"Session {session_id!r} not found.", None)
        event_id = IdFactory(f"attach/{session_id}").new("event")
        await ws.send(json.dumps({"type": live.ERROR, "event_id": event_id,
                                  "error": error.body(None)}, separators=(",", ":")),
                      text=True)
        await ws.close(live.CLOSE_POLICY, "session not found")
        return
    await SidebandConnection(ws, primary, graceful=live.graceful_close(path)).run()
