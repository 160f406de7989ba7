"""The tiny client interface the scripted flows talk to, and its network implementations.

A flow needs a few things: ``send(event)``, ``recv()`` (the next server event, waiting),
``recv_before(t)`` and ``pending()`` (what arrives while the client streams audio, so it
can react at once) and a clock (``now_ms`` / ``pause_until``, to stream audio at
real time). Two implementations speak over a real WebSocket: the ``openai`` SDK when it is
installed (an optional extra) and a built-in ``websockets`` client; ``inprocess`` has a
third, deterministic one for the sample cassettes.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from ..protocol import Flavour

Event = dict[str, Any]
USER_AGENT = "rtcapture-demo"
DEMO_API_KEY = "sk-demo-not-a-real-key"
"""Sent to the mock (which accepts any key); the recorder stores only its redacted marker."""
GA_MODEL = "gpt-realtime"
BETA_MODEL = "gpt-4o-realtime-preview"
CLIENT_KINDS = ("auto", "sdk", "builtin")


class FlowError(Exception):
    """The session did not go as scripted (the server answered something unexpected)."""


class Clock(Protocol):
    """Time as a flow sees it, in ms since the connection opened."""

    def now_ms(self) -> float: ...

    async def pause_until(self, t_ms: float) -> None: ...


class RealClock:
    """Wall time: ``pause_until`` sleeps, so audio is streamed at real time."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def now_ms(self) -> float:
        return (time.monotonic() - self._t0) * 1000.0

    async def pause_until(self, t_ms: float) -> None:
        delay = (t_ms - self.now_ms()) / 1000.0
        if delay > 0:
            await asyncio.sleep(delay)


class VirtualClock:
    """A clock that only moves when told: no waiting, the same times on every run."""

    def __init__(self) -> None:
        self.ms = 0.0

    def now_ms(self) -> float:
        return self.ms

    def advance(self, ms: float) -> None:
        self.ms += ms

    async def pause_until(self, t_ms: float) -> None:
        self.ms = max(self.ms, t_ms)


class RealtimeClient(Protocol):
    """What a flow drives: one Realtime connection."""

    name: str
    """Shown in the demo's tour ("openai SDK", "built-in client")."""
    flavour: Flavour

    @property
    def clock(self) -> Clock: ...

    async def send(self, event: Event) -> None: ...

    async def recv(self) -> Event: ...

    async def recv_before(self, t_ms: float) -> Event | None:
        """The next server event if one arrives before ``t_ms`` on the clock; else None,
        once the clock reached ``t_ms``."""
        ...

    def pending(self) -> list[Event]: ...

    async def abort(self) -> None: ...

    async def close(self) -> None: ...


