"""The aiortc internals :mod:`rtcapture.webrtc.passthrough` relies on, and the relay's
handling of Opus packets (no network: the end-to-end relay is in test_record_call)."""

from __future__ import annotations

import asyncio
import base64
import fractions
import inspect
import json
import queue
from pathlib import Path
from typing import Any, cast

import av
import numpy as np
import pytest

aiortc = pytest.importorskip("aiortc")

from aiortc import MediaStreamTrack, RTCRtpCodecParameters  # noqa: E402
from aiortc.codecs.opus import OpusEncoder  # noqa: E402
from aiortc.mediastreams import MediaStreamError  # noqa: E402
from aiortc.rtcrtpreceiver import RemoteStreamTrack, RTCRtpReceiver  # noqa: E402
from aiortc.rtcrtpsender import RTCRtpSender  # noqa: E402
from aiortc.rtcrtptransceiver import RTCRtpTransceiver  # noqa: E402

from rtcapture.ids import new_id  # noqa: E402
from rtcapture.protocol import Direction, Transport  # noqa: E402
from rtcapture.proxy.controls import Begin, Media, SessionFields  # noqa: E402
from rtcapture.proxy.writer import Writer  # noqa: E402
from rtcapture.store import open_store, utcnow  # noqa: E402
from rtcapture.webrtc import passthrough  # noqa: E402
from rtcapture.webrtc.media import pcm_frame  # noqa: E402
from rtcapture.webrtc.mediarecorder import MediaChunk, MediaRecorder  # noqa: E402
from rtcapture.webrtc.relaytrack import RelayTrack  # noqa: E402


class _Transport:
    state = "new"


def test_aiortc_internals_unchanged() -> None:
    """Fails when aiortc moves what the passthrough reaches into: re-check the module
    against the new aiortc and update CHECKED_AIORTC."""
    receiver = RTCRtpReceiver("audio", _Transport())  # type: ignore[arg-type]
    assert isinstance(getattr(receiver, passthrough._QUEUE), queue.Queue)
    assert isinstance(RemoteStreamTrack("audio")._queue, asyncio.Queue)
    # the RTP path hands (codec, frame) to that queue, frames mapped to a 0-based clock
    source = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "self.__decoder_queue.put((codec, encoded_frame))" in source
    assert "self.__timestamp_mapper.map(" in source
    stop = inspect.getsource(RTCRtpReceiver)
    assert "self.__decoder_queue.put(None)" in stop
    # a sender packs (does not encode) what is not a Frame; it sends the first codec
    assert "self.__encoder.pack(data)" in inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert "parameters.codecs[0]" in inspect.getsource(RTCRtpSender.send)
    assert "self._codecs" in inspect.getsource(RTCRtpTransceiver.__init__)
    assert aiortc.__version__ == passthrough.CHECKED_AIORTC, \
        f"aiortc {aiortc.__version__}: re-check rtcapture/webrtc/passthrough.py"


def _opus(seconds: float = 1.0) -> tuple[list[av.Packet], np.ndarray]:
    """A 440 Hz tone (PCM16 24 kHz) and its Opus packets as aiortc's encoder makes them."""
    t = np.arange(int(24000 * seconds)) / 24000
    tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2")
    encoder = OpusEncoder()
    packets = []
    for i in range(0, len(tone), 480):
        payloads, ts = encoder.encode(pcm_frame(tone[i:i + 480].tobytes(), i))
        packets += [passthrough.opus_packet(p, ts) for p in payloads]
    return packets, tone


def test_opus_samples() -> None:
    packets, _ = _opus(0.2)
    assert {passthrough.opus_samples(bytes(p)) for p in packets} == {960}
    assert passthrough.opus_samples(passthrough.OPUS_SILENCE) == 960
    assert passthrough.opus_samples(bytes([0x00])) == 480  # SILK NB 10 ms
    assert passthrough.opus_samples(bytes([0x01])) == 960  # two 10 ms frames
    assert passthrough.opus_samples(bytes([0x1B, 0x03])) == 3 * 2880  # code 3: three 60 ms
    assert passthrough.opus_samples(b"") == 0


