"""A WebRTC session's track audio as media rows: PCM16 24 kHz in the JSON event the same
audio would have been over a WebSocket, in chunks of :data:`CHUNK_MS`.

A chunk takes its ``seq`` and ``t_ns`` when its first frame arrives, so media rows sit in
arrival order among the data-channel frames. Relayed Opus packets go to the writer process
as they are and are decoded there (:class:`~rtcapture.opus.OpusToPcm`), never in the
relay's process; only decoded frames (a leg that is not Opus) are turned into PCM here.
Client audio is kept whole (what the microphone sent); server audio only between
``output_audio_buffer.started`` and ``.stopped``/``.cleared`` (what the user heard),
tagged with the response and item ids.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from av import Packet

from ..opus import OPUS_RATE, OpusDecoder, PcmConverter
from ..protocol import CONTENT_PART_ADDED, Direction
from ..protocol.webrtc import (
    OUTPUT_AUDIO_BUFFER_CLEARED,
    OUTPUT_AUDIO_BUFFER_STARTED,
    OUTPUT_AUDIO_BUFFER_STOPPED,
)
from .passthrough import opus_samples
from .relaytrack import Relayed

CHUNK_MS = 100
TAIL_FRAMES = 2
"""Frames still kept after ``output_audio_buffer.stopped``: the event may overtake the last
RTP packets of the audio it closes."""
_WATCH = (b"output_audio_buffer.", CONTENT_PART_ADDED.encode())


@dataclass
class _Chunk:
    seq: int
    t_ns: int
    frames: list[Relayed] = field(default_factory=list)
    ms: float = 0.0
    response_id: str | None = None
    item_id: str | None = None
    delivered: bool = True


@dataclass(frozen=True)
class MediaChunk:
    """One media row to store: PCM16 (``audio``, base64) or Opus packets (``opus``)."""

    direction: Direction
    seq: int
    t_ns: int
    delivered: bool
    audio: str = ""
    opus: tuple[str, ...] = ()
    response_id: str | None = None
    item_id: str | None = None


Emit = Callable[[MediaChunk], None]
"""Stores one media row."""


class MediaRecorder:
    """Turns one direction's relayed frames into media rows."""

    def __init__(self, direction: Direction, next_seq: Callable[[], int],
                 clock_ns: Callable[[], int], emit: Emit,
                 delivered: Callable[[], bool] = lambda: True) -> None:
        self.direction = direction
        self.next_seq = next_seq
        self.clock_ns = clock_ns
        self.emit = emit
        self.delivered = delivered
        """Whether the other side is still there (asked when a chunk begins)."""
        self.converter: PcmConverter | None = None
        self.decoder: OpusDecoder | None = None
        """Only for a chunk that mixes packets and frames (the source changed codec)."""
        self.chunk: _Chunk | None = None
        self.gated = direction is Direction.SERVER
        self.response_id: str | None = None
        self.tail = 0
        self.items: dict[str, str] = {}
        self._loop = asyncio.get_running_loop()

    # what the data channel says (server messages only) ---------------------------------

    def watch(self, data: bytes) -> None:
        """Follow ``output_audio_buffer.*`` and audio content parts (cheap when unrelated)."""
        if not any(marker in data for marker in _WATCH):
            return
        try:
            event = json.loads(data)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        kind, rid = event.get("type"), event.get("response_id")
        if kind == CONTENT_PART_ADDED and isinstance(rid, str):
            part = event.get("part") or {}
            if isinstance(part, dict) and part.get("type") in ("audio", "output_audio"):
                self.items[rid] = str(event.get("item_id") or "")
        elif kind == OUTPUT_AUDIO_BUFFER_STARTED:
            self._close_chunk()
            self.response_id = rid if isinstance(rid, str) else ""
            self.tail = 0
        elif kind in (OUTPUT_AUDIO_BUFFER_STOPPED, OUTPUT_AUDIO_BUFFER_CLEARED) and \
                self.response_id is not None:
            self.tail = TAIL_FRAMES if kind == OUTPUT_AUDIO_BUFFER_STOPPED else 0
            if not self.tail:
                self.response_id = None
                self._close_chunk()

    # frames ----------------------------------------------------------------------------

    def frame(self, frame: Relayed) -> None:
        """A frame or Opus packet just relayed (called on the track's path: only bookkeeping here)."""
        if self.gated:
            if self.response_id is None:
                return
            if self.tail:
                self.tail -= 1
                if not self.tail:
                    self._add(frame)
                    self.response_id = None
                    self._close_chunk()
                    return
        self._add(frame)

    def _add(self, frame: Relayed) -> None:
        chunk = self.chunk
        if chunk is None:
            chunk = self.chunk = _Chunk(self.next_seq(), self.clock_ns(),
                                        response_id=self.response_id,
                                        item_id=self.items.get(self.response_id or ""),
                                        delivered=self.delivered())
        chunk.frames.append(frame)
        if isinstance(frame, Packet):
            chunk.ms += opus_samples(bytes(frame)) * 1000 / OPUS_RATE
        else:
            chunk.ms += frame.samples * 1000 / (frame.sample_rate or 48000)
        if chunk.ms >= CHUNK_MS:
            self._close_chunk()

    def _close_chunk(self) -> None:
        chunk, self.chunk = self.chunk, None
        if chunk is not None:
            self._loop.call_soon(self._store, chunk)

    def close(self) -> None:
        """Store what is pending (the session is ending)."""
        chunk, self.chunk = self.chunk, None
        if chunk is not None:
            self._store(chunk)

    def _pcm(self, items: list[Relayed]) -> bytes:
        """Decoded frames (and any packets among them) as PCM16 at the media rate."""
        if self.converter is None:
            self.converter = PcmConverter()
        out = b""
        for item in items:
            if isinstance(item, Packet):
                if self.decoder is None:
                    self.decoder = OpusDecoder("mono")
                out += b"".join(self.converter.convert(f) for f in self.decoder.decode(item))
            else:
                out += self.converter.convert(item)
        return out

    def _store(self, chunk: _Chunk) -> None:
        packets = [item for item in chunk.frames if isinstance(item, Packet)]
        if len(packets) == len(chunk.frames):  # decoded by the writer
            opus = tuple(base64.b64encode(bytes(item)).decode("ascii") for item in packets)
            audio = ""
        else:
            opus, audio = (), base64.b64encode(self._pcm(chunk.frames)).decode("ascii")
        self.emit(MediaChunk(self.direction, chunk.seq, chunk.t_ns, chunk.delivered, audio,
                             opus, chunk.response_id, chunk.item_id))
