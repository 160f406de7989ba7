"""Tracks that pass one peer's audio on to the other and hand it to the recording.

aiortc decodes what it receives and encodes what it sends, so each relayed frame is Opus
decoded once (by the receiving peer) and encoded once (by the sending peer): aiortc has no
public way to forward encoded RTP between two peer connections. The frame is returned to
the sending peer first; the recording's copy is converted to PCM16 later, in a callback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from .media import SAMPLES_PER_FRAME, pcm_frame


class RelayTrack(MediaStreamTrack):
    """Plays the frames of a source track (bound later: the peers are set up in turn)."""

    kind = "audio"

    def __init__(self, on_frame: Callable[[AudioFrame], None]) -> None:
        super().__init__()
        self.on_frame = on_frame
        self._source: asyncio.Future[MediaStreamTrack] = \
            asyncio.get_running_loop().create_future()
        self._pts = 0

    def bind(self, source: MediaStreamTrack) -> None:
        if not self._source.done():
            self._source.set_result(source)

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if not self._source.done():
            # nothing to relay yet: 20 ms of silence keeps the sender's clock going
            try:
                await asyncio.wait_for(asyncio.shield(self._source), 0.02)
            except TimeoutError:
                frame = pcm_frame(bytes(SAMPLES_PER_FRAME * 2), self._pts)
                self._pts += SAMPLES_PER_FRAME
                return frame
        # aiortc types recv() for every kind of track; an audio track's frames are audio
        frame = cast(AudioFrame, await self._source.result().recv())
        self.on_frame(frame)
        return frame
