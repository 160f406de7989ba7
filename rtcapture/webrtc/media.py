"""Audio between aiortc tracks and the Realtime API's PCM16: decoding, resampling, a
paced outgoing track.

aiortc's Opus decoder yields 48 kHz stereo frames; the store and the mock work in PCM16
mono at :data:`~rtcapture.protocol.webrtc.MEDIA_RATE` (24 kHz). An outgoing
:class:`PcmTrack` plays queued PCM16 at real time (20 ms frames, silence when empty), as
a microphone or the service's voice does, and tells who queued it when it finished.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections import deque
from collections.abc import Callable

from aiortc import MediaStreamTrack
from av import AudioFrame

from ..opus import PcmConverter
from ..protocol.webrtc import MEDIA_RATE

__all__ = ["PcmConverter", "PcmTrack", "pcm_frame"]

FRAME_MS = 20
SAMPLES_PER_FRAME = MEDIA_RATE * FRAME_MS // 1000
BYTES_PER_FRAME = SAMPLES_PER_FRAME * 2
BYTES_PER_MS = MEDIA_RATE * 2 // 1000


def pcm_frame(pcm: bytes, pts: int) -> AudioFrame:
    """One PCM16 mono frame at :data:`MEDIA_RATE`."""
    frame = AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
    frame.planes[0].update(pcm)
    frame.sample_rate = MEDIA_RATE
    frame.pts = pts
    frame.time_base = fractions.Fraction(1, MEDIA_RATE)
    return frame


class PcmTrack(MediaStreamTrack):
    """Plays queued PCM16 (24 kHz mono) at real time; silence while nothing is queued.

    Each :meth:`play` carries a tag (a response id); ``on_started(tag)`` is called as its
    first sample goes out, ``on_finished(tag)`` once its last has, unless :meth:`clear`
    dropped it first.
    """

    kind = "audio"

    def __init__(self, on_started: Callable[[str], None] | None = None,
                 on_finished: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.on_started = on_started
        self.on_finished = on_finished
        self._queue: deque[tuple[str, bytearray]] = deque()
        self._pts = 0
        self._start: float | None = None
        self.played_ms: dict[str, float] = {}
        """Milliseconds played so far per tag."""
        self.drained = asyncio.Event()
        self.drained.set()
        self.sent: bytearray | None = None
        """When set to a bytearray, every sample sent (silence included) is kept in it."""

    @property
    def playing(self) -> str | None:
        """The tag whose audio is playing or queued first, if any."""
        return self._queue[0][0] if self._queue else None

    def play(self, pcm: bytes, tag: str = "") -> None:
        if self._queue and self._queue[-1][0] == tag:
            self._queue[-1][1].extend(pcm)
        else:
            self._queue.append((tag, bytearray(pcm)))
        self.drained.clear()

    def clear(self) -> list[str]:
        """Drop everything queued; returns the tags dropped (the first was playing)."""
        tags = [tag for tag, _ in self._queue]
        self._queue.clear()
        self.drained.set()
        return tags

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            from aiortc.mediastreams import MediaStreamError
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._pts / MEDIA_RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)  # pacing: one 20 ms frame per 20 ms
        chunk = bytearray()
        started: list[str] = []
        finished: list[str] = []
        while len(chunk) < BYTES_PER_FRAME and self._queue:
            tag, data = self._queue[0]
            got = min(BYTES_PER_FRAME - len(chunk), len(data))
            if tag not in self.played_ms:
                started.append(tag)
            chunk += data[:got]
            del data[:got]
            self.played_ms[tag] = self.played_ms.get(tag, 0.0) + got / BYTES_PER_MS
            if not data:
                self._queue.popleft()
                finished.append(tag)
        chunk += bytes(BYTES_PER_FRAME - len(chunk))
        if self.sent is not None:
            self.sent += chunk
        frame = pcm_frame(bytes(chunk), self._pts)
        self._pts += SAMPLES_PER_FRAME
        if not self._queue:
            self.drained.set()
        if self.on_started is not None:
            for tag in started:
                self.on_started(tag)
        if self.on_finished is not None:
            for tag in finished:
                self.on_finished(tag)
        return frame
