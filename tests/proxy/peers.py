"""Frame-exact WebSocket peers for relay tests, built on websockets' Sans-I/O layer.

Unlike the high-level API they neither validate UTF-8 nor reassemble fragments, so a
test sees exactly the frames that crossed the wire.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.uri import parse_uri


@dataclass
class Message:
    """A whole message as it crossed the wire."""

    opcode: str
    data: bytes

    @property
    def event(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.data)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


class _Peer(asyncio.Protocol):
    def __init__(self, proto: Any) -> None:
        self.proto = proto
        self.transport: asyncio.Transport | None = None
        self.received: list[Message] = []
        self.sent: list[Message] = []
        self.frames: list[Frame] = []
        self.request: Request | None = None
        self.response: Response | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self.opened = asyncio.get_running_loop().create_future()
        self.changed = asyncio.Condition()
        self.writable = asyncio.Event()
        """Clear while the transport's write buffer is above its high-water mark."""
        self.writable.set()
        self._fragments: list[bytes] = []
        self._fragment_op = "text"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.proto.receive_data(data)
        for event in self.proto.events_received():
            self.on_event(event)
        self.flush()
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    def eof_received(self) -> bool:
        self.proto.receive_eof()
        self.flush()
        return False

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    async def drain(self) -> None:
        """Wait until the transport accepts more data (returns at once once closed)."""
        await self.writable.wait()

    def connection_lost(self, exc: Exception | None) -> None:
        self.writable.set()
        if not self.closed.done():
            rcvd = self.proto.close_rcvd
            self.closed.set_result((rcvd.code, rcvd.reason) if rcvd else (1006, ""))
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed before open"))
        asyncio.get_running_loop().create_task(self._notify())

    def on_event(self, event: Any) -> None:
        if isinstance(event, Frame):
            self.frames.append(event)
            if event.opcode in (Opcode.TEXT, Opcode.BINARY):
                op = "text" if event.opcode is Opcode.TEXT else "binary"
                if event.fin:
                    self.on_message(Message(op, bytes(event.data)))
                else:
                    self._fragments, self._fragment_op = [bytes(event.data)], op
            elif event.opcode is Opcode.CONT:
                self._fragments.append(bytes(event.data))
                if event.fin:
                    self.on_message(Message(self._fragment_op, b"".join(self._fragments)))

    def on_message(self, message: Message) -> None:
        self.received.append(message)

    def flush(self) -> None:
        if self.transport is None:
            return
        for chunk in self.proto.data_to_send():
            if chunk:
                self.transport.write(chunk)
            elif self.transport.can_write_eof():
                self.transport.write_eof()
            else:
                self.transport.close()

    def send(self, data: bytes | str, binary: bool = False) -> None:
        raw = data.encode() if isinstance(data, str) else data
        if binary:
            self.proto.send_binary(raw)
        else:
            self.proto.send_text(raw)
        self.sent.append(Message("binary" if binary else "text", raw))
        self.flush()

    def send_fragments(self, parts: list[bytes]) -> None:
        for i, part in enumerate(parts):
            fin = i == len(parts) - 1
            if i == 0:
                self.proto.send_text(part, fin=fin)
            else:
                self.proto.send_continuation(part, fin=fin)
        self.sent.append(Message("text", b"".join(parts)))
        self.flush()

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.proto.send_close(code, reason)
        self.flush()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            async with self.changed:
                await self.changed.wait_for(predicate)


Reply = Callable[["UpstreamConn", Message], None]


class UpstreamConn(_Peer):
    """One connection to :class:`Upstream`."""

    def __init__(self, server: Upstream) -> None:
        super().__init__(ServerProtocol(max_size=None,
                                        select_subprotocol=lambda p, offered: server.pick(offered)))
        self.server = server

    def on_event(self, event: Any) -> None:
        if isinstance(event, Request):
            self.request = event
            behaviour = self.server.handshake
            if behaviour == "hang":
                return
            if isinstance(behaviour, tuple):
                status, body = behaviour
                response = self.proto.reject(status, "")
                response.body = body
                del response.headers["Content-Length"]
                del response.headers["Content-Type"]
                response.headers["Content-Length"] = str(len(body))
                response.headers["Content-Type"] = "application/json"
                self.proto.send_response(response)
                return
            self.proto.send_response(self.proto.accept(event))
            self.server.connections.append(self)
            if not self.opened.done():
                self.opened.set_result(None)
            if self.server.greeting is not None:
                self.send(self.server.greeting)
            return
        super().on_event(event)

    def on_message(self, message: Message) -> None:
        super().on_message(message)
        if self.server.reply is not None:
            self.server.reply(self, message)


