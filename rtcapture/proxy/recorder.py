"""``rtcapture record``: the listening recorder, its sessions and their bookkeeping."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import logging
import socket
import ssl
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from websockets.uri import WebSocketURI

from ..ids import new_id
from ..protocol import (
    ClosedBy,
    Direction,
    flavour_from_handshake,
    model_from_path,
    redact_headers,
    redact_subprotocols,
    redact_url,
)
from ..store.records import Status
from .controls import Begin, End, Opened, SessionFields
from .leg import Leg
from .listener import FDS_PER_SESSION, Listener
from .memory import release_large_buffers
from .relay import CloseInfo, Relay, RelayConfig
from .sink import HIGH_WATER, WriterSink
from .spill import default_spill_dir

logger = logging.getLogger("rtcapture.recorder")

STOPPED_CLOSE_REASON = "recorder shutting down"
"""The close reason the clients get with 1001."""
STOPPED_REASON = "recorder stopped"
"""The status reason of sessions the recorder closed (1001) because it was stopped."""
DRAIN_GRACE_S = 6.0
"""How long open sessions get to finish their closing handshakes before their sockets are
dropped (each leg aborts itself after 5 s)."""


class Gateway(Protocol):
    """Another transport on the recorder's port (WebRTC: ``rtcapture.webrtc.gateway``)."""

    @property
    def calls(self) -> Collection[object]:
        """The sessions it has open."""
        ...

    def route(self, protocol: asyncio.Protocol) -> asyncio.Protocol:
        """The protocol that serves a new connection (``protocol``: the WebSocket relay's)."""
        ...

    async def close(self, grace: float) -> None:
        """End its open sessions (within ``grace`` seconds)."""
        ...


GatewayFactory = Callable[["Recorder", tuple[str, ...]], Gateway]
"""Makes a recorder's gateway from the recorder and its ICE addresses."""


@dataclass
class RecorderStats:
    """Totals for the summary printed on exit."""

    sessions: int = 0
    failed: int = 0
    frames: int = 0
    """Frames relayed (each one handed to the writer, or counted lost)."""
    bytes: int = 0
    stored: int = 0
    """Frames the writer reported committed."""
    open_sessions: int = 0
    refused: int = 0
    """Clients answered HTTP 503 at the file-descriptor limit (not recorded as sessions)."""
    lost_by_session: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Session id -> (frames lost, frames relayed), for sessions that lost any."""
    forced: bool = False
    """The drain was cut short (a third Ctrl-C)."""

    @property
    def lost(self) -> int:
        """Frames relayed but not stored."""
        return max(0, self.frames - self.stored)


@dataclass
class SessionRecording:
    """Implements the relay's ``Recording`` for one session, feeding the writer sink."""

    recorder: Recorder
    no: int
    session_id: str
    relay: Relay | None = None
    seq: int = 0
    frames: int = 0
    bytes: int = 0
    begun: bool = False
    failed_reason: str | None = None
    failed_status: int | None = None
    begin_msg: Begin | None = None
    subprotocol: str | None = None
    is_open: bool = False

    def begin(self, relay: Relay) -> None:
        """Send the session row to the writer once the request is known."""
        request = relay.request
        assert request is not None
        rec = self.recorder
        headers = list(request.headers.raw_items())
        offered = Relay.offered_subprotocols(request.headers)
        flavour = flavour_from_handshake(headers, offered)
        client = relay.client
        peer = client.transport.get_extra_info("peername") if client and client.transport \
            else None
        self.begin_msg = Begin(self.no, SessionFields(
            id=self.session_id,
            started=datetime.fromtimestamp(relay.t0_wall_ns / 1e9, tz=UTC),
            upstream_url=rec.upstream_display,
            path=redact_url(request.path),
            model=model_from_path(request.path),
            client_addr=f"{peer[0]}:{peer[1]}" if peer else None,
            headers=tuple(redact_headers(headers)),
            subprotocols=tuple(redact_subprotocols(offered)),
            flavour=flavour,
            label=rec.label,
        ))
        rec.sink.control(self.begin_msg)
        self.begun = True

    def resume(self) -> None:
        """Tell a restarted writer about this session (its row may exist already)."""
        if self.begin_msg is None:
            return
        self.recorder.sink.control(dataclasses.replace(self.begin_msg, resume=True))
        if self.is_open:
            self.recorder.sink.control(Opened(self.no, self.subprotocol))

    # Recording protocol -------------------------------------------------------------

    def frame(self, direction: Direction, binary: bool, delivered: bool, t_ns: int,
              data: builtins.bytes | bytearray, incomplete: bool = False) -> None:
        assert self.relay is not None
        self.recorder.sink.frame(self.no, self.seq, direction is Direction.SERVER, binary,
                                 delivered, t_ns, self.relay.t0_wall_ns + t_ns, data, incomplete)
        self.seq += 1
        self.frames += 1
        self.bytes += len(data)
        self.recorder.stats.frames += 1
        self.recorder.stats.bytes += len(data)

    def rejected(self, status: int, reason: str) -> None:
        self.failed_status, self.failed_reason = status, reason
        self._ensure_begun()  # the writer's report of the session's end says it failed

    def opened(self, subprotocol: str | None) -> None:
        self._ensure_begun()
        self.is_open, self.subprotocol = True, subprotocol
        self.recorder.sink.control(Opened(self.no, subprotocol))
        assert self.relay is not None and self.relay.request is not None
        self.recorder.echo(f"session {self.session_id} open  {redact_url(self.relay.request.path)}")

    def closed(self, info: CloseInfo) -> None:
        self._ensure_begun()
        rec = self.recorder
        status = Status.FAILED if self.failed_reason is not None else Status.CLOSED
        reason = self.failed_reason if self.failed_reason is not None else info.status_reason
        if reason is None and rec.stopping and info.closed_by is ClosedBy.RECORDER:
            reason = STOPPED_REASON
        end = End(
            self.no, datetime.now(UTC), status, reason,
            close_code=self.failed_status if self.failed_reason is not None else info.code,
            close_reason=info.reason, closed_by=info.closed_by,
            dropped=rec.sink.take_dropped(self.no), relayed=self.frames)
        if rec.sink.alive:
            rec.sink.control(end)
        elif self.begin_msg is not None:
            rec.unsent_ends.append((self, end))  # for the restarted writer
        rec.ended_sessions[self.no] = (self.session_id, self.frames)
        if self.failed_reason is not None:
            rec.stats.failed += 1

    def _ensure_begun(self) -> None:
        if not self.begun and self.relay is not None and self.relay.request is not None:
            self.begin(self.relay)


