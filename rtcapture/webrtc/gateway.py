"""The recorder's WebRTC side: ``POST .../realtime/calls`` answered by two relayed peers.

The client's offer is not passed on: the recorder terminates WebRTC with the client, makes
its own offer to the upstream's call endpoint (the request's key and Realtime headers
forwarded), and answers the client with its own SDP under the upstream's status and
headers (``Location`` with the call id included). Then every ``oai-events`` message is
relayed unchanged both ways and stored as the session's frames, and the audio each way is
relayed and stored as media rows (:mod:`.mediarecorder`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..protocol import ClosedBy, Flavour, Transport, model_from_path, redact_headers, redact_url
from ..protocol.webrtc import (
    CallRequest,
    CallRequestError,
    calls_url,
    is_calls_path,
    parse_call_request,
)
from ..proxy.controls import SessionFields
from .addresses import addresses_facing
from .http import HttpRequest, HttpResponse, Sniffer, answer_call_request

if TYPE_CHECKING:
    from ..proxy.recorder import Recorder
    from .call import RecordedCall

log = logging.getLogger("rtcapture.recorder")

FORWARDED = frozenset({"authorization", "api-key", "openai-beta", "openai-organization",
                       "openai-project", "user-agent", "accept"})
"""Request headers a Realtime client sends that go upstream (as on the WebSocket path)."""
ANSWER_SKIPPED = frozenset({"content-length", "connection", "transfer-encoding",
                            "keep-alive", "set-cookie", "content-type", "date", "server"})
FIRST_NO = 1 << 31
"""WebRTC sessions number from here in the writer stream (WebSocket sessions from 1)."""


class WebRTCGateway:
    """Routes a recorder connection's ``POST`` to a recorded WebRTC call."""

    def __init__(self, recorder: Recorder, ice_addresses: Sequence[str] = ()) -> None:
        self.recorder = recorder
        config = recorder.relay_config
        self.client_ice = addresses_facing(recorder.listen_host or "0.0.0.0", ice_addresses)
        self.upstream_ice = addresses_facing(config.upstream.host, ice_addresses)
        self.calls: set[RecordedCall] = set()
        self._next_no = FIRST_NO

    def route(self, protocol: Any) -> Any:
        """The protocol for an accepted connection: decides at its first bytes."""
        return Sniffer(protocol, self.handle,
                       on_diverted=lambda: protocol.connection_lost(None))

    def new_no(self) -> int:
        self._next_no += 1
        return self._next_no

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one call-creation request (refusals are recorded as failed sessions)."""
        problem = self._check(request)
        if problem is not None:
            return HttpResponse.text(*problem)
        return await answer_call_request(request, self._create)

    async def _create(self, request: HttpRequest) -> HttpResponse:
        try:
            offer = parse_call_request(request.header("Content-Type"), request.body)
        except CallRequestError as exc:
            return HttpResponse.text(400, str(exc))
        try:
            from .call import RecordedCall
        except ImportError:
            return HttpResponse.text(501, "WebRTC needs the webrtc extra: "
                                          "pip install 'rtcapture[webrtc]'")
        call = RecordedCall(self, request, offer)
        self.calls.add(call)
        call.ended_callbacks.append(lambda: self.calls.discard(call))
        return await call.start()

    def _check(self, request: HttpRequest) -> tuple[int, str] | None:
        from ..proxy.handshake import TOKEN_HEADER, is_loopback_origin

        config = self.recorder.relay_config
        path = request.path
        if not path.startswith("/") or path.startswith("//"):
            return 400, "invalid request path"
        if request.method not in ("POST", "OPTIONS") or not is_calls_path(path):
            return 404, "not found: POST /v1/realtime/calls creates a WebRTC call"
        origin = request.header("Origin")
        if origin is not None and origin not in config.allowed_origins and not (
                config.allow_loopback_origins and is_loopback_origin(origin)):
            return 403, "origin not allowed"
        if request.method == "OPTIONS":
            return None  # a preflight carries no credentials
        if config.token is not None and not hmac.compare_digest(
                (request.header(TOKEN_HEADER) or "").encode(), config.token.encode()):
            return 401, "missing or wrong rtcapture token"
        if not self.recorder.sink.store_ok:
            return 503, "recording store unavailable"
        return None

    def upstream_request(self, request: HttpRequest, offer: CallRequest, sdp: str
                         ) -> tuple[str, list[tuple[str, str]], bytes]:
        """URL, headers and body of the recorder's own offer to the upstream."""
        url = calls_url(self.recorder.upstream_url, request.path)
        headers = [(k, v) for k, v in request.headers if k.lower() in FORWARDED]
        if offer.session is None:
            return url, headers + [("Content-Type", "application/sdp")], sdp.encode()
        import json

        boundary = "rtcapture" + format(time.monotonic_ns(), "x")
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"sdp\"\r\n"
                f"Content-Type: application/sdp\r\n\r\n{sdp}\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"session\"\r\n"
                f"Content-Type: application/json\r\n\r\n{json.dumps(offer.session)}\r\n"
                f"--{boundary}--\r\n").encode()
        return url, headers + [("Content-Type", f"multipart/form-data; boundary={boundary}")], body

    def session_fields(self, session_id: str, request: HttpRequest, t0_wall_ns: int
                       ) -> SessionFields:
        """The ``begin`` record of a WebRTC session (secrets redacted)."""
        peer = request.peer
        return SessionFields(
            id=session_id,
            started=datetime.fromtimestamp(t0_wall_ns / 1e9, tz=UTC),
            upstream_url=self.recorder.upstream_display,
            path=redact_url(request.path),
            model=model_from_path(request.path),
            client_addr=f"{peer[0]}:{peer[1]}" if peer else None,
            headers=tuple(redact_headers(request.headers)),
            flavour=Flavour.GA,
            label=self.recorder.label,
            transport=Transport.WEBRTC,
        )

    @staticmethod
    def client_headers(upstream: HttpResponse) -> list[tuple[str, str]]:
        """The upstream's answer headers as passed to the client (our SDP replaces its)."""
        return [(k, v) for k, v in upstream.headers if k.lower() not in ANSWER_SKIPPED]

    async def close(self, grace: float = 3.0) -> None:
        """Hang up every call (recorder shutting down)."""
        calls = list(self.calls)
        for call in calls:
            call.hang_up(ClosedBy.RECORDER, "recorder shutting down")
        if calls:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await asyncio.gather(*(c.ended.wait() for c in calls))

