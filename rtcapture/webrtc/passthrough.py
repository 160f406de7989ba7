"""Encoded Opus straight from an aiortc receiver: the one module that reaches into aiortc.

aiortc has no public way to forward RTP between two peer connections: an
``RTCRtpReceiver`` reassembles RTP into frames (its jitter buffer), puts ``(codec, frame)``
on a queue its decoder thread reads, and the thread puts decoded frames on the track's
asyncio queue. :func:`receive_encoded` swaps that queue for one that puts each Opus frame
on the track at once as an ``av.Packet`` (pts on the 48 kHz RTP clock, from 0). An
``RTCRtpSender`` whose track returns packets sends them as they are (``Encoder.pack``:
no encoding, no audio-level computation), which is public behaviour.

Checked against aiortc :data:`CHECKED_AIORTC` (private names used: the receiver's
``_RTCRtpReceiver__decoder_queue``, the track's ``_queue``, the transceiver's ``_codecs``);
tests/webrtc/test_passthrough.py fails if any of them changes. When they are missing,
:func:`receive_encoded` returns False and the track yields decoded frames as before.
"""

from __future__ import annotations

import asyncio
import fractions
import queue
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection
from av import Packet

from ..opus import OPUS_RATE

CHECKED_AIORTC = "1.16.0"
OPUS_TIME_BASE = fractions.Fraction(1, OPUS_RATE)
OPUS_SILENCE = b"\xf8\xff\xfe"
"""A 20 ms Opus frame of silence (TOC: CELT fullband 20 ms, mono, one frame)."""
_QUEUE = "_RTCRtpReceiver__decoder_queue"
_FRAME_MS = (10, 20, 40, 60, 10, 20, 40, 60, 10, 20, 40, 60, 10, 20, 10, 20,
             2.5, 5, 10, 20, 2.5, 5, 10, 20, 2.5, 5, 10, 20, 2.5, 5, 10, 20)
"""Frame duration per TOC configuration (RFC 6716 section 3.1)."""


def opus_samples(payload: bytes) -> int:
    """Samples at 48 kHz in one Opus packet (RFC 6716 section 3.1; 0 if malformed)."""
    if not payload:
        return 0
    toc = payload[0]
    code = toc & 3
    frames = 1 if code == 0 else 2 if code < 3 else (payload[1] & 0x3F if len(payload) > 1
                                                     else 0)
    return int(_FRAME_MS[toc >> 3] * OPUS_RATE // 1000) * frames


def opus_packet(data: bytes, pts: int) -> Packet:
    """An Opus packet a sender passes on unencoded (``pts`` in 1/48000 s)."""
    packet = Packet(data)
    packet.pts = pts
    packet.time_base = OPUS_TIME_BASE
    return packet


class _Passthrough:
    """Stands in for a receiver's decoder queue: Opus goes to the track undecoded, the
    rest (other codecs, the end-of-stream ``None``) to the decoder thread as before."""

    def __init__(self, original: queue.Queue[Any], track_queue: asyncio.Queue[Any]) -> None:
        self.original = original
        self.track_queue = track_queue

    def put(self, task: Any) -> None:
        if task is not None:
            codec, frame = task
            if codec.name.lower() == "opus":  # called on the event loop (RTP handling)
                self.track_queue.put_nowait(opus_packet(frame.data, frame.timestamp))
                return
        self.original.put(task)

    def get(self) -> Any:  # the decoder thread, if it starts after the swap
        return self.original.get()


def receive_encoded(pc: RTCPeerConnection, track: MediaStreamTrack) -> bool:
    """Make a received audio ``track`` of ``pc`` yield its Opus packets undecoded (call
    from the ``track`` event); False if this aiortc does not allow it."""
    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        if receiver.track is not track:
            continue
        original = getattr(receiver, _QUEUE, None)
        track_queue = getattr(track, "_queue", None)
        if not isinstance(original, queue.Queue) or \
                not isinstance(track_queue, asyncio.Queue):
            return False
        setattr(receiver, _QUEUE, _Passthrough(original, track_queue))
        return True
    return False


def sends_opus(pc: RTCPeerConnection, track: MediaStreamTrack) -> bool:
    """Whether ``pc`` sends ``track`` as Opus (negotiated: an Opus packet may go as is)."""
    for transceiver in pc.getTransceivers():
        if transceiver.sender.track is track:
            codecs = getattr(transceiver, "_codecs", None) or []
            return bool(codecs) and codecs[0].mimeType.lower() == "audio/opus"
    return False
