"""Pure parts: chunk decoding, the streaming resampler, the conversation window."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rtcapture.audio import decode_chunk
from rtcapture.audio.cutter import UserTurns
from rtcapture.audio.mixer import BLOCK_FRAMES, HOLD_S, ConversationMixer
from rtcapture.audio.resample import ChunkStream, Resampler, out_frames
from rtcapture.audio.turns import TurnFolder
from rtcapture.audio.wav import WavWriter
from rtcapture.protocol import G711_ALAW, G711_ULAW, PCM16, append_audio_b64

from .builders import tone


@pytest.mark.parametrize(("fmt", "subtype"), [(G711_ULAW, "ULAW"), (G711_ALAW, "ALAW")])
def test_g711_every_code_word_matches_soundfile(fmt, subtype) -> None:
    """All 256 µ-law / A-law code words decode to the values libsndfile gives."""
    raw = bytes(range(256))
    expected, _ = sf.read(io.BytesIO(raw), format="RAW", subtype=subtype, samplerate=8000,
                          channels=1, dtype="int16")
    got = decode_chunk(base64.b64encode(raw).decode(), fmt)
    assert isinstance(got, np.ndarray) and np.array_equal(got, expected)


def test_decode_chunk_reasons() -> None:
    """Invalid chunks say why; valid pcm16 is little-endian int16."""
    assert decode_chunk("a!b=", PCM16) == "invalid base64"
    assert "odd length" in decode_chunk(base64.b64encode(b"abc").decode(), PCM16)
    assert decode_chunk(None, PCM16) == "audio missing or not a string"
    got = decode_chunk(base64.b64encode(b"\x01\x00\xff\xff").decode(), PCM16)
    assert isinstance(got, np.ndarray) and got.tolist() == [1, -1]


@pytest.mark.parametrize(("rate_in", "rate_out"), [(8000, 24000), (24000, 8000),
                                                   (16000, 24000), (44100, 24000)])
def test_resampler_is_chunking_invariant_and_accurate(rate_in: int, rate_out: int) -> None:
    """Any chunking gives the same ceil(n * out / in) frames, close to the ideal signal."""
    signal = tone(0.5, freq=440, rate=rate_in)
    whole = Resampler(rate_in, rate_out)
    one = np.concatenate([whole.feed(signal), whole.flush()])
    rng = np.random.default_rng(1)
    parts, pos, chunked = [], 0, Resampler(rate_in, rate_out)
    while pos < signal.size:
        n = int(rng.integers(0, 700))
        parts.append(chunked.feed(signal[pos:pos + n]))
        pos += n
    parts.append(chunked.flush())
    assert one.size == out_frames(signal.size, rate_in, rate_out)
    assert np.array_equal(one, np.concatenate(parts))
    ideal = tone(0.5, freq=440, rate=rate_out)[:one.size].astype(int)
    assert np.abs(one[200:-200] - ideal[200:-200]).max() < 40


def test_chunk_stream_traces_frames_to_chunks() -> None:
    """Every output frame comes back tagged with its chunk, in order, none lost."""
    stream: ChunkStream[int] = ChunkStream(24000)
    sizes = [160, 1, 0, 333, 800, 7]
    promised, got = [], {}
    for tag, n in enumerate(sizes):
        expect = stream.frames_for(n, 8000)
        n_out, pieces = stream.feed(np.full(n, tag + 1, np.int16), 8000, tag)
        assert n_out == expect
        promised.append(n_out)
        for piece in pieces:
            got.setdefault(piece.tag, []).append((piece.offset, piece.frames.size))
    for piece in stream.flush():
        got.setdefault(piece.tag, []).append((piece.offset, piece.frames.size))
    assert promised == [out_frames(sum(sizes[:i + 1]), 8000, 24000)
                        - out_frames(sum(sizes[:i]), 8000, 24000) for i in range(len(sizes))]
    for tag, n_out in enumerate(promised):
        runs = got.get(tag, [])
        assert sum(size for _, size in runs) == n_out
        assert [off for off, _ in runs] == list(np.cumsum([0] + [s for _, s in runs])[:-1])


def test_chunk_stream_same_rate_passes_through() -> None:
    """At the output rate, chunks come back at once and unchanged."""
    stream: ChunkStream[str] = ChunkStream(24000)
    samples = tone(0.01)
    n_out, pieces = stream.feed(samples, 24000, "a")
    assert n_out == samples.size and len(pieces) == 1
    assert pieces[0].frames is samples and stream.pending() is None


def test_mixer_window_stays_bounded(tmp_path: Path) -> None:
    """Ten minutes of real-time audio never hold more than the look-back window."""
    mixer = ConversationMixer(WavWriter(tmp_path / "c.wav", 24000, 2))
    chunk = tone(0.1, amp=1000)
    peak = 0
    for i in range(6000):
        t_ns = i * 100_000_000
        mixer.place_user(mixer.queue_user(t_ns, chunk.size), chunk)
        if i % 10 == 0:
            start, off = mixer.queue_assistant(("item", 0), t_ns + 5_000_000, chunk.size)
            mixer.place_assistant(("item", 0), start, off, chunk)
        mixer.advance(t_ns)
        peak = max(peak, mixer.held_frames)
    written = mixer.finish()
    assert written is not None and written.frames == 600 * 24000
    assert peak <= (HOLD_S * 24000 // BLOCK_FRAMES + 3) * BLOCK_FRAMES


def test_mixer_caps_audio_queued_far_ahead(tmp_path: Path) -> None:
    """Audio sent much faster than real time is written out past the cap, not hoarded."""
    mixer = ConversationMixer(WavWriter(tmp_path / "c.wav", 8000, 2), max_ahead_s=10.0)
    chunk = tone(1.0, rate=8000)
    peak = 0
    for i in range(120):  # two minutes of audio sent in 1.2 s
        mixer.place_user(mixer.queue_user(i * 10_000_000, chunk.size), chunk)
        mixer.advance(i * 10_000_000)
        peak = max(peak, mixer.held_frames)
    assert mixer.finish().frames == 120 * 8000
    assert peak <= 10 * 8000 + 3 * BLOCK_FRAMES
    data = sf.read(tmp_path / "c.wav", dtype="int16")[0][:, 0]
    assert np.array_equal(data, np.tile(chunk, 120))


def test_user_turn_delay_line_is_bounded(tmp_path: Path) -> None:
    """The per-turn delay line holds at most its delay, however long the stream."""
    turns = UserTurns(TurnFolder(tmp_path / "turns"), 24000, delay_s=2.0)
    chunk = tone(0.02)
    peak = 0
    for _ in range(3000):  # one minute
        turns.promise(chunk.size)
        turns.append(chunk)
        peak = max(peak, turns.held_frames)
    assert peak == 48000
    assert turns.finish() == []


@pytest.mark.parametrize(("frame", "expected"), [
    (b'{"type": "input_audio_buffer.append", "audio": "QUJD"}', b"QUJD"),
    (b'{"type":"input_audio_buffer.append","audio":"QUJD"}', b"QUJD"),
    (b'{"audio": "QUJD", "type": "input_audio_buffer.append", "event_id": "e1"}', b"QUJD"),
    (b'{"type": "input_audio_buffer.append", "audio": "QU\\/D"}', None),  # escaped
    (b'{"type": "input_audio_buffer.append", "x": {"audio": "QUJD"}}', None),  # nested
    (b'{"type": "input_audio_buffer.append", "audio": "QQ==", "audio": "QUJD"}', None),
    (b'{"type": "input_audio_buffer.append", "audio": 5, "y": "QUJD"}', None),
    (b'{"type": "input_audio_buffer.append"}', None),
])
def test_append_fast_path(frame: bytes, expected: bytes | None) -> None:
    """The JSON-free path finds plain appends and declines anything it cannot be sure of."""
    assert append_audio_b64(frame) == expected