@dataclass
class Recorder:
    """Listens for clients, relays each to the upstream, records every frame."""

    listen_host: str
    listen_port: int
    upstream_url: str
    db_url: str
    relay_config: RelayConfig
    label: str | None = None
    tls: ssl.SSLContext | None = None
    echo: Callable[[str], None] = print
    sink_high_water: int = HIGH_WATER
    """Bytes queued towards the writer before every leg stops reading (backpressure), when
    recording cannot spill to a file."""
    spill: bool = True
    """Past what the writer takes, spill the record stream to a file instead of holding the
    relay (:mod:`.spill`)."""
    spill_dir: Path | None = None
    """Where spill files go (None: beside the SQLite database, else the temp dir)."""
    fds_per_session: int = FDS_PER_SESSION
    """File descriptors a session holds in this process (3 when the upstream is in-process)."""
    stats: RecorderStats = field(default_factory=RecorderStats)
    ice_addresses: tuple[str, ...] = ()
    """WebRTC: where ICE candidates are gathered (empty: loopback when facing loopback)."""
    gateway: GatewayFactory | None = None
    """Serves other transports on the same port (the command line passes WebRTC's)."""
    recorder_id: str = field(default_factory=new_id)
    sessions: dict[int, SessionRecording] = field(default_factory=dict)
    relays: set[Relay] = field(default_factory=set)
    ended_sessions: dict[int, tuple[str, int]] = field(default_factory=dict)
    """Session number -> (id, frames relayed) of every session that ended."""
    unsent_ends: list[tuple[SessionRecording, End]] = field(default_factory=list)
    """Sessions that ended while the writer was down, with their end record."""
    stopping: bool = False
    _listener: Listener | None = None
    _next_no: int = 0
    _store_warned: bool = False
    _gateway: Gateway | None = None

    def __post_init__(self) -> None:
        self.sink = WriterSink(self.db_url, self.recorder_id, on_report=self._on_report,
                               high_water=self.sink_high_water,
                               spill_dir=(self.spill_dir or default_spill_dir(self.db_url))
                               if self.spill else None)
        self.sink.on_restart = self._writer_restarted
        self.upstream_display = redact_url(self.upstream_url)

    @property
    def port(self) -> int:
        assert self._listener is not None
        return int(self._listener.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        scheme = "wss" if self.tls else "ws"
        host = self.listen_host if ":" not in self.listen_host else f"[{self.listen_host}]"
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        """Start the writer process, then listen. The writer opens (and upgrades) the
        database first: one it cannot use is a ``StoreError`` before anything listens."""
        release_large_buffers()  # a big frame's buffers are not kept after it
        await self.sink.start()
        if self.gateway is not None:
            self._gateway = self.gateway(self, self.ice_addresses)
        self._listener = Listener(self.listen_host, self.listen_port, self._new_connection,
                                  lambda: len(self.relays), self._connection_failed, tls=self.tls,
                                  fds_per_session=self.fds_per_session,
                                  handshake_timeout=self.relay_config.handshake_timeout,
                                  route=self._gateway.route if self._gateway else None)
        await self._listener.start()

    def _new_connection(self) -> asyncio.Protocol:
        self._next_no += 1
        no = self._next_no
        recording = SessionRecording(self, no, new_id())
        relay = Relay(self.relay_config, recording, lambda: self.sink.store_ok)
        recording.relay = relay
        self.sessions[no] = recording
        self.relays.add(relay)
        self.stats.sessions += 1
        relay.on_transport = self._track_transport
        relay.can_read = lambda: not self.sink.paused
        relay.on_ended = lambda: self._session_ended(no, relay)
        return relay.client_protocol()

    @staticmethod
    def _connection_failed(protocol: asyncio.Protocol, exc: BaseException) -> None:
        """The client's connection never opened (TLS handshake failed): end its relay."""
        if isinstance(protocol, Leg) and protocol.transport is None and not protocol.lost:
            protocol.connection_lost(exc if isinstance(exc, Exception) else None)

    def _track_transport(self, leg: Leg, added: bool) -> None:
        if added:
            self.sink.readers.add(leg)
        else:
            self.sink.readers.discard(leg)

    def _session_ended(self, no: int, relay: Relay) -> None:
        self.relays.discard(relay)
        recording = self.sessions.pop(no, None)
        if recording is not None and not recording.begun:
            self.stats.sessions -= 1  # a TCP connection that never sent a request
        if self._listener is not None:
            self._listener.released()

    def _writer_restarted(self) -> None:
        """A new writer is up: tell it about the sessions the old one had open, and the
        ends it missed."""
        for recording in self.sessions.values():
            if recording.begun and recording.no not in self.ended_sessions:
                recording.resume()
        ends, self.unsent_ends = self.unsent_ends, []
        for recording, end in ends:
            recording.resume()
            self.sink.control(end)
        logger.warning("the writer process was restarted; recording goes on")

    def _on_report(self, report: dict[str, Any]) -> None:
        kind = report.get("event")
        if kind == "session_closed" and report["status"] == Status.FAILED:
            self.echo(f"session {report['id']} failed: HTTP {report.get('close_code')} "
                      f"{report.get('status_reason')}")
        elif kind == "session_closed":
            self.echo(
                f"session {report['id']} {report['status']}: "
                f"{report['client_events']}+{report['server_events']} events, "
                f"{report['client_bytes'] + report['server_bytes']} bytes, audio in "
                f"{report['input_audio_ms'] / 1000:.1f} s / out "
                f"{report['output_audio_ms'] / 1000:.1f} s"
                + (f", {report['lost']} frames lost" if report.get("lost") else ""))
        elif kind == "store_failed":
            if not self._store_warned:
                self._store_warned = True
                logger.error("recording store failed: %s; sessions keep relaying, new ones get "
                             "HTTP 503 until it recovers", report.get("reason"))
        elif kind == "store_ok":
            if self._store_warned:
                logger.warning("recording store recovered")
            self._store_warned = False
        elif kind == "writer_died":
            logger.error("the writer process exited (code %s): frames are lost and new "
                         "sessions get HTTP 503 until it is back; restarting it",
                         report.get("returncode"))
        elif kind == "restart_failed":
            logger.error("cannot restart the writer process: %s; retrying",
                         report.get("reason"))

    def waiting_for(self) -> str:
        """What a stop in progress still waits for (said on a second Ctrl-C)."""
        if self.relays:
            return f"waiting for {len(self.relays)} open sessions to finish closing"
        unstored = max(0, self.stats.frames - sum(self.sink.stored.values()))
        queued = self.sink.pending_bytes() + self.sink.spilled_unread()
        return (f"waiting for the writer to store {unstored} frames "
                f"({queued / 1e6:.1f} MB still queued)")

    async def stop(self, grace: float = DRAIN_GRACE_S,
                   force: asyncio.Event | None = None) -> RecorderStats:
        """Stop listening, close open sessions (1001), hand everything to the writer and
        wait until it has committed it, then return the totals. ``force`` set cuts the
        wait short: the writer is killed and what it had not stored is counted lost."""
        work = asyncio.ensure_future(self._drain(grace))
        waits: set[asyncio.Future[Any]] = {work}
        if force is not None:
            waits.add(asyncio.ensure_future(force.wait()))
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for other in waits - {work}:
            other.cancel()
        if not work.done():
            self.stats.forced = True
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            for relay in list(self.relays):
                _abort(relay)
            self.sink.kill()
        return self._totals()

    async def _drain(self, grace: float) -> None:
        self.stopping = True
        if self._listener is not None:
            self._listener.close()
            self.stats.refused = self._listener.refused
        open_relays = list(self.relays)
        self.stats.open_sessions = len(open_relays)
        for relay in open_relays:
            relay.shutdown(STOPPED_CLOSE_REASON)
        if open_relays:
            try:
                async with asyncio.timeout(grace):
                    await asyncio.gather(*(r.ended.wait() for r in open_relays))
            except TimeoutError:
                for relay in open_relays:
                    _abort(relay)
                await asyncio.gather(*(r.ended.wait() for r in open_relays))
        if self._gateway is not None:
            self.stats.open_sessions += len(self._gateway.calls)
            await self._gateway.close(grace)
        await self.sink.close()

    def _totals(self) -> RecorderStats:
        stats = self.stats
        stored = self.sink.stored
        stats.stored = sum(stored.values())
        stats.lost_by_session = {}
        everyone = {no: (r.session_id, r.frames) for no, r in self.sessions.items()
                    if r.begun}
        everyone.update(self.ended_sessions)
        for no, (session_id, frames) in sorted(everyone.items()):
            missing = frames - stored.get(no, 0)
            if missing > 0:
                stats.lost_by_session[session_id] = (missing, frames)
        return stats


def _abort(relay: Relay) -> None:
    """Drop both of a relay's connections now (their close handshakes took too long)."""
    for leg in (relay.client, relay.upstream):
        if leg is not None and leg.transport is not None and not leg.lost:
            leg.abort()


def parse_upstream(url: str) -> WebSocketURI:
    """The upstream base URL as a websockets URI (ws/wss only)."""
    from websockets.exceptions import InvalidURI
    from websockets.uri import parse_uri

    try:
        uri = parse_uri(url)
    except InvalidURI as exc:
        raise ValueError(f"invalid upstream URL {redact_url(url)!r}: expected ws:// or "
                         "wss://HOST[:PORT][/base]") from exc
    if uri.query:
        raise ValueError("the upstream URL takes no query: the client's query is appended")
    return uri


def is_self_target(upstream: WebSocketURI, listen_host: str, listen_port: int) -> bool:
    """True when the upstream would be the recorder itself (a loop)."""
    if listen_port == 0 or upstream.port != listen_port:
        return False
    try:
        targets = {str(info[4][0])
                   for info in socket.getaddrinfo(upstream.host, upstream.port)}
    except OSError:
        return False
    local = {"127.0.0.1", "::1", "0.0.0.0", "::"}
    if listen_host in ("0.0.0.0", "::", ""):
        return bool(targets & local) or any(t.startswith("127.") for t in targets)
    try:
        mine = {str(info[4][0]) for info in socket.getaddrinfo(listen_host, listen_port)}
    except OSError:
        mine = {listen_host}
    return bool(targets & mine)
