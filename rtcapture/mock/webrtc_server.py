"""The mock's port serves ``POST .../realtime/calls`` beside its WebSocket endpoint.

Importing this module needs no WebRTC stack: aiortc is imported on the first call, and
without it a call is answered ``501`` (install the ``webrtc`` extra).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.server import ServerConnection

from ..ids import new_id
from ..protocol import model_from_path
from ..protocol.webrtc import (
    SDP_TYPE,
    CallRequest,
    CallRequestError,
    is_calls_path,
    parse_call_request,
)
from ..store.records import EventRecord
from ..webrtc.http import (
    HttpExchange,
    HttpRequest,
    HttpResponse,
    answer_call_request,
    looks_like_post,
)
from .errors import MockError
from .playback import Close, build_cues, client_times

log = logging.getLogger("rtcapture.mock")


class MockCalls:
    """Creates and keeps the mock's WebRTC calls."""

    def __init__(self, *, scenario: Any, seed: int, fast: bool,
                 ice_addresses: Sequence[str] | None,
                 playback: Sequence[EventRecord] | None = None, speed: float = 1.0,
                 close: Close | None = None) -> None:
        self.scenario = scenario
        self.seed = seed
        self.fast = fast
        self.ice_addresses = ice_addresses
        self.calls: dict[str, Any] = {}
        self.playback = None if playback is None else (
            build_cues(playback, client_media=False), client_times(playback, client_media=False))
        """The cues and client times of a recording served back, or None (scripted)."""
        self.speed = speed
        self.close_as = close

    async def handle(self, request: HttpRequest) -> HttpResponse:
        if not is_calls_path(request.path):
            return HttpResponse.text(404, "not found: the mock takes POST /v1/realtime/calls")
        return await answer_call_request(request, self._create)

    async def _create(self, request: HttpRequest) -> HttpResponse:
        try:
            offer = parse_call_request(request.header("Content-Type"), request.body)
        except CallRequestError as exc:
            return _error(400, "invalid_request_error", str(exc))
        try:
            call = self._call(offer, request)
        except ImportError:
            return HttpResponse.text(501, "WebRTC needs the webrtc extra: "
                                          "pip install 'rtcapture[webrtc]'")
        except MockError as exc:
            return _error(400, "invalid_request_error", exc.message)
        try:
            answer = await call.answer()
        except ValueError as exc:
            await call.close()
            return _error(400, "invalid_request_error", f"invalid SDP offer: {exc}")
        call_id = "rtc_" + new_id().lower()
        self.calls[call_id] = call
        path = request.path.split("?", 1)[0].rstrip("/")
        return HttpResponse(201, answer.encode(), [("Content-Type", SDP_TYPE),
                                                   ("Location", f"{path}/{call_id}")])

    def _call(self, offer: CallRequest, request: HttpRequest) -> Any:
        """A scripted call, or one serving the recording back (ImportError without aiortc)."""
        if self.playback is not None:
            from .webrtc_playback import PlaybackCall

            cues, times = self.playback
            return PlaybackCall(offer, cues, times, fast=self.fast, speed=self.speed,
                                close=self.close_as, ice_addresses=self.ice_addresses)
        from .webrtc_call import MockCall

        return MockCall(offer, scenario=self.scenario, seed=self.seed, fast=self.fast,
                        model=model_from_path(request.path), ice_addresses=self.ice_addresses)

    async def close(self) -> None:
        """Hang up every call."""
        calls = list(self.calls.values())
        self.calls.clear()
        for call in calls:
            with contextlib.suppress(Exception):
                await call.close()


def _error(status: int, kind: str, message: str) -> HttpResponse:
    body = json.dumps({"error": {"message": message, "type": kind, "code": None,
                                 "param": None}}).encode()
    return HttpResponse(status, body, [("Content-Type", "application/json")])


class CallOrWebSocket(ServerConnection):
    """A websockets connection that hands a ``POST`` request to :class:`MockCalls`."""

    def __init__(self, *args: Any, calls: MockCalls, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._calls = calls
        self._prefix: bytes | None = b""
        self._exchange: HttpExchange | None = None

    def data_received(self, data: bytes) -> None:
        if self._exchange is not None:
            self._exchange.data_received(data)
            return
        if self._prefix is None:
            super().data_received(data)
            return
        data = self._prefix + data
        post = looks_like_post(data)
        if post is None:
            self._prefix = data
            return
        self._prefix = None
        if not post:
            super().data_received(data)
            return
        self._exchange = HttpExchange(self._calls.handle)
        self._exchange.connection_made(self.transport)
        self._exchange.data_received(data)

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        """The WebSocket handshake; a connection that was a call creation has none (its
        end is not a failed handshake worth logging)."""
        try:
            await super().handshake(*args, **kwargs)
        except Exception:
            if self._exchange is None:
                raise

    def connection_lost(self, exc: Exception | None) -> None:
        if self._exchange is not None:
            self._exchange.connection_lost(exc)
        super().connection_lost(exc)

