"""The replay's WebRTC call: what a browser page does, driven by a recording.

The SDP offer is POSTed to the target's call endpoint (``ws://`` -> ``http://``, ``wss://``
-> ``https://``, the replay's path), client events go on the ``oai-events`` data channel
and input audio on the call's audio track, played at real time (a microphone: silence
while nothing is queued). The answer's audio track is stored as server media rows, gated
by ``output_audio_buffer.*`` as the recorder does (:mod:`.mediarecorder`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from itertools import count
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from .. import __version__
from ..codec import decode_chunk, pcm16_encode, resample
from ..protocol import (
    INPUT_AUDIO_APPEND,
    INPUT_AUDIO_COMMIT,
    PCM16,
    SESSION_UPDATE,
    AudioFormat,
    Direction,
    Opcode,
    session_audio_formats,
)
from ..protocol.webrtc import DATA_CHANNEL, MEDIA_RATE, SDP_TYPE, media_event
from ..webrtc.addresses import addresses_facing
from ..webrtc.http import HttpClientError, post
from ..webrtc.ice import new_peer, pin_addresses
from ..webrtc.media import PcmTrack
from ..webrtc.mediarecorder import MediaChunk, MediaRecorder
from .target import TargetPlan
from .transport import (
    CLOSE_TIMEOUT_S,
    ConnectionGone,
    Received,
    ReplayFailed,
    Sent,
    failure_reason,
    first_line,
)

_WS_TO_HTTP = {"ws": "http", "wss": "https"}


def http_url(url: str) -> str:
    """``url`` with ``ws://`` mapped to ``http://`` and ``wss://`` to ``https://``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=_WS_TO_HTTP.get(parts.scheme, parts.scheme)))


class Microphone(PcmTrack):
    """A :class:`PcmTrack` that sends nothing until its first audio is queued.

    The recording's input audio begins with the call's microphone; sending silence from
    the moment DTLS is up until the data channel opens and the replay starts (most of a
    second) would move every recorded sound later on the server's audio clock."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()

    def play(self, pcm: bytes, tag: str = "") -> None:
        super().play(pcm, tag)
        self.started.set()

    async def recv(self) -> Any:
        await self.started.wait()
        return await super().recv()

    def stop(self) -> None:
        super().stop()
        self.started.set()  # a waiting recv() ends (the stopped track raises)


class WebRTCConnection:
    """One replay call: a peer connection, its data channel and microphone track."""

    subprotocol: str | None = None
    close_code: int | None = None
    close_reason: str | None = None

    def __init__(self, pc: Any, next_seq: Callable[[], int]) -> None:
        self.pc = pc
        self.channel = pc.createDataChannel(DATA_CHANNEL)
        self.mic = Microphone()
        pc.addTrack(self.mic)
        self.opened = asyncio.Event()
        self.ended = False
        self.input_format: AudioFormat = PCM16
        """The input format the replayed session set (appends of a WebSocket recording)."""
        self._inbox: asyncio.Queue[Received | None] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self.speaker = MediaRecorder(Direction.SERVER, next_seq, time.monotonic_ns,
                                     self._media)
        self.channel.on("open", self.opened.set)
        self.channel.on("message", self._message)
        self.channel.on("close", self._end)
        pc.on("track", self._track)
        pc.on("connectionstatechange", self._state)

    # receiving ---------------------------------------------------------------------------

    def _message(self, message: str | bytes) -> None:
        t_ns = time.monotonic_ns()
        if isinstance(message, bytes):
            self._inbox.put_nowait((Opcode.BINARY, message, t_ns, None))
            return
        data = message.encode("utf-8", "surrogatepass")
        self.speaker.watch(data)
        self._inbox.put_nowait((Opcode.TEXT, data, t_ns, None))

    def _media(self, chunk: MediaChunk) -> None:
        # the speaker track yields decoded frames (no passthrough here): PCM, never Opus
        assert not chunk.opus
        if not self.ended:
            data = media_event(chunk.direction is Direction.SERVER, chunk.audio,
                               chunk.response_id, chunk.item_id)
            self._inbox.put_nowait((Opcode.MEDIA, data, chunk.t_ns, chunk.seq))

    def _track(self, track: MediaStreamTrack) -> None:
        if track.kind != "audio":
            return
        task = asyncio.get_running_loop().create_task(self._listen(track),
                                                      name="rtcapture-replay-speaker")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _listen(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if isinstance(frame, AudioFrame):
                    self.speaker.frame(frame)

    def _state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self._end()

    def _end(self) -> None:
        if not self.ended:
            self.speaker.close()
            self.ended = True
            self._inbox.put_nowait(None)
            self.opened.set()  # wakes a negotiation still waiting

    async def received(self) -> AsyncIterator[Received]:
        while (item := await self._inbox.get()) is not None:
            opcode, data, t_ns, seq = item
            yield opcode, data, t_ns, seq

    # sending -----------------------------------------------------------------------------

    async def send(self, opcode: str, data: bytes, event_type: str | None) -> Sent | None:
        if self.ended or self.channel.readyState != "open":
            raise ConnectionGone
        if opcode == Opcode.MEDIA or event_type == INPUT_AUDIO_APPEND:
            pcm = self._input_pcm(data, self.input_format if opcode != Opcode.MEDIA else PCM16)
            if pcm is None:
                return None
            self.mic.play(pcm)
            return Opcode.MEDIA, data
        if event_type == INPUT_AUDIO_COMMIT:  # the audio it commits must have been heard
            await self.mic.drained.wait()
        elif event_type == SESSION_UPDATE:
            self._follow_format(data)
        self.channel.send(data if opcode == Opcode.BINARY else data.decode("utf-8"))
        return opcode, data

    def _follow_format(self, data: bytes) -> None:
        with contextlib.suppress(ValueError, AttributeError):
            fmt, _ = session_audio_formats(json.loads(data).get("session"))
            if fmt is not None:
                self.input_format = fmt

    @staticmethod
    def _input_pcm(data: bytes, fmt: AudioFormat) -> bytes | None:
        """The append's audio as PCM16 at the track's rate (None when unreadable)."""
        try:
            audio = json.loads(data).get("audio")
        except (ValueError, AttributeError):
            return None
        if fmt == PCM16:
            try:
                return base64.b64decode(audio, validate=True) if isinstance(audio, str) else None
            except ValueError:
                return None
        samples = decode_chunk(audio, fmt)
        if isinstance(samples, str):
            return None
        return pcm16_encode(resample(samples, fmt.rate, MEDIA_RATE))

    async def close(self, abort: bool) -> None:
        self.mic.stop()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self.pc.close()
        self._end()


async def open_call(target: TargetPlan, timeout_s: float,
                    next_seq: Callable[[], int] | None = None) -> WebRTCConnection:
    """Create a call at ``target.url``'s call endpoint; returns once the channel is open."""
    url = http_url(target.url)
    pc = new_peer()
    conn = WebRTCConnection(pc, next_seq or count().__next__)
    try:
        await _negotiate(conn, url, target, timeout_s)
    except BaseException:
        await conn.close(abort=True)
        raise
    return conn


