"""A raw WebSocket client for the mock, and audio builders for user turns."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from rtcapture.codec import encode_samples
from rtcapture.mock.synth import silence, synthesize
from rtcapture.protocol import PCM16, AudioFormat
from tests.conftest import deadline

Event = dict[str, Any]

GA_TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}]


class RawClient:
    """Sends events and keeps every server frame (raw and decoded)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.raw: list[bytes] = []
        self.events: list[Event] = []
        self._cursor = 0

    @classmethod
    async def open(cls, url: str, *, beta: bool = False, path: str = "/v1/realtime?model=gpt-realtime",
                   **kwargs: Any) -> RawClient:
        headers = {"Authorization": "Bearer sk-test-canary-0000",
                   **kwargs.pop("additional_headers", {})}
        if beta:
            headers["OpenAI-Beta"] = "realtime=v1"
        ws = await connect(url + path, additional_headers=headers, max_size=None,
                           compression=None, max_queue=None, **kwargs)
        return cls(ws)

    async def send(self, event: Event | str | bytes) -> None:
        if isinstance(event, dict):
            event = json.dumps(event)
        await self.ws.send(event)

    async def next(self, timeout: float = 5.0) -> Event:
        """The next event not yet returned by ``next``/``until``."""
        while self._cursor >= len(self.events):
            async with asyncio.timeout(deadline(timeout)):
                frame = await self.ws.recv(decode=False)
            self.raw.append(frame)
            self.events.append(json.loads(frame))
        self._cursor += 1
        return self.events[self._cursor - 1]

    async def until(self, pred: Callable[[Event], bool] | str, timeout: float = 10.0
                    ) -> list[Event]:
        """Events up to and including the first matching ``pred`` (or of that type)."""
        if isinstance(pred, str):
            wanted = pred
            pred = lambda e: e["type"] == wanted  # noqa: E731
        out = []
        async with asyncio.timeout(deadline(timeout)):
            while True:
                event = await self.next(timeout)
                out.append(event)
                if pred(event):
                    return out

    async def close(self) -> None:
        await self.ws.close()


def types(events: list[Event]) -> list[str]:
    return [e["type"] for e in events]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def spoken(text: str, fmt: AudioFormat = PCM16, *, lead_ms: float = 400,
           tail_ms: float = 700) -> bytes:
    """A speech-like utterance with silence around it, encoded in ``fmt``."""
    speech = synthesize(text, fmt.rate, voice="user-voice").samples
    samples = np.concatenate([silence(lead_ms, fmt.rate), speech, silence(tail_ms, fmt.rate)])
    return encode_samples(samples, fmt)


def appends(data: bytes, fmt: AudioFormat = PCM16, chunk_ms: int = 100) -> list[Event]:
    """``input_audio_buffer.append`` events of ``chunk_ms`` each."""
    step = int(chunk_ms * fmt.bytes_per_ms)
    return [{"type": "input_audio_buffer.append", "audio": b64(data[i:i + step])}
            for i in range(0, len(data), step)]


def user_text(text: str) -> Event:
    return {"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}


def text_session(beta: bool) -> Event:
    """A session.update turning on text-only replies and manual turns."""
    if beta:
        return {"type": "session.update", "session": {"modalities": ["text"],
                                                      "turn_detection": None}}
    return {"type": "session.update", "session": {
        "type": "realtime", "output_modalities": ["text"],
        "audio": {"input": {"turn_detection": None}}}}
