"""The replay's connection to its target, behind one small interface per transport.

The driver (:mod:`.driver`) paces frames and translates ids; a :class:`Connection` carries
them: :func:`open_websocket` over a WebSocket, ``rtcapture.replay.webrtc_call`` over a WebRTC
call. Each says what it did with a frame (:meth:`Connection.send` returns what to store,
or None when the frame has no place on this transport), so a recording made over one
transport can be replayed over the other:

- over a WebSocket, a WebRTC recording's input media rows go out as the
  ``input_audio_buffer.append`` events they stand for, and WebRTC-only client events
  (``output_audio_buffer.clear``) are left out;
- over WebRTC, input audio (media rows or appends) goes on the call's audio track.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Protocol
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from .. import __version__
from ..errors import UsageError
from ..protocol import OUTPUT_AUDIO_BUFFER_CLEAR, Opcode, Transport
from ..protocol.webrtc import is_calls_path
from .target import TargetPlan

CLOSE_TIMEOUT_S = 2.0
WEBRTC_ONLY_CLIENT = frozenset({OUTPUT_AUDIO_BUFFER_CLEAR})
"""Client events that only exist on a WebRTC call."""


class ReplayFailed(Exception):
    """The target failed (refused, unreachable, silent, closed early): exit 3."""


class ConnectionGone(Exception):
    """The target closed the connection while a frame was being sent."""


Sent = tuple[str, bytes]
"""(opcode, data) of a frame as it went out, to store."""
Received = tuple[str, bytes, int | None, int | None]
"""(opcode, data, monotonic_ns, seq) of a server frame; None: stamp or number it now
(media rows carry the time and number of their first audio frame)."""


class Connection(Protocol):
    """An open connection to the replay's target."""

    subprotocol: str | None
    close_code: int | None
    close_reason: str | None

    def received(self) -> AsyncIterator[Received]:
        """Server frames until the connection ends."""
        ...

    async def send(self, opcode: str, data: bytes, event_type: str | None) -> Sent | None:
        """Send one client frame; what went out, or None if it has no place here.
        Raises :class:`ConnectionGone`."""
        ...

    async def close(self, abort: bool) -> None:
        """Close (``abort``: drop it at once); returns once closed or after a grace period."""
        ...


Opener = Callable[[TargetPlan, float], Awaitable[Connection]]
"""Opens a connection to a target within a timeout; raises :class:`ReplayFailed`."""


def failure_reason(exc: BaseException) -> str:
    """A short reason for a connection failure."""
    if isinstance(exc, socket.gaierror) and exc.strerror:
        return exc.strerror
    if isinstance(exc, OSError) and exc.errno and exc.errno > 0:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


class WebSocketConnection:
    """A replay over a WebSocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.subprotocol: str | None = ws.subprotocol
        self.close_code: int | None = None
        self.close_reason: str | None = None

    async def received(self) -> AsyncIterator[Received]:
        try:
            async for message in self.ws:
                if isinstance(message, str):
                    yield Opcode.TEXT, message.encode("utf-8"), None, None
                else:
                    yield Opcode.BINARY, bytes(message), None, None
        except ConnectionClosed:
            pass
        finally:
            self.close_code, self.close_reason = self.ws.close_code, self.ws.close_reason

    async def send(self, opcode: str, data: bytes, event_type: str | None) -> Sent | None:
        if event_type in WEBRTC_ONLY_CLIENT:
            return None
        if opcode == Opcode.MEDIA:  # a WebRTC recording's track audio, as its append event
            opcode = Opcode.TEXT
        try:
            await self.ws.send(data, text=opcode != Opcode.BINARY)
        except ConnectionClosed:
            raise ConnectionGone from None
        return opcode, data

    async def close(self, abort: bool) -> None:
        if abort:
            self.ws.transport.abort()
        else:
            with contextlib.suppress(Exception):  # closing a broken connection
                await self.ws.close()
        self.close_code, self.close_reason = self.ws.close_code, self.ws.close_reason


async def open_websocket(target: TargetPlan, timeout_s: float) -> Connection:
    """Connect to ``target.url`` over a WebSocket."""
    try:
        ws = await connect(
            target.url, additional_headers=target.headers,
            subprotocols=target.subprotocols or None,  # type: ignore[arg-type]
            max_size=None, compression=None, open_timeout=timeout_s,
            close_timeout=CLOSE_TIMEOUT_S, ping_interval=None, proxy=None,
            user_agent_header=f"rtcapture/{__version__} (replay)")
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise ReplayFailed(target.scrub(f"{target.url} refused the handshake with HTTP {status}"
                                        f"{first_line(exc.response.body)}")) from None
    except TimeoutError:
        raise ReplayFailed(target.scrub(f"{target.url} did not complete the handshake within "
                                        f"{timeout_s:g} s")) from None
    except (OSError, InvalidHandshake) as exc:
        raise ReplayFailed(target.scrub(f"cannot connect to {target.url}: "
                                        f"{failure_reason(exc)}")) from None
    return WebSocketConnection(ws)


def first_line(body: bytes | bytearray | None) -> str:
    """``": <first line of an error body>"`` (at most 200 characters), or ``""``."""
    lines = (body or b"").decode("utf-8", "replace").strip().splitlines()
    return f": {lines[0][:200]}" if lines else ""


def opener(transport: Transport, next_seq: Callable[[], int]) -> Opener:
    """How to connect over ``transport``; ``next_seq`` numbers the media rows a WebRTC
    call stores when their first audio frame arrives. WebRTC needs the ``webrtc`` extra
    (ImportError without it)."""
    if transport is Transport.WEBSOCKET:
        return open_websocket
    from .webrtc_call import open_call

    return partial(open_call, next_seq=next_seq)


def webrtc_missing() -> str | None:
    """Why a replay cannot run over WebRTC here (None when it can)."""
    try:
        import aiortc  # noqa: F401
        import av  # noqa: F401
    except ImportError:
        return "replaying over WebRTC needs the webrtc extra: pip install 'rtcapture[webrtc]'"
    return None


def check_transport(name: str) -> Transport:
    """``name`` as a usable :class:`Transport`, or a one-line :class:`UsageError`."""
    try:
        transport = Transport(name)
    except ValueError:
        raise UsageError(f"--transport must be websocket or webrtc, not {name!r}") from None
    if transport is Transport.WEBRTC and (problem := webrtc_missing()) is not None:
        raise UsageError(problem)
    return transport


def transport_path(path: str, transport: Transport, model: str | None = None) -> str:
    """A recorded path for ``transport``: a WebSocket path gets ``/calls`` for WebRTC
    (``/v1/realtime?model=m`` -> ``/v1/realtime/calls?model=m``), a call path loses it for
    a WebSocket (the model, if known and not in the query, goes into it)."""
    base, _, query = path.partition("?")
    calls = is_calls_path(path)
    if transport is Transport.WEBRTC and not calls:
        return base.rstrip("/") + "/calls" + (f"?{query}" if query else "")
    if transport is Transport.WEBSOCKET and calls:
        base = base.rstrip("/").removesuffix("/calls")
        if model and "model=" not in query:
            query = "&".join(q for q in (query, urlencode({"model": model})) if q)
        return base + (f"?{query}" if query else "")
    return path
