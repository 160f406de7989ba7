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

from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..protocol import Opcode
from ..protocol.webrtc import (
    DATA_CHANNEL,
    OUTPUT_AUDIO_BUFFER_CLEARED,
    OUTPUT_AUDIO_BUFFER_STOPPED,
    CallRequest,
)
from ..webrtc.ice import new_peer, pin_addresses
from ..webrtc.media import PcmTrack
from .playback import Close, Cue, PlaybackSession

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


class PlaybackCall:
    """One call serving a recording back."""

    def __init__(self, request: CallRequest, cues: list[Cue], client_t_ns: list[int], *,
                 fast: bool, speed: float, close: Close | None,
                 ice_addresses: Sequence[str] | None) -> None:
        self.request = request
        self.ice_addresses = ice_addresses
        self.pc = new_peer()
        self.track = PcmTrack()
        self.inbox = ChannelInbox()
        self.channel: Any = None
        self.ended = asyncio.Event()
        self.session = CallPlayback(self, cues, client_t_ns, fast=fast, speed=speed,
                                    close=close)
        self.tasks: set[asyncio.Task[None]] = set()

    def _task(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def answer(self) -> str:
        """Apply the offer, return the SDP answer; playback starts as the channel opens."""
        pc = self.pc

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            if channel.label != DATA_CHANNEL:
                return
            self.channel = channel
            channel.on("message", self.inbox.put)
            channel.on("close", self.inbox.end)
            self._task(self._serve(), "mock-webrtc-playback")

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                self._task(self._drain(track), "mock-webrtc-playback-input")

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self.inbox.end()

        await pc.setRemoteDescription(RTCSessionDescription(self.request.sdp, "offer"))
        pc.addTrack(self.track)
        answer = await pc.createAnswer()
        pin_addresses(pc, self.ice_addresses)
        await pc.setLocalDescription(answer)
        return str(pc.localDescription.sdp)

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
