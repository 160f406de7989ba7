"""One TCP connection of the relay, driven by a websockets Sans-I/O protocol."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from websockets.exceptions import InvalidState, ProtocolError
from websockets.frames import Frame, Opcode
from websockets.protocol import CLIENT, OPEN, Protocol
from websockets.typing import BytesLike

from ..protocol import Direction
from ..protocol.sniff import LARGE_FRAME
from .outbox import Outbox

if TYPE_CHECKING:
    from .relay import Relay

CLOSE_TIMEOUT_S = 5.0
"""How long a closing leg may take before its connection is aborted."""
WRITE_HIGH_WATER = 4 << 20
"""Bytes buffered towards a slow peer before the other leg stops reading."""
PONG_BACKLOG = 1 << 20
"""Bytes of pongs a leg queues to a peer that is not reading before it stops reading that
peer: a ping flood from a peer that never reads would otherwise grow the buffer forever."""


class Leg(asyncio.Protocol):
    """One TCP connection driven by a websockets Sans-I/O protocol."""

    def __init__(self, relay: Relay, side: Direction, proto: Protocol) -> None:
        self.relay = relay
        self.side = side
        self.proto = proto
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._ping: bytes | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._fragments: list[BytesLike] | None = None
        self._fragment_binary = False
        self._fragment_t_ns = 0
        self._fragment_delivered = True
        self._close_timer = False
        self._reading = True
        self._write_paused = False
        self._pong_backlog = 0
        """Pong bytes queued since this leg's transport stopped accepting writes."""
        self.peer_blocked = False
        """True while the other leg's peer is not reading (its write buffer is full)."""
        self._outbox: Outbox | None = None
        """While a large frame is being written: it, and all output after it."""

    # asyncio callbacks ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        if self.relay.on_transport is not None:
            self.relay.on_transport(self, True)
        self.relay.connected(self)
        self.update_reading()

    def data_received(self, data: bytes) -> None:
        self.proto.receive_data(data)
        self.relay.on_events(self, self.proto.events_received())

    def eof_received(self) -> bool:
        self.proto.receive_eof()
        self.relay.on_events(self, self.proto.events_received())
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._outbox = None
        for timer in self._timers:
            timer.cancel()
        if self.transport is not None and self.relay.on_transport is not None:
            self.relay.on_transport(self, False)
        other = self.relay.other(self)
        if other is not None and other.peer_blocked:
            # a dead peer blocks no one: the other leg reads its close and the frames
            # still coming (stored as undelivered)
            other.peer_blocked = False
            other.update_reading()
        self.relay.on_lost(self)

    def pause_writing(self) -> None:
        self._write_paused = True
        other = self.relay.other(self)
        if other is not None:
            other.peer_blocked = True
            other.update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._outbox is not None:
            self._feed()
            if self._write_paused:  # the large frame goes on filling the buffer
                return
        flooded, self._pong_backlog = self._pong_backlog > PONG_BACKLOG, 0
        if flooded:
            self.update_reading()
        other = self.relay.other(self)
        if other is not None:
            other.peer_blocked = False
            other.update_reading()

    def update_reading(self) -> None:
        """Read only while the peer accepts writes and the recorder accepts records."""
        transport = self.transport
        if transport is None or self.lost or transport.is_closing():
            return
        want = (not self.peer_blocked and self._pong_backlog <= PONG_BACKLOG
                and self.relay.can_read())
        if want != self._reading:
            self._reading = want
            transport.resume_reading() if want else transport.pause_reading()

    # sending ---------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.proto.state is OPEN and not self.lost

    def flush(self) -> None:
        """Write what the protocol has queued; half-close or close on its EOF marker."""
        transport = self.transport
        if transport is None or self.lost:
            self.proto.data_to_send()
            return
        outbox = self._outbox
        if outbox is not None:  # behind a large frame being written
            for chunk in self.proto.data_to_send():
                outbox.add(chunk)
        else:
            for chunk in self.proto.data_to_send():
                if chunk:
                    transport.write(chunk)
                elif transport.can_write_eof():
                    transport.write_eof()
                else:
                    transport.close()
        if not self._close_timer and self.proto.close_expected():
            self._close_timer = True
            self.later(CLOSE_TIMEOUT_S, self.abort)

    def later(self, delay: float, callback: Callable[[], None]) -> None:
        self._timers.append(asyncio.get_running_loop().call_later(delay, callback))

    def awaiting_request(self, older_than: float = 0.0) -> bool:
        """Accepted at least ``older_than`` s ago, and the handshake request has not arrived
        (the listener may then drop it to make room)."""
        return self.relay.client is self and self.relay.awaiting_request(older_than)

    def request_wait(self) -> float | None:
        """Seconds since this client was accepted while its handshake request has not
        arrived; None once it has (or for the upstream leg)."""
        if self.relay.client is not self or not self.relay.awaiting_request():
            return None
        return (time.monotonic_ns() - self.relay.t0_ns) / 1e9

    def drop(self) -> None:
        """Give up on a client that has not sent its request: HTTP 408, closed."""
        if self.relay.client is self:
            self.relay.expire_handshake()

    def abort(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.abort()

    def forward(self, frame: Frame) -> None:
        """Send a data frame received on the other leg, keeping opcode and FIN."""
        if len(frame.data) >= LARGE_FRAME and not self.proto.extensions:
            self.forward_large(frame)
        elif frame.opcode is Opcode.TEXT:
            self.proto.send_text(frame.data, fin=frame.fin)
        elif frame.opcode is Opcode.BINARY:
            self.proto.send_binary(frame.data, fin=frame.fin)
        else:
            self.proto.send_continuation(frame.data, fin=frame.fin)

    def forward_large(self, frame: Frame) -> None:
        """Send a large data frame through an :class:`Outbox`: the transport takes slices of
        its payload as its buffer drains, so that no copy of it is made. The same checks and
        state as websockets' ``send_text``, ``send_binary`` and ``send_continuation``; no
        extension is negotiated."""
        proto = self.proto
        continuation = frame.opcode is Opcode.CONT
        if continuation is not proto.expect_continuation_frame:
            raise ProtocolError("unexpected continuation frame" if continuation
                                else "expected a continuation frame")
        if proto.state is not OPEN:
            raise InvalidState(f"connection is {proto.state.name.lower()}")
        proto.expect_continuation_frame = not frame.fin
        self.flush()  # what the protocol has queued goes first
        if self._outbox is None:
            self._outbox = Outbox()
        self._outbox.add_frame(frame, masked=proto.side is CLIENT)
        self._feed()

    def _feed(self) -> None:
        """Go on writing the outbox; forget it once it is empty."""
        outbox, transport = self._outbox, self.transport
        assert outbox is not None
        if transport is None or self.lost or outbox.feed(transport, self._write_paused):
            self._outbox = None

    def close(self, code: int | None, reason: str = "") -> None:
        """Start the closing handshake (code None: a close frame without status)."""
        if not self.is_open:
            return
        try:
            self.proto.send_close(code, reason) if code is not None else self.proto.send_close()
        except ProtocolError:
            self.proto.send_close(1000)
        self.flush()

    # keepalive -------------------------------------------------------------------

    def start_keepalive(self, interval: float | None, timeout: float | None) -> None:
        if interval:
            self.later(interval, lambda: self._keepalive(interval, timeout))

    def _keepalive(self, interval: float, timeout: float | None) -> None:
        if not self.is_open:
            return
        self._ping = os.urandom(4)
        self.proto.send_ping(self._ping)
        self.flush()
        if timeout:
            payload = self._ping
            self.later(timeout, lambda: self._check_pong(payload))
        self.later(interval, lambda: self._keepalive(interval, timeout))

    def _check_pong(self, payload: bytes) -> None:
        if self._ping == payload and self.is_open:
            self.relay.note_keepalive_timeout(self)
            self.abort()

    def pinged(self, data: BytesLike) -> None:
        """The protocol answered a ping: count the pong if the peer is not reading."""
        if self._write_paused:
            self._pong_backlog += len(data) + 2
            if self._pong_backlog > PONG_BACKLOG and self._reading:
                self.update_reading()

    def pong(self, data: BytesLike) -> None:
        if data == self._ping:
            self._ping = None

    # message assembly for the record --------------------------------------------------

    def assemble(self, frame: Frame, t_ns: int = 0, delivered: bool = True
                 ) -> tuple[bool, bytes | bytearray] | None:
        """The whole message once its last fragment arrived: (binary, data). ``t_ns`` and
        ``delivered`` of the latest fragment are kept for :meth:`take_unfinished`.

        A large unfragmented message is its frame's own buffer, not a copy, and the frame
        gives it up: websockets' parser keeps its last frame until the next one arrives."""
        self._fragment_t_ns, self._fragment_delivered = t_ns, delivered
        if frame.opcode is Opcode.CONT:
            if self._fragments is None:
                return None
            self._fragments.append(frame.data)
            if not frame.fin:
                return None
            data = b"".join(self._fragments)
            self._fragments = None
            return self._fragment_binary, data
        binary = frame.opcode is Opcode.BINARY
        if frame.fin:
            payload = frame.data
            if len(payload) < LARGE_FRAME:
                return binary, bytes(payload)
            frame.data = b""  # forwarded already
            return binary, payload if isinstance(payload, (bytes, bytearray)) \
                else bytes(payload)
        self._fragments, self._fragment_binary = [bytes(frame.data)], binary
        return None

    def take_unfinished(self) -> tuple[bool, bytes, int, bool] | None:
        """The fragments of a message still waiting for its last one, forgotten once taken:
        (binary, data, t_ns, delivered) of the latest fragment; None if there is none."""
        if self._fragments is None:
            return None
        data, self._fragments = b"".join(self._fragments), None
        return self._fragment_binary, data, self._fragment_t_ns, self._fragment_delivered
