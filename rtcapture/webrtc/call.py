"""One recorded WebRTC call: the client's peer, the recorder's peer to the upstream, the
relay between them and the session's record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from ..ids import new_id
from ..protocol import ClosedBy, Direction, redact_url
from ..protocol.webrtc import DATA_CHANNEL, CallRequest, call_id_from_location
from ..proxy.controls import Begin, End, Media, Opened
from ..store.records import Status
from .http import HttpClientError, HttpRequest, HttpResponse, post
from .ice import new_peer, pin_addresses
from .mediarecorder import MediaChunk, MediaRecorder
from .passthrough import receive_encoded, sends_opus
from .relaytrack import RelayTrack

if TYPE_CHECKING:
    from .gateway import WebRTCGateway

log = logging.getLogger("rtcapture.recorder")
CONNECT_TIMEOUT_S = 20.0
"""ICE + DTLS + SCTP on both legs must be done by then, else the session fails."""


class RecordedCall:
    """Relays and records one call; ``start`` returns the answer for the client."""

    def __init__(self, gateway: WebRTCGateway, request: HttpRequest, offer: CallRequest
                 ) -> None:
        self.gateway = gateway
        self.recorder = gateway.recorder
        self.sink = gateway.recorder.sink
        self.request = request
        self.offer = offer
        self.no = gateway.new_no()
        self.session_id = new_id()
        self.t0_ns = time.monotonic_ns()
        self.t0_wall_ns = time.time_ns()
        self.seq = 0
        self.frames = 0
        self.bytes = 0
        self.begun = False
        self.opened = False
        self.ended = asyncio.Event()
        self.ended_callbacks: list[Callable[[], None]] = []
        self.closed_by: ClosedBy | None = None
        self.status_reason: str | None = None
        self.failed = False
        self.channels: dict[Direction, Any] = {}
        """The data channel each side's messages arrive on (client's, upstream's)."""
        self.pending: dict[Direction, list[str | bytes]] = {Direction.CLIENT: [],
                                                            Direction.SERVER: []}
        self.gone: set[Direction] = set()
        self.pc_client = new_peer()
        self.pc_upstream = new_peer()
        clock = self.clock_ns
        self.media = {
            Direction.CLIENT: MediaRecorder(Direction.CLIENT, self.next_seq, clock,
                                            self._emit_media,
                                            lambda: Direction.SERVER not in self.gone),
            Direction.SERVER: MediaRecorder(Direction.SERVER, self.next_seq, clock,
                                            self._emit_media,
                                            lambda: Direction.CLIENT not in self.gone),
        }
        self.to_upstream = RelayTrack(self.media[Direction.CLIENT].frame,
                                      lambda: sends_opus(self.pc_upstream, self.to_upstream))
        self.to_client = RelayTrack(self.media[Direction.SERVER].frame,
                                    lambda: sends_opus(self.pc_client, self.to_client))
        self.undecoded: dict[Direction, bool] = {}
        """Per source side: whether its track yields Opus packets (:mod:`.passthrough`)."""
        self._tasks: set[asyncio.Task[Any]] = set()

    # clock and records ----------------------------------------------------------------

    def clock_ns(self) -> int:
        return time.monotonic_ns() - self.t0_ns

    def next_seq(self) -> int:
        seq = self.seq
        self.seq += 1
        return seq

    def _emit_media(self, chunk: MediaChunk) -> None:
        self.sink.control(Media(
            self.no, chunk.seq, chunk.direction is Direction.SERVER, chunk.t_ns,
            self.t0_wall_ns + chunk.t_ns, chunk.audio, chunk.opus, chunk.response_id,
            chunk.item_id, chunk.delivered))

    def _begin(self) -> None:
        self.sink.control(Begin(self.no, self.gateway.session_fields(
            self.session_id, self.request, self.t0_wall_ns)))
        self.begun = True

    # setting up -----------------------------------------------------------------------

    async def start(self) -> HttpResponse:
        """Offer to the upstream, answer the client; failures are answered and recorded."""
        self._begin()
        config = self.recorder.relay_config
        up = self.pc_upstream
        channel = up.createDataChannel(DATA_CHANNEL)
        self._wire_channel(channel, Direction.SERVER)
        up.addTrack(self.to_upstream)
        up.on("track", self._upstream_track)
        up.on("connectionstatechange", lambda: self._state(up, Direction.SERVER))
        try:
            offer = await up.createOffer()
            pin_addresses(up, self.gateway.upstream_ice)
            await up.setLocalDescription(offer)
            url, headers, body = self.gateway.upstream_request(
                self.request, self.offer, up.localDescription.sdp)
            answer = await post(url, headers, body, ssl=config.upstream_ssl,
                                timeout=config.upstream_timeout)
        except TimeoutError:
            return await self._refuse(504, f"upstream did not answer within "
                                           f"{config.upstream_timeout:g} s")
        except (OSError, HttpClientError) as exc:
            return await self._refuse(502, f"upstream unreachable: "
                                           f"{redact_url(str(getattr(exc, 'strerror', None) or exc))}")
        if answer.status not in (200, 201):
            return await self._refuse(answer.status, f"upstream refused the offer with HTTP "
                                                     f"{answer.status}", answer)
        try:
            await up.setRemoteDescription(RTCSessionDescription(
                answer.body.decode("utf-8", "replace"), "answer"))
        except ValueError as exc:
            return await self._refuse(502, f"invalid SDP answer from the upstream: {exc}")
        try:
            client = self.pc_client
            client.on("datachannel", lambda ch: self._wire_channel(ch, Direction.CLIENT))
            client.on("track", self._client_track)
            client.on("connectionstatechange", lambda: self._state(client, Direction.CLIENT))
            await client.setRemoteDescription(RTCSessionDescription(self.offer.sdp, "offer"))
            client.addTrack(self.to_client)
            local = await client.createAnswer()
            pin_addresses(client, self.gateway.client_ice)
            await client.setLocalDescription(local)
        except ValueError as exc:
            return await self._refuse(400, f"invalid SDP offer: {exc}")
        log.info("session %s audio relayed: to upstream %s, to client %s", self.session_id,
                 self._relay_mode(Direction.CLIENT), self._relay_mode(Direction.SERVER))
        self._task(self._watchdog(), "rtcapture-webrtc-watchdog")
        call_id = call_id_from_location(answer.header("Location"))
        self.recorder.echo(f"session {self.session_id} open  {redact_url(self.request.path)}"
                           f" (webrtc{', call ' + call_id if call_id else ''})")
        self.sink.control(Opened(self.no))
        self.opened = True
        return HttpResponse(answer.status, client.localDescription.sdp.encode(),
                            self.gateway.client_headers(answer) +
                            [("Content-Type", "application/sdp")])

    async def _refuse(self, status: int, reason: str,
                      upstream: HttpResponse | None = None) -> HttpResponse:
        self.failed = True
        self.status_reason = reason
        self.recorder.echo(f"session {self.session_id} failed: HTTP {status} {reason}")
        await self._end(close_code=status)
        if upstream is not None:
            kind = upstream.header("Content-Type")
            return HttpResponse(status, upstream.body,
                                [("Content-Type", kind)] if kind else [])
        return HttpResponse.text(status, reason)

    def _task(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _upstream_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self.undecoded[Direction.SERVER] = receive_encoded(self.pc_upstream, track)
            self.to_client.bind(track)

    def _client_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self.undecoded[Direction.CLIENT] = receive_encoded(self.pc_client, track)
            self.to_upstream.bind(track)

    def _relay_mode(self, source: Direction) -> str:
        """How audio from ``source`` is relayed (for the log)."""
        relay = self.to_upstream if source is Direction.CLIENT else self.to_client
        passed = self.undecoded.get(source) and relay.sends_opus()
        return "as Opus packets" if passed else "decoded and re-encoded"


    # the relay ------------------------------------------------------------------------

    def _wire_channel(self, channel: Any, side: Direction) -> None:
        if side is Direction.CLIENT and channel.label != DATA_CHANNEL:
            return
        self.channels[side] = channel
        other = Direction.SERVER if side is Direction.CLIENT else Direction.CLIENT
        watch = self.media[Direction.SERVER].watch if side is Direction.SERVER else None

        def on_message(message: str | bytes) -> None:
            t_ns = time.monotonic_ns() - self.t0_ns
            target = self.channels.get(other)
            delivered = other not in self.gone
            if delivered:
                if target is not None and target.readyState == "open":
                    target.send(message)
                else:
                    self.pending[other].append(message)
            binary = isinstance(message, bytes)
            data = message if isinstance(message, bytes) \
                else message.encode("utf-8", "surrogatepass")
            self.sink.frame(self.no, self.next_seq(), side is Direction.SERVER, binary,
                            delivered, t_ns, self.t0_wall_ns + t_ns, data)
            self.frames += 1
            self.bytes += len(data)
            if watch is not None:
                watch(data)

        def on_open() -> None:
            for message in self.pending[side]:
                channel.send(message)
            self.pending[side].clear()

        channel.on("message", on_message)
        channel.on("open", on_open)
        channel.on("close", lambda: self.hang_up(ClosedBy(side), f"{side} closed the data channel"))
        if channel.readyState == "open":
            on_open()

    def _state(self, pc: Any, side: Direction) -> None:
        state = pc.connectionState
        if state == "failed":
            if not self.opened_both():
                self.failed = True
                self.status_reason = f"ICE/DTLS failed on the {side} leg"
            self.hang_up(ClosedBy(side), f"{side} connection failed")
        elif state == "closed":
            self.hang_up(ClosedBy(side), f"{side} connection closed")

    def opened_both(self) -> bool:
        return all(ch.readyState == "open" for ch in self.channels.values()) and \
            len(self.channels) == 2

    async def _watchdog(self) -> None:
        await asyncio.sleep(CONNECT_TIMEOUT_S)
        if not self.opened_both() and not self.ended.is_set():
            self.failed = True
            self.status_reason = (f"ICE/DTLS did not complete within {CONNECT_TIMEOUT_S:g} s "
                                  f"(client {self.pc_client.connectionState}, upstream "
                                  f"{self.pc_upstream.connectionState})")
            self.hang_up(ClosedBy.RECORDER, self.status_reason)

    # ending ---------------------------------------------------------------------------

    def hang_up(self, by: ClosedBy, reason: str) -> None:
        """One side went away (or the recorder stops): close the other, end the session."""
        if self.closed_by is None:
            self.closed_by = by
            if self.status_reason is None and by is ClosedBy.RECORDER:
                self.status_reason = reason
            with contextlib.suppress(ValueError):
                self.gone.add(Direction(by))
        if not self.ended.is_set() and not any(t.get_name() == "rtcapture-webrtc-end"
                                               for t in self._tasks):
            self._task(self._end(), "rtcapture-webrtc-end")

    async def _end(self, close_code: int | None = None) -> None:
        if self.ended.is_set():
            return
        self.gone.update((Direction.CLIENT, Direction.SERVER))
        for recorder in self.media.values():
            recorder.close()
        self.to_client.stop()
        self.to_upstream.stop()
        for pc in (self.pc_client, self.pc_upstream):
            with contextlib.suppress(Exception):
                await pc.close()
        status = Status.FAILED if self.failed else Status.CLOSED
        self.sink.control(End(self.no, datetime.now(UTC), status, self.status_reason,
                              close_code=close_code, closed_by=self.closed_by,
                              dropped=self.sink.take_dropped(self.no)))
        stats = self.recorder.stats
        stats.sessions += 1
        stats.frames += self.frames
        stats.bytes += self.bytes
        if self.failed:
            stats.failed += 1
        self.ended.set()
        for callback in self.ended_callbacks:
            callback()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
