"""A one-request HTTP/1.1 exchange for ``POST .../realtime/calls`` on a WebSocket port.

websockets' handshake parser refuses request bodies, so the recorder and the mock look at
a connection's first bytes: ``POST `` goes to :class:`HttpExchange`, anything else to the
WebSocket protocol, which then owns the transport (``set_protocol``: no cost per frame).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("rtcapture.webrtc")

MAX_HEAD = 64 << 10
MAX_BODY = 1 << 20
"""An SDP offer is a few kilobytes; a session configuration rarely more."""
_METHODS = (b"POST ", b"OPTIONS ")
"""A call creation, and the CORS preflight a page on another origin sends before it."""
CORS_ALLOW_HEADERS = "Authorization, Content-Type, OpenAI-Beta, X-Rtcapture-Token"


@dataclass(frozen=True)
class HttpRequest:
    """One parsed request."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    peer: tuple[str, int] | None = None

    def header(self, name: str) -> str | None:
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)


@dataclass(frozen=True)
class HttpResponse:
    """One response; ``Content-Length`` and ``Connection: close`` are added on encoding."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)

    @classmethod
    def text(cls, status: int, message: str) -> HttpResponse:
        return cls(status, (message + "\n").encode(),
                   [("Content-Type", "text/plain; charset=utf-8")])

    def encode(self) -> bytes:
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Error"
        skip = {"content-length", "connection", "transfer-encoding"}
        lines = [f"HTTP/1.1 {self.status} {phrase}"] + [
            f"{k}: {v}" for k, v in self.headers if k.lower() not in skip] + [
            f"Content-Length: {len(self.body)}", "Connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1") + self.body


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


def looks_like_post(prefix: bytes) -> bool | None:
    """True for a POST (or OPTIONS) request, False for anything else, None while undecided."""
    if any(prefix.startswith(m) for m in _METHODS):
        return True
    if any(m.startswith(prefix) for m in _METHODS):
        return None
    return False


def cors_headers(origin: str | None) -> list[tuple[str, str]]:
    """What lets a page on ``origin`` (already allowed) read the answer and its call id."""
    if origin is None:
        return []
    return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin"),
            ("Access-Control-Expose-Headers", "Location")]


def preflight(origin: str | None) -> HttpResponse:
    """The answer to a CORS preflight of ``POST .../realtime/calls``."""
    return HttpResponse(204, b"", cors_headers(origin) + [
        ("Access-Control-Allow-Methods", "POST"),
        ("Access-Control-Allow-Headers", CORS_ALLOW_HEADERS),
        ("Access-Control-Max-Age", "600")])


async def answer_call_request(request: HttpRequest, create: Handler) -> HttpResponse:
    """A preflight's answer, or ``create``'s answer to the call request with CORS headers
    for the request's (already allowed) origin."""
    origin = request.header("Origin")
    if request.method == "OPTIONS":
        return preflight(origin)
    response = await create(request)
    return HttpResponse(response.status, response.body, response.headers + cors_headers(origin))


def parse_head(head: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    """Request line and headers (``ValueError`` when malformed)."""
    lines = head.decode("latin-1").split("\r\n")
    method, path, version = lines[0].split(" ", 2)
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise ValueError("unsupported HTTP version")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ValueError("malformed header line")
        headers.append((name.strip(), value.strip()))
    return method, path, headers


class HttpExchange(asyncio.Protocol):
    """Reads one request with a ``Content-Length`` body, answers it, closes."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.task: asyncio.Task[None] | None = None
        self.gone = asyncio.Event()
        """Set when the client's connection is lost."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.task is not None:
            return
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD:
                self._answer(HttpResponse.text(431, "request head too large"))
            return
        try:
            method, path, headers = parse_head(bytes(self.buffer[:end]))
            length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
            if any(k.lower() == "transfer-encoding" for k, _ in headers):
                raise ValueError("chunked request bodies are not supported")
        except ValueError as exc:
            self._answer(HttpResponse.text(400, f"bad request: {exc}"))
            return
        if length > MAX_BODY or length < 0:
            self._answer(HttpResponse.text(413, "request body too large"))
            return
        body = bytes(self.buffer[end + 4:end + 4 + length])
        if len(body) < length:
            return
        assert self.transport is not None
        peer = self.transport.get_extra_info("peername")
        request = HttpRequest(method, path, headers, body,
                              (str(peer[0]), int(peer[1])) if peer else None)
        self.task = asyncio.get_running_loop().create_task(self._serve(request),
                                                           name="rtcapture-webrtc-http")

    async def _serve(self, request: HttpRequest) -> None:
        try:
            response = await self.handler(request)
        except Exception:  # noqa: BLE001 - a bug answers 500, never a dropped connection
            log.exception("WebRTC call handler failed")
            response = HttpResponse.text(500, "internal error")
        self._answer(response)

    def _answer(self, response: HttpResponse) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response.encode())
            self.transport.close()

    def eof_received(self) -> bool:
        return True  # half-closed clients still get their answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone.set()


