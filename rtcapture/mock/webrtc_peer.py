"""The answering side of one mock WebRTC call: the peer, its outgoing track, the offer
applied and answered, and the hooks a kind of call (scripted, playback) fills in."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any

from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from ..protocol.webrtc import DATA_CHANNEL, CallRequest
from ..webrtc.ice import new_peer, pin_addresses
from ..webrtc.media import PcmTrack


class AnsweringCall:
    """A call the mock answers: ``answer()`` wires the peer's events to the hooks."""

    def __init__(self, request: CallRequest, ice_addresses: Sequence[str] | None) -> None:
        self.request = request
        self.ice_addresses = ice_addresses
        self.pc = new_peer()
        self.track = PcmTrack()
        self.tasks: set[asyncio.Task[None]] = set()
        self.ended = asyncio.Event()

    def _task(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def on_channel(self, channel: Any) -> None:
        """The ``oai-events`` data channel arrived."""

    def on_audio(self, track: MediaStreamTrack) -> None:
        """The caller's audio track arrived."""

    def on_failed(self) -> None:
        """The peer connection failed or closed."""

    def on_answered(self) -> None:
        """The answer is set: the call may start serving."""

    async def answer(self) -> str:
        """Apply the offer, return the SDP answer."""
        pc = self.pc

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            if channel.label == DATA_CHANNEL:
                self.on_channel(channel)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                self.on_audio(track)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self.on_failed()

        await pc.setRemoteDescription(RTCSessionDescription(self.request.sdp, "offer"))
        pc.addTrack(self.track)
        answer = await pc.createAnswer()
        pin_addresses(pc, self.ice_addresses)
        await pc.setLocalDescription(answer)
        self.on_answered()
        return str(pc.localDescription.sdp)
