"""The relay: one client connection and its upstream, frame by frame.

Both legs are websockets' Sans-I/O protocols driven from plain ``asyncio.Protocol``
callbacks, so a frame is forwarded inside the ``data_received`` call that read it: no
task switch, no message re-assembly, no UTF-8 validation (invalid UTF-8 passes
byte-exact). After forwarding, the relay hands the recorder one small record (bytes,
times, flags) through :class:`Recording`; parsing and storage happen in another process.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Protocol as TypingProtocol

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import CONNECTING
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol
from websockets.uri import WebSocketURI

from ..protocol import ClosedBy, Direction
from .handshake import (
    TOKEN_SUBPROTOCOL,
    RepeatedHeader,
    is_loopback_origin,
    offered_subprotocols,
    single,
    token_ok,
    upstream_headers,
)
from .leg import CLOSE_TIMEOUT_S, Leg

logger = logging.getLogger("rtcapture.relay")
_WIRE_LOG = logging.getLogger("rtcapture.wire")
_WIRE_LOG.setLevel(logging.ERROR)

@dataclass(frozen=True)
class RelayConfig:
    """Everything a relay needs to know about where and how to connect."""

    upstream: WebSocketURI
    upstream_ssl: ssl.SSLContext | None = None
    upstream_timeout: float = 10.0
    handshake_timeout: float | None = 10.0
    """From accepting a client to its complete handshake request; then HTTP 408."""
    max_frame: int = 16 << 20
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    token: str | None = None
    allowed_origins: frozenset[str] = frozenset()
    allow_loopback_origins: bool = True


class Recording(TypingProtocol):
    """What the relay tells the recorder. Implementations must return at once."""

    def frame(self, direction: Direction, binary: bool, delivered: bool, t_ns: int,
              data: bytes | bytearray, incomplete: bool = False) -> None:
        """One whole message, or (``incomplete``) the fragments of one whose last fragment
        never came, joined."""

    def rejected(self, status: int, reason: str) -> None: ...

    def opened(self, subprotocol: str | None) -> None: ...

    def closed(self, info: CloseInfo) -> None: ...


@dataclass
class CloseInfo:
    """How a session ended."""

    code: int | None = None
    reason: str | None = None
    closed_by: ClosedBy | None = None
    status_reason: str | None = None


def _close_args(close: Close | None) -> tuple[int | None, str]:
    if close is None or close.code in (1005, 1006, 1015):
        return None, ""
    return close.code, close.reason


@dataclass(eq=False)
class Relay:
    """One recorded session: the client leg, the upstream leg, and the handshake between."""

    config: RelayConfig
    recording: Recording
    is_store_ok: Callable[[], bool]
    t0_ns: int = field(default_factory=time.monotonic_ns)
    t0_wall_ns: int = field(default_factory=time.time_ns)
    on_transport: Callable[[Leg, bool], None] | None = None
    """Told when a leg's transport connects (True) or is lost (False)."""
    can_read: Callable[[], bool] = lambda: True
    """False while the recorder applies backpressure: no leg reads."""
    on_ended: Callable[[], None] | None = None
    client: Leg | None = None
    upstream: Leg | None = None
    request: Request | None = None
    close: CloseInfo = field(default_factory=CloseInfo)
    upstream_subprotocol: str | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _handshake: asyncio.Future[None] | None = None
    _failed_handled: set[Direction] = field(default_factory=set)

    # wiring ---------------------------------------------------------------------------

    def client_protocol(self) -> Leg:
        """The asyncio protocol for a newly accepted client connection."""
        proto = ServerProtocol(
            extensions=[ServerPerMessageDeflateFactory()],
            select_subprotocol=lambda _proto, offered: self._select_subprotocol(offered),
            max_size=self.config.max_frame,
            logger=_WIRE_LOG,
        )
        self.client = Leg(self, Direction.CLIENT, proto)
        return self.client

    def other(self, leg: Leg) -> Leg | None:
        return self.upstream if leg is self.client else self.client

    def _select_subprotocol(self, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        chosen = self.upstream_subprotocol
        return Subprotocol(chosen) if chosen is not None and chosen in offered else None

    # events ---------------------------------------------------------------------------

    def on_events(self, leg: Leg, events: Sequence[object]) -> None:
        other = self.other(leg)
        for event in events:
            if isinstance(event, Frame):
                self._on_frame(leg, other, event)
            elif isinstance(event, Request):
                self._on_request(event)
            elif isinstance(event, Response):
                self._on_upstream_response(leg, event)
        if leg.proto.parser_exc is not None and leg.side not in self._failed_handled:
            self._on_protocol_failure(leg, other)
        if leg is self.upstream and leg.proto.handshake_exc is not None:
            self._upstream_handshake_failed(f"invalid upstream handshake: "
                                            f"{leg.proto.handshake_exc}")
        leg.flush()
        if other is not None:
            other.flush()

    def _on_frame(self, leg: Leg, other: Leg | None, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY or opcode is Opcode.CONT:
            t_ns = time.monotonic_ns() - self.t0_ns
            delivered = other is not None and other.is_open
            if delivered:
                other.forward(frame)  # type: ignore[union-attr]
            message = leg.assemble(frame, t_ns, delivered)
            if message is not None:
                self.recording.frame(leg.side, message[0], delivered, t_ns, message[1])
        elif opcode is Opcode.PING:
            leg.pinged(frame.data)
        elif opcode is Opcode.PONG:
            leg.pong(frame.data)
        elif opcode is Opcode.CLOSE:
            self._record_unfinished(leg)
            rcvd = leg.proto.close_rcvd
            if self.close.closed_by is None:
                self.close.closed_by = ClosedBy(leg.side)
                self.close.code = rcvd.code if rcvd else None
                self.close.reason = rcvd.reason if rcvd else None
            if other is not None:
                other.close(*_close_args(rcvd))

    def _record_unfinished(self, leg: Leg) -> None:
        """A message whose last fragment will never come is recorded as far as it got."""
        unfinished = leg.take_unfinished()
        if unfinished is not None:
            binary, data, t_ns, delivered = unfinished
            self.recording.frame(leg.side, binary, delivered, t_ns, data, incomplete=True)

    def _on_protocol_failure(self, leg: Leg, other: Leg | None) -> None:
        self._failed_handled.add(leg.side)
        self._record_unfinished(leg)
        sent = leg.proto.close_sent
        if self.close.closed_by is None and sent is not None and sent.code != 1006:
            self.close.closed_by = ClosedBy.RECORDER
            self.close.code, self.close.reason = sent.code, sent.reason
            self.close.status_reason = f"{leg.side} sent an invalid frame: {sent.reason}"
        if other is not None and sent is not None:
            other.close(*_close_args(sent))

    def note_keepalive_timeout(self, leg: Leg) -> None:
        if self.close.closed_by is None:
            self.close.closed_by = ClosedBy.RECORDER
            self.close.code, self.close.reason = 1011, f"{leg.side} keepalive ping timeout"

    def on_lost(self, leg: Leg) -> None:
        self._record_unfinished(leg)
        other = self.other(leg)
        if leg is self.upstream:
            self._upstream_handshake_failed("upstream closed the connection during the handshake")
        if self.close.closed_by is None and self.request is not None and (
                other is None or other.is_open or other.transport is None):
            self.close.closed_by = ClosedBy(leg.side)
            self.close.code, self.close.reason = 1006, "connection lost"
        if other is not None and other.is_open:
            if leg.side is Direction.SERVER:
                other.close(1014, "upstream connection lost")
            else:
                other.close(1001, "client connection lost")
        if leg is self.client and self._task is not None and not self._task.done():
            self._task.cancel()
        self._maybe_end()

    def _maybe_end(self) -> None:
        if self.ended.is_set():
            return
        legs = [leg for leg in (self.client, self.upstream) if leg is not None]
        if all(leg.lost or leg.transport is None for leg in legs):
            self.ended.set()
            if self.request is not None:
                self.recording.closed(self.close)
            if self.on_ended is not None:
                self.on_ended()

    # handshake ----------------------------------------------------------------------

    def connected(self, leg: Leg) -> None:
        """A leg's transport is up: the client has until the handshake deadline (counted
        from the accept) to send its whole request."""
        timeout = self.config.handshake_timeout
        if leg is self.client and timeout:
            elapsed = (time.monotonic_ns() - self.t0_ns) / 1e9
            leg.later(max(timeout - elapsed, 0.0), self._handshake_deadline)

    def awaiting_request(self, older_than: float = 0.0) -> bool:
        """The client has been connected for ``older_than`` seconds or more, and its
        handshake request has not arrived yet."""
        client = self.client
        return self.request is None and client is not None and client.transport is not None \
            and not client.lost and time.monotonic_ns() - self.t0_ns >= older_than * 1e9

    def _handshake_deadline(self) -> None:
        if self.awaiting_request():
            logger.debug("client sent no complete handshake within %g s: closed",
                         self.config.handshake_timeout)
            self.expire_handshake()

    def expire_handshake(self) -> None:
        """Answer a client that has not sent its whole request HTTP 408 and close it now
        (no waiting for its own close: its descriptor is wanted)."""
        client = self.client
        if client is None or client.transport is None or client.lost:
            return
        if client.proto.state is CONNECTING:
            body = b"handshake not completed in time\n"
            client.proto.send_response(Response(  # type: ignore[attr-defined]
                408, "Request Timeout", Headers([
                    ("Connection", "close"), ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body)))]), body))
            client.flush()
        client.transport.close()

    def _on_request(self, request: Request) -> None:
        self.request = request
        assert self.client is not None
        problem = self._check_request(request)
        if problem is not None:
            self._reject(*problem)
            return
        self._task = asyncio.get_running_loop().create_task(
            self._open_upstream(request), name=f"rtcapture-upstream-{id(self)}")

    def _check_request(self, request: Request) -> tuple[int, str] | None:
        path = request.path
        if not path.startswith("/") or path.startswith("//") or any(
                c in path for c in " \r\n\t\x00"):
            return 400, "invalid request path"
        try:
            single(request.headers, "Host")  # RFC 9112 3.2: more than one is a 400
            origin = single(request.headers, "Origin")
            if origin is not None and origin not in self.config.allowed_origins and not (
                    self.config.allow_loopback_origins and is_loopback_origin(origin)):
                return 403, "origin not allowed"
            if self.config.token is not None and not token_ok(request.headers,
                                                              self.config.token):
                return 401, "missing or wrong rtcapture token"
        except RepeatedHeader as exc:
            return 400, str(exc)
        assert self.client is not None
        dry_run = self.client.proto.accept(request)  # type: ignore[attr-defined]
        if dry_run.status_code != 101:
            return dry_run.status_code, "invalid WebSocket handshake"
        if not self.is_store_ok():
            return 503, "recording store unavailable"
        return None

    offered_subprotocols = staticmethod(offered_subprotocols)

    def _reject(self, status: int, reason: str, body: bytes | bytearray | None = None,
                content_type: str | None = None) -> None:
        """Answer the client with an HTTP error; the session is recorded as failed."""
        client = self.client
        assert client is not None
        if body is None:
            body = (reason + "\n").encode()
            content_type = "text/plain; charset=utf-8"
        headers = Headers([("Connection", "close"), ("Content-Length", str(len(body)))])
        if content_type:
            headers["Content-Type"] = content_type
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        if client.proto.state is CONNECTING and not client.lost:
            client.proto.send_response(  # type: ignore[attr-defined]
                Response(status, phrase, headers, body))
            client.flush()
            client.later(CLOSE_TIMEOUT_S, client.abort)
        self.recording.rejected(status, reason)

    async def _open_upstream(self, request: Request) -> None:
        config = self.config
        uri = config.upstream
        offered = [p for p in self.offered_subprotocols(request.headers)
                   if not p.startswith(TOKEN_SUBPROTOCOL)]
        wants_deflate = any("permessage-deflate" in v for v in
                            request.headers.get_all("Sec-WebSocket-Extensions"))
        proto = ClientProtocol(
            uri,
            subprotocols=[Subprotocol(p) for p in offered] or None,
            extensions=[ClientPerMessageDeflateFactory()] if wants_deflate else None,
            max_size=config.max_frame,
            logger=_WIRE_LOG,
        )
        leg = self.upstream = Leg(self, Direction.SERVER, proto)
        loop = asyncio.get_running_loop()
        self._handshake = loop.create_future()
        try:
            async with asyncio.timeout(config.upstream_timeout):
                await loop.create_connection(
                    lambda: leg, uri.host, uri.port, ssl=config.upstream_ssl,
                    server_hostname=uri.host if config.upstream_ssl else None)
                up_request = proto.connect()
                up_request.path = uri.path.rstrip("/") + request.path
                up_request.headers = upstream_headers(request.headers, up_request.headers)
                proto.send_request(up_request)
                leg.flush()
                await self._handshake
        except TimeoutError:
            leg.abort()
            self._reject(504, f"upstream did not answer within {config.upstream_timeout:g} s")
        except ssl.SSLError as exc:
            leg.abort()
            self._reject(502, f"upstream TLS failed: {exc.reason or exc}")
        except OSError as exc:
            leg.abort()
            if exc.errno in (errno.EMFILE, errno.ENFILE):  # the recorder's own shortage
                self._reject(503, "recorder at its file-descriptor limit (ulimit -n)")
            else:
                self._reject(502, f"upstream unreachable: {exc.strerror or exc}")
        except asyncio.CancelledError:
            leg.abort()
            raise

    def _upstream_handshake_failed(self, reason: str) -> None:
        handshake = self._handshake
        if handshake is not None and not handshake.done():
            handshake.set_result(None)
            if self.upstream is not None:
                self.upstream.abort()
            self._reject(502, reason)

    def _on_upstream_response(self, leg: Leg, response: Response) -> None:
        """The upstream answered the handshake: accept the client, or pass the refusal on."""
        handshake = self._handshake
        if handshake is None or handshake.done():
            return
        handshake.set_result(None)
        exc = leg.proto.handshake_exc
        if exc is not None:
            leg.abort()
            if isinstance(exc, InvalidStatus):
                status = response.status_code
                self._reject(status, f"upstream refused the handshake with HTTP {status}",
                             body=response.body or b"",
                             content_type=response.headers.get("Content-Type"))
            else:
                self._reject(502, f"invalid upstream handshake: {exc}")
            return
        self.upstream_subprotocol = leg.proto.subprotocol
        client = self.client
        assert client is not None and self.request is not None
        if client.lost:
            leg.close(1001, "client connection lost")
            return
        accepted = client.proto.accept(self.request)  # type: ignore[attr-defined]
        client.proto.send_response(accepted)  # type: ignore[attr-defined]
        client.flush()
        self.recording.opened(leg.proto.subprotocol)
        client.start_keepalive(self.config.ping_interval, self.config.ping_timeout)
        leg.start_keepalive(self.config.ping_interval, self.config.ping_timeout)

    def shutdown(self, reason: str = "recorder shutting down") -> None:
        """Close both legs (Ctrl-C)."""
        if self.close.closed_by is None:
            self.close.closed_by = ClosedBy.RECORDER
            self.close.code, self.close.reason = 1001, reason
        for leg in (self.client, self.upstream):
            if leg is not None:
                leg.close(1001, reason)
                if leg.transport is not None:
                    leg.later(CLOSE_TIMEOUT_S, leg.abort)
        self._maybe_end()