class Sniffer(asyncio.Protocol):
    """Decides from the first bytes whether a connection is a call creation or a WebSocket.

    The WebSocket side (``inner``) is connected at once, so its handshake deadline runs from
    the accept whatever the first bytes turn out to be; a call creation takes the transport
    over and ``on_diverted`` ends the WebSocket side (it never saw a request)."""

    def __init__(self, inner: asyncio.Protocol, handler: Handler,
                 on_diverted: Callable[[], None] = lambda: None) -> None:
        self.inner = inner
        self.handler = handler
        self.on_diverted = on_diverted
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        decision = looks_like_post(self.buffer)
        if decision is True:
            self._divert()
        elif decision is False:
            self._hand_back()

    def _hand_back(self) -> None:
        assert self.transport is not None
        self.transport.set_protocol(self.inner)
        buffer, self.buffer = self.buffer, b""
        if buffer:
            self.inner.data_received(buffer)

    def _divert(self) -> None:
        assert self.transport is not None
        exchange = HttpExchange(self.handler)
        self.on_diverted()  # before the exchange may close the transport
        self.transport.set_protocol(exchange)
        exchange.connection_made(self.transport)
        buffer, self.buffer = self.buffer, b""
        exchange.data_received(buffer)

    def eof_received(self) -> bool | None:
        self._hand_back()
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        with contextlib.suppress(Exception):
            self.inner.connection_lost(exc)


class HttpClientError(OSError):
    """The upstream could not be reached or answered something that is not HTTP."""


async def post(url: str, headers: list[tuple[str, str]], body: bytes, *,
               ssl: Any = None, timeout: float = 10.0) -> HttpResponse:
    """One ``POST`` over a fresh connection (``Connection: close``); no redirects followed.

    Raises ``TimeoutError`` past ``timeout``, :class:`HttpClientError` (an ``OSError``) when
    the host is unreachable or the answer is not HTTP.
    """
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    authority = parts.netloc.rsplit("@", 1)[-1]
    skip = {"host", "content-length", "connection", "transfer-encoding"}
    lines = [f"POST {target} HTTP/1.1", f"Host: {authority}"] + [
        f"{k}: {v}" for k, v in headers if k.lower() not in skip] + [
        f"Content-Length: {len(body)}", "Connection: close", "", ""]
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(
            host, port, ssl=ssl if secure else None,
            server_hostname=host if secure else None)
        try:
            writer.write("\r\n".join(lines).encode("latin-1") + body)
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, _, rest = head.decode("latin-1").partition("\r\n")
            version, _, status_rest = status_line.partition(" ")
            if not version.startswith("HTTP/1."):
                raise HttpClientError(f"not an HTTP answer: {status_line[:40]!r}")
            status = int(status_rest.split(" ", 1)[0])
            answer_headers = []
            for line in rest.split("\r\n"):
                name, sep, value = line.partition(":")
                if sep:
                    answer_headers.append((name.strip(), value.strip()))
            length = next((v for k, v in answer_headers if k.lower() == "content-length"), None)
            data = await (reader.readexactly(int(length)) if length is not None
                          else reader.read(MAX_BODY))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise HttpClientError(f"invalid HTTP answer: {exc}") from None
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    return HttpResponse(status, data, answer_headers)
