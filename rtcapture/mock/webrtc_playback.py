"""Playback over WebRTC: a recording's server side served back on a call.

The recorded data-channel messages go out byte-exact on ``oai-events`` by the rules of
:class:`~rtcapture.mock.playback.PlaybackSession` (each once the client has sent the
data-channel messages that preceded it; the client's track audio is not counted), and
the recorded server media rows are played on the call's audio track. An
``output_audio_buffer.stopped`` or ``.cleared`` goes out once the track has played the
audio before it, so the replay hears what the recording heard whatever ``--fast`` says.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..protocol import Opcode
from ..protocol.webrtc import (
    OUTPUT_AUDIO_BUFFER_CLEARED,
    OUTPUT_AUDIO_BUFFER_STOPPED,
    CallRequest,
)
from .playback import Close, Cue, PlaybackSession
from .webrtc_peer import AnsweringCall

_AUDIO_ENDS = (OUTPUT_AUDIO_BUFFER_STOPPED.encode(), OUTPUT_AUDIO_BUFFER_CLEARED.encode())


class ChannelInbox:
    """The client's data-channel messages as an async iterable that ends with the call."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | bytes | None] = asyncio.Queue()

    def put(self, message: str | bytes) -> None:
        self.queue.put_nowait(message)

    def end(self) -> None:
        self.queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        while (message := await self.queue.get()) is not None:
            yield message


def _ends_audio(data: bytes) -> bool:
    if not any(marker in data for marker in _AUDIO_ENDS):
        return False
    with contextlib.suppress(ValueError, AttributeError):
        return json.loads(data).get("type") in (OUTPUT_AUDIO_BUFFER_STOPPED,
                                                OUTPUT_AUDIO_BUFFER_CLEARED)
    return False


class CallPlayback(PlaybackSession):
    """A :class:`PlaybackSession` whose frames go on a call's channel and track."""

    def __init__(self, call: PlaybackCall, cues: list[Cue], client_t_ns: list[int], *,
                 fast: bool, speed: float, close: Close | None) -> None:
        super().__init__(call.inbox, cues, client_t_ns, fast=fast,  # type: ignore[arg-type]
                         speed=speed, close=close)
        self.call = call

    async def send(self, cue: Cue) -> None:
        track, channel = self.call.track, self.call.channel
        if cue.opcode == Opcode.MEDIA:
            with contextlib.suppress(ValueError, AttributeError, TypeError):
                event = json.loads(cue.data)
                track.play(base64.b64decode(event.get("delta") or ""),
                           str(event.get("response_id") or ""))
            return
        if _ends_audio(cue.data):
            drained = asyncio.ensure_future(track.drained.wait())
            ended = asyncio.ensure_future(self.call.ended.wait())
            await asyncio.wait({drained, ended}, return_when=asyncio.FIRST_COMPLETED)
            drained.cancel()
            ended.cancel()
        if channel is not None and channel.readyState == "open":
            channel.send(cue.data if cue.opcode == Opcode.BINARY else cue.data.decode())

    async def _end(self, code: int | None, reason: str) -> None:
        await self.call.close()


class PlaybackCall(AnsweringCall):
    """One call serving a recording back; playback starts as the channel opens."""

    def __init__(self, request: CallRequest, cues: list[Cue], client_t_ns: list[int], *,
                 fast: bool, speed: float, close: Close | None,
                 ice_addresses: Sequence[str] | None) -> None:
        super().__init__(request, ice_addresses)
        self.inbox = ChannelInbox()
        self.channel: Any = None
        self.session = CallPlayback(self, cues, client_t_ns, fast=fast, speed=speed,
                                    close=close)

    def on_channel(self, channel: Any) -> None:
        self.channel = channel
        channel.on("message", self.inbox.put)
        channel.on("close", self.inbox.end)
        self._task(self._serve(), "mock-webrtc-playback")

    def on_audio(self, track: MediaStreamTrack) -> None:
        self._task(self._drain(track), "mock-webrtc-playback-input")

    def on_failed(self) -> None:
        self.inbox.end()

    @staticmethod
    async def _drain(track: MediaStreamTrack) -> None:
        """Playback does not listen, but the incoming audio must not pile up."""
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()

    async def _serve(self) -> None:
        try:
            await self.session.run()
        finally:
            await self.close()

    async def close(self) -> None:
        """Hang up."""
        if self.ended.is_set():
            return
        self.ended.set()
        self.inbox.end()
        self.track.stop()
        await self.pc.close()
