"""Opus packets and decoded frames to PCM16 mono at the store's rate (PyAV only, no aiortc:
the recorder's writer process imports it to decode relayed audio off the relay's path).

aiortc's Opus decoder yields 48 kHz frames; the store and the mock work in PCM16 mono at
:data:`~rtcapture.protocol.webrtc.MEDIA_RATE` (24 kHz).
"""

from __future__ import annotations

import av
from av import AudioFrame, CodecContext, Packet

from .protocol.webrtc import MEDIA_RATE

OPUS_RATE = 48000


class OpusDecoder:
    """Opus packets -> decoded frames (48 kHz s16), one stateful stream."""

    def __init__(self, layout: str = "stereo") -> None:
        self.codec = CodecContext.create("libopus", "r")
        self.codec.format = "s16"
        self.codec.layout = layout
        self.codec.sample_rate = OPUS_RATE

    def decode(self, packet: Packet | bytes) -> list[AudioFrame]:
        return self.codec.decode(Packet(bytes(packet)))


class PcmConverter:
    """Decoded track frames -> PCM16 mono bytes at ``rate``."""

    def __init__(self, rate: int = MEDIA_RATE) -> None:
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)

    def convert(self, frame: AudioFrame) -> bytes:
        out = b""
        for piece in self.resampler.resample(frame):
            out += bytes(piece.planes[0])[:piece.samples * 2]
        return out


class OpusToPcm:
    """One direction's Opus packets, in order, -> PCM16 mono at :data:`MEDIA_RATE`."""

    def __init__(self) -> None:
        self.decoder = OpusDecoder("mono")
        self.converter = PcmConverter()

    def pcm(self, packets: list[bytes]) -> bytes:
        return b"".join(self.converter.convert(frame) for packet in packets
                        for frame in self.decoder.decode(packet))
