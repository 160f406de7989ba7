"""A test client that does what a browser page does with the Realtime API over WebRTC:
POST the SDP offer, talk on ``oai-events``, send a microphone track, hear the answer."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from rtcapture.webrtc.http import HttpResponse, post
from rtcapture.webrtc.ice import LOOPBACK, new_peer, pin_addresses
from rtcapture.webrtc.media import PcmConverter, PcmTrack

KEY = "ek_68a0c1f2e5d84b9c8f3e2a1b0c9d8e7f"


@dataclass
class BrowserCall:
    """One call from the page's point of view."""

    pc: Any
    channel: Any
    mic: PcmTrack
    answer: HttpResponse | None = None
    sent: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    heard: bytearray = field(default_factory=bytearray)
    """Everything the remote track played (PCM16 24 kHz mono, silence included)."""
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def send(self, event: dict[str, Any]) -> None:
        text = json.dumps(event)
        self.sent.append(text)
        self.channel.send(text)

    def types(self) -> list[str]:
        return [json.loads(m).get("type", "") for m in self.received]

    async def until(self, pred: Callable[[dict[str, Any]], bool] | str, timeout: float = 20.0,
                    start: int = 0) -> dict[str, Any]:
        """The first received event at index >= ``start`` matching ``pred``."""
        if isinstance(pred, str):
            kind = pred
            pred = lambda e: e.get("type") == kind  # noqa: E731
        try:
            return await self._until(pred, timeout, start)
        except TimeoutError:
            raise TimeoutError(f"no matching event within {timeout:g} s; received after "
                               f"#{start}: {self.types()[start:]}") from None

    async def _until(self, pred: Callable[[dict[str, Any]], bool], timeout: float,
                     start: int) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            seen = start
            while True:
                while seen < len(self.received):
                    event = json.loads(self.received[seen])
                    seen += 1
                    if pred(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

    def _on_message(self, message: str | bytes) -> None:
        self.received.append(message if isinstance(message, str) else message.decode())
        self._changed.set()

    async def _listen(self, track: MediaStreamTrack) -> None:
        converter = PcmConverter()
        try:
            while True:
                self.heard += converter.convert(await track.recv())
        except MediaStreamError:
            pass

    async def close(self) -> None:
        self.mic.stop()
        await self.pc.close()
        for task in self._tasks:
            task.cancel()


async def open_call(base: str, *, path: str = "/v1/realtime/calls",
                    key: str = KEY, session: dict[str, Any] | None = None,
                    timeout: float = 20.0, connect: bool = True) -> BrowserCall:
    """Create a call at ``base`` (http://HOST:PORT); returns once the channel is open,
    or with ``answer`` set to the refusal when the call was not created. ``connect=False``
    hangs up as soon as the answer is in (before ICE)."""
    pc = new_peer()
    channel = pc.createDataChannel("oai-events")
    mic = PcmTrack()
    mic.sent = bytearray()  # aiortc pulls frames once DTLS is up: this is what was sent
    pc.addTrack(mic)
    call = BrowserCall(pc, channel, mic)
    opened = asyncio.Event()
    channel.on("open", opened.set)
    channel.on("message", call._on_message)

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        task = asyncio.get_running_loop().create_task(call._listen(track))
        call._tasks.add(task)

    offer = await pc.createOffer()
    pin_addresses(pc, LOOPBACK)
    await pc.setLocalDescription(offer)
    sdp = pc.localDescription.sdp
    headers = [("Authorization", f"Bearer {key}")]
    if session is None:
        body = sdp.encode()
        headers.append(("Content-Type", "application/sdp"))
    else:
        boundary = "rtcaptureboundary7MA4YWxk"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"sdp\"\r\n\r\n{sdp}\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"session\"\r\n"
                f"Content-Type: application/json\r\n\r\n{json.dumps(session)}\r\n"
                f"--{boundary}--\r\n").encode()
        headers.append(("Content-Type", f"multipart/form-data; boundary={boundary}"))
    call.answer = await post(base + path, headers, body, timeout=timeout)
    if call.answer.status != 201 or not connect:
        await pc.close()
        return call
    await pc.setRemoteDescription(RTCSessionDescription(call.answer.body.decode(), "answer"))
    async with asyncio.timeout(timeout):
        await opened.wait()
    return call


def now_ms() -> float:
    return time.monotonic() * 1000
