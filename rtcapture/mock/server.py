"""The mock server: accepts Realtime connections on any path and serves a scripted session
or a recorded one (playback); GPT-Live paths (``…/v1/live/sessions``) get the Live mock,
``…/live/sessions/{id}/attach`` the sideband of a Live session it is serving.

Authentication is ignored and never logged; the ``realtime`` subprotocol is answered
when offered; the dialect comes from the handshake (``OpenAI-Beta`` header or the
``openai-beta.realtime-v1`` subprotocol), else from the first ``session.update``.
"""

from __future__ import annotations

import itertools
import logging
import ssl as ssl_module
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.typing import Subprotocol

from ..protocol import flavour_from_handshake, live, model_from_path
from ..store.records import EventRecord
from .connection import MockConnection
from .live import LiveMockConnection, LiveSessions, serve_attach
from .playback import Close, PlaybackSession, build_cues, client_times
from .scenario import DEFAULT_SCENARIO, Scenario
from .webrtc_server import CallOrWebSocket, MockCalls

log = logging.getLogger("rtcapture.mock")
WS_LOG = logging.getLogger("rtcapture.mock.ws")
# websockets logs handshake headers (keys) at DEBUG: never let those through, whatever the
# root level; other records follow the root logger's level (-v / -q).
WS_LOG.addFilter(lambda record: record.levelno > logging.DEBUG)
REALTIME_SUBPROTOCOL = "realtime"


def offered_subprotocols(headers: Headers) -> list[str]:
    """Every entry of the client's ``Sec-WebSocket-Protocol`` headers."""
    return [p.strip() for value in headers.get_all("Sec-WebSocket-Protocol")
            for p in value.split(",") if p.strip()]


def _select_subprotocol(connection: ServerConnection, offered: Sequence[Subprotocol]
                        ) -> Subprotocol | None:
    return Subprotocol(REALTIME_SUBPROTOCOL) if REALTIME_SUBPROTOCOL in offered else None


@dataclass
class MockServer:
    """A running mock; ``url`` is the base to which clients append ``/v1/realtime?...``."""

    server: Server
    host: str
    port: int
    tls: bool
    connections: list[MockConnection] = field(default_factory=list)
    keep_connections: bool = False
    """Keep each scripted connection's state (and sent frames) for inspection in tests."""

    @property
    def url(self) -> str:
        host = self.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"{'wss' if self.tls else 'ws'}://{host}:{self.port}"


@asynccontextmanager
async def serve_mock(host: str = "127.0.0.1", port: int = 0, *, scenario: Scenario | None = None,
                     seed: int = 0, fast: bool = False,
                     playback: Sequence[EventRecord] | None = None, speed: float = 1.0,
                     ssl: ssl_module.SSLContext | None = None,
                     close: Close | None = None,
                     ice_addresses: Sequence[str] = ()) -> AsyncIterator[MockServer]:
    """Run the mock on ``host:port`` (0 picks a port) for the duration of the block.

    ``playback`` serves those recorded frames instead of a scenario (``close``: how to end
    after the last server frame when the recording's server ended it, see
    :func:`~rtcapture.mock.playback.recorded_close`). Same ``seed`` + ``scenario`` + client frames give identical frames.
    ``POST .../realtime/calls`` starts a WebRTC call (scripted or played back); its ICE
    candidates are gathered on ``ice_addresses``, else on loopback when ``host`` is.
    """
    from ..webrtc.addresses import addresses_facing

    scenario = scenario or DEFAULT_SCENARIO
    cues = build_cues(playback) if playback is not None else None
    t_clients = client_times(playback) if playback is not None else []
    holder: list[MockServer] = []
    connections = itertools.count()  # each connection's number: part of its id seed
    live_sessions = LiveSessions()  # what Live sideband (attach) paths can reach

    async def handler(ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        if cues is not None:
            await PlaybackSession(ws, cues, t_clients, fast=fast, speed=speed,
                                  close=close).run()
            return
        if live.live_endpoint(request.path) is live.LiveEndpoint.ATTACH:
            await serve_attach(ws, live_sessions, request.path)
            return
        if live.is_live_path(request.path):
            live_conn = LiveMockConnection(ws, scenario=scenario, seed=seed, fast=fast,
                                           sessions=live_sessions)
            if holder and holder[0].keep_connections:
                live_conn.keep_sent = True
                holder[0].connections.append(live_conn)  # type: ignore[arg-type]
            await live_conn.run()
            return
        flavour = flavour_from_handshake(request.headers.raw_items(),
                                         offered_subprotocols(request.headers))
        conn = MockConnection(ws, scenario=scenario, seed=seed, fast=fast, flavour=flavour,
                              model=model_from_path(request.path),
                              connection=next(connections))
        if holder and holder[0].keep_connections:
            conn.keep_sent = True
            holder[0].connections.append(conn)
        await conn.run()

    calls = MockCalls(scenario=scenario, seed=seed, fast=fast,
                      ice_addresses=addresses_facing(host or "0.0.0.0", ice_addresses),
                      playback=playback, speed=speed, close=close)
    server = await serve(handler, host, port, ssl=ssl, max_size=None, close_timeout=2,
                         select_subprotocol=_select_subprotocol,
                         logger=WS_LOG,
                         create_connection=partial(CallOrWebSocket, calls=calls))  # type: ignore[arg-type]
    bound = server.sockets[0].getsockname()
    mock = MockServer(server=server, host=host, port=int(bound[1]), tls=ssl is not None)
    holder.append(mock)
    try:
        yield mock
    finally:
        await calls.close()
        server.close()
        await server.wait_closed()
