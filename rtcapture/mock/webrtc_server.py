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
from ..protocol.webrtc import SDP_TYPE, CallRequestError, is_calls_path, parse_call_request
from ..webrtc.http import (
    HttpExchange,
    HttpRequest,
    HttpResponse,
    answer_call_request,
    looks_like_post,
)

log = logging.getLogger("rtcapture.mock")


class MockCalls:
    """Creates and keeps the mock's WebRTC calls."""

    def __init__(self, *, scenario: Any, seed: int, fast: bool,
                 ice_addresses: Sequence[str] | None) -> None:
        self.scenario = scenario
        self.seed = seed
        self.fast = fast
        self.ice_addresses = ice_addresses
        self.calls: dict[str, Any] = {}

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
            from .webrtc_call import MockCall
        except ImportError:
            return HttpResponse.text(501, "WebRTC needs the webrtc extra: "
                                          "pip install 'rtcapture[webrtc]'")
        from ..mock.errors import MockError

        try:
            call = MockCall(offer, scenario=self.scenario, seed=self.seed, fast=self.fast,
                            model=model_from_path(request.path),
                            ice_addresses=self.ice_addresses)
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

    def connection_lost(self, exc: Exception | None) -> None:
        if self._exchange is not None:
            self._exchange.connection_lost(exc)
        super().connection_lost(exc)