async def _negotiate(conn: WebRTCConnection, url: str, target: TargetPlan,
                     timeout_s: float) -> None:
    pc = conn.pc
    offer = await pc.createOffer()
    pin_addresses(pc, addresses_facing(urlsplit(url).hostname or ""))
    await pc.setLocalDescription(offer)
    headers = [*target.headers, ("Content-Type", SDP_TYPE),
               ("User-Agent", f"rtcapture/{__version__} (replay)")]
    secure = url.startswith("https:")
    try:
        answer = await post(url, headers, pc.localDescription.sdp.encode(),
                            ssl=True if secure else None, timeout=timeout_s)
    except TimeoutError:
        raise ReplayFailed(target.scrub(f"{url} did not answer the offer within "
                                        f"{timeout_s:g} s")) from None
    except (OSError, HttpClientError) as exc:
        raise ReplayFailed(target.scrub(f"cannot connect to {url}: "
                                        f"{failure_reason(exc)}")) from None
    if answer.status not in (200, 201):
        raise ReplayFailed(target.scrub(f"{url} refused the offer with HTTP {answer.status}"
                                        f"{first_line(answer.body)}"))
    try:
        await pc.setRemoteDescription(RTCSessionDescription(
            answer.body.decode("utf-8", "replace"), "answer"))
    except ValueError as exc:
        raise ReplayFailed(target.scrub(f"{url} answered an invalid SDP: {exc}")) from None
    try:
        async with asyncio.timeout(timeout_s):
            await conn.opened.wait()
    except TimeoutError:
        raise ReplayFailed(target.scrub(
            f"ICE/DTLS with {url} did not complete within {timeout_s:g} s "
            f"(connection {pc.connectionState})")) from None
    if conn.ended:
        raise ReplayFailed(target.scrub(f"the WebRTC connection with {url} failed before "
                                        f"its data channel opened")) from None
