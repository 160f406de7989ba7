"""The mock's WebRTC calls: the scenario engine of ``MockConnection`` over a peer connection.

Events travel on the ``oai-events`` data channel; the response audio the engine produces
is played on the call's audio track instead of being sent as deltas, framed by
``output_audio_buffer.started`` / ``.stopped``; the incoming track feeds the input buffer
(server VAD included). A barge-in, or ``output_audio_buffer.clear``, drops the queued
audio: ``output_audio_buffer.cleared`` and the server's own ``conversation.item.truncated``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Sequence
from typing import Any, cast

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from ..mock.connection import MockConnection
from ..mock.errors import MockError
from ..mock.scenario import Scenario
from ..mock.vad import VadEvent
from ..protocol import ITEM_TRUNCATED, OUTPUT_AUDIO_BUFFER_CLEAR, Flavour
from ..protocol.webrtc import (
    OUTPUT_AUDIO_BUFFER_CLEARED,
    OUTPUT_AUDIO_BUFFER_STARTED,
    OUTPUT_AUDIO_BUFFER_STOPPED,
    CallRequest,
)
from ..webrtc.media import PcmConverter, PcmTrack
from .webrtc_peer import AnsweringCall

log = logging.getLogger("rtcapture.mock")


class DataChannelSocket:
    """The part of a WebSocket connection ``MockConnection`` uses, over a data channel."""

    def __init__(self, call: MockCall) -> None:
        self.call = call
        self.channel: Any = None

    async def send(self, data: bytes, text: bool = True) -> None:
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(data.decode("utf-8"))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.call.close()


class WebRTCMockConnection(MockConnection):
    """A scripted session whose audio goes out on a track."""

    def __init__(self, socket: DataChannelSocket, track: PcmTrack, *, scenario: Scenario,
                 seed: int, fast: bool, model: str | None) -> None:
        super().__init__(None, scenario=scenario, seed=seed, fast=fast, flavour=Flavour.GA,
                         model=model)
        self.ws = socket  # type: ignore[assignment]
        self.track = track
        self.items: dict[str, str] = {}
        """Response id -> the assistant item its audio belongs to."""
        self.spawned: set[asyncio.Task[None]] = set()
        self.generated: set[str] = set()
        """Responses whose audio is complete (``response.output_audio.done`` went out)."""
        self.idle: set[str] = set()
        """Responses whose queued audio has all played (more may still come)."""

    async def send(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == self.names.audio_delta:
            rid = str(event.get("response_id") or "")
            self.items.setdefault(rid, str(event.get("item_id") or ""))
            self.idle.discard(rid)
            self.track.play(base64.b64decode(event["delta"]), rid)
            return
        await super().send(event)
        if kind == self.names.audio_done:
            rid = str(event.get("response_id") or "")
            self.generated.add(rid)
            if rid in self.idle:
                await self._stopped(rid)

    def spawn_send(self, event: dict[str, Any]) -> None:
        """Send from a synchronous callback (the track's)."""
        task = asyncio.get_running_loop().create_task(self.send(event))
        self.spawned.add(task)
        task.add_done_callback(self.spawned.discard)

    def audio_started(self, tag: str) -> None:
        self.spawn_send({"type": OUTPUT_AUDIO_BUFFER_STARTED, "response_id": tag})

    def audio_finished(self, tag: str) -> None:
        """The track played all it had of ``tag``: stopped, once its audio is complete."""
        if tag in self.generated:
            task = asyncio.get_running_loop().create_task(self._stopped(tag))
            self.spawned.add(task)
            task.add_done_callback(self.spawned.discard)
        else:
            self.idle.add(tag)

    async def _stopped(self, tag: str) -> None:
        if tag in self.generated:
            self.generated.discard(tag)
            self.idle.discard(tag)
            await self.send({"type": OUTPUT_AUDIO_BUFFER_STOPPED, "response_id": tag})

    async def on_vad(self, vad_event: VadEvent) -> None:
        await super().on_vad(vad_event)
        if vad_event.kind == "started":
            await self.clear_output()

    async def clear_output(self, always: bool = False) -> None:
        """Drop the queued audio; the item playing is truncated where playback stopped."""
        playing = self.track.playing
        if playing is None and not always:
            return
        for tag in self.track.clear():
            self.generated.discard(tag)
        await self.send({"type": OUTPUT_AUDIO_BUFFER_CLEARED, "response_id": playing})
        item_id = self.items.get(playing or "")
        if not item_id:
            return
        end_ms = int(self.track.played_ms.get(playing or "", 0.0))
        try:
            self.conversation.truncate(item_id, 0, end_ms)
        except MockError:
            return
        await self.send({"type": ITEM_TRUNCATED, "item_id": item_id, "content_index": 0,
                         "audio_end_ms": end_ms})

    async def on_output_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        await self.clear_output(always=True)

    async def feed_audio(self, pcm: bytes) -> None:
        """Audio from the incoming track, as ``input_audio_buffer.append`` would add it."""
        for vad_event in self.audio.append(pcm):
            await self.on_vad(vad_event)
        await self.check_idle()

    HANDLERS = {**MockConnection.HANDLERS,
                OUTPUT_AUDIO_BUFFER_CLEAR: on_output_audio_buffer_clear}


class MockCall(AnsweringCall):
    """One call: its peer connection, the scripted session and the task serving it."""

    def __init__(self, request: CallRequest, *, scenario: Scenario, seed: int, fast: bool,
                 model: str | None, ice_addresses: Sequence[str] | None) -> None:
        super().__init__(request, ice_addresses)
        self.socket = DataChannelSocket(self)
        self.conn = WebRTCMockConnection(self.socket, self.track, scenario=scenario,
                                         seed=seed, fast=fast, model=model)
        self.track.on_started = self.conn.audio_started
        self.track.on_finished = self.conn.audio_finished
        self.inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        if request.session is not None:
            self.conn.session.update(request.session)  # MockError: the caller answers 400
            self.conn.audio.configure(self.conn.session.input_format,
                                      self.conn.session.turn_detection)

    def on_channel(self, channel: Any) -> None:
        self.socket.channel = channel
        channel.on("message", lambda m: self.inbox.put_nowait(("event", m)))
        channel.on("close", lambda: self.inbox.put_nowait(("end", None)))
        self.inbox.put_nowait(("open", None))

    def on_audio(self, track: MediaStreamTrack) -> None:
        self._task(self._listen(track), "mock-webrtc-input")

    def on_failed(self) -> None:
        self.inbox.put_nowait(("end", None))

    def on_answered(self) -> None:
        self._task(self._serve(), "mock-webrtc-call")

    async def _listen(self, track: MediaStreamTrack) -> None:
        converter = PcmConverter()
        with contextlib.suppress(MediaStreamError):
            while True:
                # aiortc types recv() for every kind of track; an audio track's are audio
                frame = cast(AudioFrame, await track.recv())
                self.inbox.put_nowait(("audio", converter.convert(frame)))

    async def _serve(self) -> None:
        conn = self.conn
        try:
            while True:
                kind, value = await self.inbox.get()
                if kind == "open":
                    await conn.start()
                elif kind == "event":
                    await conn.on_frame(value)
                elif kind == "audio":
                    await conn.feed_audio(value)
                else:
                    break
        finally:
            await conn.shutdown()
            await self.close()

    async def close(self) -> None:
        """Hang up."""
        self.track.stop()
        await self.pc.close()
        self.ended.set()