class _QueuedClient:
    """A reader task fills a queue; ``recv`` waits on it, ``pending`` drains it."""

    name = "client"

    def __init__(self, flavour: Flavour, clock: Clock, timeout_s: float) -> None:
        self.flavour = flavour
        self.clock = clock
        self.timeout_s = timeout_s
        self._queue: asyncio.Queue[Event | BaseException] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    def _start_reader(self, receive: Callable[[], Awaitable[bytes | str]]) -> None:
        async def read() -> None:
            try:
                while True:
                    raw = await receive()
                    event = json.loads(raw)
                    if isinstance(event, dict):
                        self._queue.put_nowait(event)
            except (ConnectionClosed, asyncio.CancelledError):
                self._queue.put_nowait(FlowError("the server closed the connection"))
                raise
            except Exception as exc:  # noqa: BLE001 - handed to the flow waiting in recv()
                self._queue.put_nowait(FlowError(f"cannot read from the server: {exc}"))

        self._reader = asyncio.create_task(read(), name=f"rtcapture-demo-{self.name}-reader")

    def _unpack(self, item: Event | BaseException) -> Event:
        if isinstance(item, BaseException):
            self._queue.put_nowait(item)  # every later recv() fails the same way
            raise item
        return item

    async def recv(self) -> Event:
        try:
            async with asyncio.timeout(self.timeout_s):
                item = await self._queue.get()
        except TimeoutError:
            raise FlowError(f"the server sent nothing for {self.timeout_s:g} s") from None
        return self._unpack(item)

    async def recv_before(self, t_ms: float) -> Event | None:
        if not self._queue.empty():
            return self._unpack(self._queue.get_nowait())
        remaining = (t_ms - self.clock.now_ms()) / 1000.0
        if not isinstance(self.clock, RealClock) or remaining <= 0:
            await self.clock.pause_until(t_ms)
            return None
        try:
            async with asyncio.timeout(remaining):
                item = await self._queue.get()
        except TimeoutError:
            return None
        return self._unpack(item)

    def pending(self) -> list[Event]:
        out = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, BaseException):
                self._queue.put_nowait(item)
                break
            out.append(item)
        return out

    async def _stop_reader(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader


class BuiltinClient(_QueuedClient):
    """rtcapture's own client on ``websockets``: works without the ``openai`` SDK."""

    name = "built-in client"

    def __init__(self, ws: ClientConnection, flavour: Flavour, clock: Clock,
                 timeout_s: float) -> None:
        super().__init__(flavour, clock, timeout_s)
        self.ws = ws
        self._start_reader(lambda: ws.recv(decode=False))

    @classmethod
    async def connect(cls, base_url: str, flavour: Flavour, clock: Clock, *,
                      timeout_s: float = 10.0) -> BuiltinClient:
        """Open ``BASE/v1/realtime?model=...`` as the SDKs do (key header, beta header)."""
        model = BETA_MODEL if flavour is Flavour.BETA else GA_MODEL
        headers = {"Authorization": f"Bearer {DEMO_API_KEY}"}
        if flavour is Flavour.BETA:
            headers["OpenAI-Beta"] = "realtime=v1"
        try:
            ws = await connect(f"{base_url}/v1/realtime?model={model}",
                               additional_headers=headers, user_agent_header=USER_AGENT,
                               max_size=None, compression=None, open_timeout=timeout_s,
                               proxy=None)
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise FlowError(f"cannot connect to {base_url}: {exc}") from None
        return cls(ws, flavour, clock, timeout_s)

    async def send(self, event: Event) -> None:
        try:
            await self.ws.send(json.dumps(event))
        except ConnectionClosed:
            raise FlowError("the server closed the connection") from None

    async def abort(self) -> None:
        self.ws.transport.abort()
        await self._stop_reader()

    async def close(self) -> None:
        await self.ws.close()
        await self._stop_reader()


class SdkClient(_QueuedClient):
    """The ``openai`` Python SDK's Realtime connection (GA or beta client)."""

    name = "openai SDK"

    def __init__(self, manager: Any, conn: Any, flavour: Flavour, clock: Clock,
                 timeout_s: float) -> None:
        super().__init__(flavour, clock, timeout_s)
        self._manager = manager
        self.conn = conn
        self._start_reader(conn.recv_bytes)

    @classmethod
    async def connect(cls, base_url: str, flavour: Flavour, clock: Clock, *,
                      timeout_s: float = 10.0) -> SdkClient:
        """``AsyncOpenAI(websocket_base_url=BASE/v1)``, then ``realtime.connect``."""
        openai = importlib.import_module("openai")
        client = openai.AsyncOpenAI(api_key=DEMO_API_KEY, websocket_base_url=f"{base_url}/v1")
        options = {"proxy": None}  # the recorder is on loopback: never via a proxy
        if flavour is Flavour.BETA:
            manager = client.beta.realtime.connect(model=BETA_MODEL,
                                                   websocket_connection_options=options)
        else:
            manager = client.realtime.connect(model=GA_MODEL,
                                              websocket_connection_options=options)
        try:
            async with asyncio.timeout(timeout_s):
                conn = await manager.__aenter__()
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise FlowError(f"cannot connect to {base_url}: {exc}") from None
        return cls(manager, conn, flavour, clock, timeout_s)

    async def send(self, event: Event) -> None:
        try:
            await self.conn.send(event)
        except ConnectionClosed:
            raise FlowError("the server closed the connection") from None

    async def abort(self) -> None:
        await self._stop_reader()
        with contextlib.suppress(Exception):
            await self._manager.__aexit__(None, None, None)

    async def close(self) -> None:
        await self._stop_reader()
        await self._manager.__aexit__(None, None, None)


def sdk_available() -> bool:
    """Whether the ``openai`` SDK can be imported (it is an optional extra)."""
    try:
        importlib.import_module("openai")
    except ImportError:
        return False
    return True


async def open_client(kind: str, base_url: str, flavour: Flavour, *, realtime: bool = True,
                      timeout_s: float = 10.0) -> RealtimeClient:
    """Connect with the SDK (``sdk``; ``auto`` when installed) or the built-in client.

    ``realtime=False`` gives the flow a virtual clock: audio goes out as fast as possible.
    """
    if kind not in CLIENT_KINDS:
        raise ValueError(f"unknown client kind {kind!r}")
    clock: Clock = RealClock() if realtime else VirtualClock()
    if kind == "sdk" or (kind == "auto" and sdk_available()):
        if kind == "sdk" and not sdk_available():
            raise FlowError("the openai SDK is not installed: pip install openai "
                            "(or use the built-in client)")
        return await SdkClient.connect(base_url, flavour, clock, timeout_s=timeout_s)
    return await BuiltinClient.connect(base_url, flavour, clock, timeout_s=timeout_s)
