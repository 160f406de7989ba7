"""Tracks that pass one peer's audio on to the other and hand it to the recording.

Opus is relayed encoded when it can be (:mod:`.passthrough`): the source track yields the
received Opus packets, which go to the sending peer as they are, on the sender's own RTP
timeline. Otherwise (another codec on either leg, or an aiortc the passthrough does not
know) aiortc decodes what it receives and encodes what it sends, as for any track. Each
packet or frame is returned to the sending peer first; the recording's copy is handed to
``on_frame`` (decoded later, off this path: :mod:`.mediarecorder`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, Packet

from ..opus import OpusDecoder
from .media import SAMPLES_PER_FRAME, pcm_frame
from .passthrough import OPUS_SILENCE, opus_packet, opus_samples

Relayed = AudioFrame | Packet
"""What a relay passes on: a decoded frame, or an Opus packet (48 kHz pts)."""


class RelayTrack(MediaStreamTrack):
    """Plays what a source track yields, Opus packets or frames (the source is bound
    later: the peers are set up in turn)."""

    kind = "audio"

    def __init__(self, on_frame: Callable[[Relayed], None],
                 sends_opus: Callable[[], bool] = lambda: False) -> None:
        super().__init__()
        self.on_frame = on_frame
        self.sends_opus = sends_opus
        """Whether the sending peer negotiated Opus (asked at the first ``recv``: the
        sender starts once its leg is negotiated)."""
        self._source: asyncio.Future[MediaStreamTrack] = \
            asyncio.get_running_loop().create_future()
        self._pts = 0
        self._offset: int | None = None
        self.encoded: bool | None = None
        """Whether packets go out as they are (else they are decoded and the sender
        re-encodes them); decided once, so the sender's RTP timeline stays one."""
        self._decoder: OpusDecoder | None = None
        self._pending: list[AudioFrame] = []

    def bind(self, source: MediaStreamTrack) -> None:
        if not self._source.done():
            self._source.set_result(source)

    async def recv(self) -> Relayed:
        if self.readyState != "live":
            raise MediaStreamError
        if self.encoded is None:
            self.encoded = self.sends_opus()
        if self._pending:
            return self._pending.pop(0)
        if not self._source.done():
            # nothing to relay yet: 20 ms of silence keeps the sender's clock going
            try:
                await asyncio.wait_for(asyncio.shield(self._source), 0.02)
            except TimeoutError:
                return self._silence()
        item = await self._source.result().recv()
        if isinstance(item, Packet):
            self.on_frame(item)
            if self.encoded:
                return self._retimed(item)
            if self._decoder is None:
                self._decoder = OpusDecoder()
            self._pending.extend(self._decoder.decode(item))
            if not self._pending:
                return self._silence()
            return self._pending.pop(0)
        # a decoded frame (the receiving leg is not Opus): the sender encodes it; aiortc
        # types recv() for every kind of track, an audio track's frames are audio
        assert isinstance(item, AudioFrame)
        self.on_frame(item)
        return item

    def _silence(self) -> Relayed:
        if self.encoded:
            packet = opus_packet(OPUS_SILENCE, self._pts)
            self._pts += opus_samples(OPUS_SILENCE)
            return packet
        frame = pcm_frame(bytes(SAMPLES_PER_FRAME * 2), self._pts)
        self._pts += SAMPLES_PER_FRAME
        return frame

    def _retimed(self, packet: Packet) -> Packet:
        """The packet on this track's timeline (after any silence already sent)."""
        pts = packet.pts or 0
        if self._offset is None:
            self._offset = self._pts - pts
        packet.pts = pts + self._offset
        self._pts = packet.pts + opus_samples(bytes(packet))
        return packet