async def test_queue_hands_opus_to_the_track_and_the_rest_to_the_decoder() -> None:
    original: queue.Queue[Any] = queue.Queue()
    track_queue: asyncio.Queue[Any] = asyncio.Queue()
    swapped = passthrough._Passthrough(original, track_queue)
    opus = RTCRtpCodecParameters("audio/opus", 48000, 2)
    pcmu = RTCRtpCodecParameters("audio/PCMU", 8000)
    frame = type("F", (), {"data": b"\xfc\x01\x02", "timestamp": 960})()
    swapped.put((opus, frame))
    packet = track_queue.get_nowait()
    assert isinstance(packet, av.Packet) and bytes(packet) == b"\xfc\x01\x02"
    assert packet.pts == 960 and packet.time_base == fractions.Fraction(1, 48000)
    swapped.put((pcmu, frame))
    swapped.put(None)
    assert original.get_nowait() == (pcmu, frame) and swapped.get() is None
    assert track_queue.empty()


class _Source(MediaStreamTrack):
    kind = "audio"

    def __init__(self, items: list[Any]) -> None:
        super().__init__()
        self.items = items

    async def recv(self) -> Any:
        if not self.items:
            raise MediaStreamError
        return self.items.pop(0)


async def test_relay_passes_packets_on_its_own_timeline() -> None:
    packets, _ = _opus(0.2)
    seen: list[Any] = []
    relay = RelayTrack(seen.append, lambda: True)  # the sending leg negotiated Opus
    first = await relay.recv()  # unbound: 20 ms of Opus silence
    assert isinstance(first, av.Packet)
    assert bytes(first) == passthrough.OPUS_SILENCE and first.pts == 0
    payloads = [bytes(p) for p in packets]
    relay.bind(_Source(packets))
    out = [await relay.recv() for _ in payloads]
    assert all(isinstance(p, av.Packet) for p in out) and seen == out
    assert [bytes(cast(av.Packet, p)) for p in out] == payloads
    assert [p.pts for p in out] == [960 * (i + 1) for i in range(len(out))]


async def test_relay_decodes_when_the_sender_is_not_opus() -> None:
    packets, _ = _opus(0.2)
    relay = RelayTrack(lambda item: None)
    relay.bind(_Source(packets))
    frames = [await relay.recv() for _ in packets]
    assert all(isinstance(f, av.AudioFrame) and f.samples == 960 for f in frames)


async def test_recorder_decodes_packets_to_the_pcm_sent(tmp_path: Path) -> None:
    packets, tone = _opus(1.0)
    chunks: list[MediaChunk] = []
    seq = iter(range(1000))
    media = MediaRecorder(Direction.CLIENT, lambda: next(seq), lambda: 0, chunks.append)
    for packet in packets:
        media.frame(packet)
    media.close()
    await asyncio.sleep(0)  # the chunks closed on the way are stored by call_soon
    assert all(c.opus and not c.audio for c in chunks)  # packets, for the writer to decode
    sid = new_id()
    with open_store(f"sqlite:///{tmp_path / 'media.db'}") as store:  # the writer decodes
        writer = Writer(store, "r1")
        writer.handle(Begin(0, SessionFields(sid, utcnow(), transport=Transport.WEBRTC)))
        for c in chunks:
            writer.handle(Media(0, c.seq, False, c.t_ns, c.t_ns, c.audio, c.opus))
        writer.flush()
        rows = [e.data for e in store.events(sid)]
    pcm = b"".join(base64.b64decode(json.loads(r)["audio"]) for r in rows)
    got = np.frombuffer(pcm, "<i2").astype(float)
    # every packet's 20 ms (480 samples at 24 kHz), but what the resampler still holds
    assert len(rows) == 10 and 0 <= len(packets) * 480 - len(got) <= 32
    # Opus delays by a few ms: the best lag correlates the decoded audio with the tone
    a, b = got[2400:12000], tone[2400:12000].astype(float)
    best = max(float(np.dot(np.roll(a, -lag), b)) / (np.linalg.norm(a) * np.linalg.norm(b))
               for lag in range(0, 480))
    assert best >= 0.95