@dataclass
class Upstream:
    """A local upstream that logs every frame and answers as told."""

    reply: Reply | None = None
    greeting: bytes | None = None
    handshake: str | tuple[int, bytes] = "accept"
    subprotocol_choice: str | None = "realtime"
    connections: list[UpstreamConn] = field(default_factory=list)
    server: asyncio.Server | None = None

    def pick(self, offered: Any) -> Any:
        return self.subprotocol_choice if self.subprotocol_choice in offered else None

    async def start(self) -> Upstream:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: UpstreamConn(self), "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for conn in self.connections:
            if conn.transport is not None:
                conn.transport.abort()


def echo(conn: UpstreamConn, message: Message) -> None:
    """Reply: send every message straight back."""
    conn.send(message.data, binary=message.opcode == "binary")


class RawClient(_Peer):
    """A client that sends exactly the frames it is told to."""


async def raw_connect(url: str, path: str = "/v1/realtime?model=gpt-realtime",
                      headers: list[tuple[str, str]] | None = None,
                      subprotocols: list[str] | None = None, timeout: float = 10.0) -> RawClient:
    """Open a RawClient; raises ConnectionError with the HTTP status if refused."""
    uri = parse_uri(url + path)
    proto = ClientProtocol(uri, subprotocols=subprotocols, max_size=None)  # type: ignore[arg-type]
    client = RawClient(proto)
    loop = asyncio.get_running_loop()
    opened = client.opened

    def on_event(event: Any) -> None:
        if isinstance(event, Response):
            client.response = event
            if proto.handshake_exc is None:
                opened.set_result(None)
            else:
                opened.set_exception(ConnectionError(f"HTTP {event.status_code}"))
            return
        _Peer.on_event(client, event)

    client.on_event = on_event  # type: ignore[method-assign]
    await loop.create_connection(lambda: client, uri.host, uri.port)
    request = proto.connect()
    for name, value in headers or []:
        request.headers[name] = value
    proto.send_request(request)
    client.flush()
    async with asyncio.timeout(timeout):
        await opened
    return client


def headers_of(request: Request | None) -> Headers:
    assert request is not None
    return request.headers


def realtime_reply(conn: UpstreamConn, message: Message) -> None:
    """Reply like a tiny Realtime server (enough for the SDKs to proceed)."""
    event = message.event
    if event is None:
        conn.send(json.dumps({"type": "error", "event_id": "event_err", "error": {
            "type": "invalid_request_error", "code": "invalid_json",
            "message": "invalid JSON", "param": None, "event_id": None}}))
        return
    etype = event.get("type")
    n = len(conn.sent)
    if etype == "session.update":
        conn.send(json.dumps({"type": "session.updated", "event_id": f"event_{n}",
                              "session": event.get("session", {})}))
    elif etype == "conversation.item.create":
        item = dict(event.get("item") or {})
        item.setdefault("id", f"item_{n:04d}")
        beta = any(k.lower() == "openai-beta" for k in headers_of(conn.request))
        if beta:
            conn.send(json.dumps({"type": "conversation.item.created", "event_id": f"event_{n}",
                                  "previous_item_id": None, "item": item}))
        else:
            for kind in ("added", "done"):
                conn.send(json.dumps({"type": f"conversation.item.{kind}",
                                      "event_id": f"event_{n}{kind}",
                                      "previous_item_id": None, "item": item}))
    elif etype == "input_audio_buffer.append":
        conn.send(json.dumps({"type": "response.output_audio.delta", "event_id": event.get(
            "event_id", f"event_{n}"), "response_id": "resp_1", "item_id": "item_a",
            "output_index": 0, "content_index": 0, "delta": event.get("audio", "")}))


SESSION_CREATED = json.dumps({"type": "session.created", "event_id": "event_0",
                              "session": {"id": "sess_1", "object": "realtime.session",
                                          "model": "gpt-realtime"}}).encode()


async def assert_serves_another(url: str, timeout: float = 5.0) -> None:
    """A new session through the recorder at ``url`` round-trips a frame (it carried on)."""
    from tests.conftest import deadline

    client = await raw_connect(url)
    client.send(b'{"type": "next"}')
    await client.wait_for(lambda: len(client.received) == 1, deadline(timeout))
    client.close()
    await asyncio.wait_for(client.closed, deadline(timeout))
