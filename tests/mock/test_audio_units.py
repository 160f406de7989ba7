"""Codec, synthesiser and VAD as pure functions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rtcapture.codec import (
    alaw_decode,
    alaw_encode,
    pcm16_decode,
    pcm16_encode,
    resample,
    ulaw_decode,
    ulaw_encode,
)
from rtcapture.mock.synth import estimate_ms, noise, silence, synthesize
from rtcapture.mock.vad import EnergyVad, VadSettings, threshold_dbfs

ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


def _audioop():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pytest.importorskip("audioop")


def test_g711_matches_the_reference_codec_bit_for_bit() -> None:
    """Every 16-bit sample and every G.711 code agree with audioop (Sun's g711.c)."""
    audioop = _audioop()
    pcm = pcm16_encode(ALL_SAMPLES)
    assert ulaw_encode(ALL_SAMPLES) == audioop.lin2ulaw(pcm, 2)
    assert alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(pcm, 2)
    assert pcm16_encode(ulaw_decode(ALL_CODES)) == audioop.ulaw2lin(ALL_CODES, 2)
    assert pcm16_encode(alaw_decode(ALL_CODES)) == audioop.alaw2lin(ALL_CODES, 2)


@pytest.mark.parametrize(("encode", "decode"), [(ulaw_encode, ulaw_decode),
                                                (alaw_encode, alaw_decode)])
def test_g711_round_trip_is_stable(encode, decode) -> None:
    """Decode-encode-decode keeps every value (µ-law's two zeros merge); bytes work too."""
    values = decode(ALL_CODES)
    assert np.array_equal(decode(encode(values)), values)
    assert encode(pcm16_encode(values)) == encode(values)
    assert len(set(encode(values))) >= 255
    assert decode(b"").dtype == np.int16 and decode(b"").size == 0


def test_pcm16_ignores_a_trailing_odd_byte_and_resamples() -> None:
    """PCM16 decoding drops an incomplete sample; resampling keeps the duration."""
    assert pcm16_decode(b"\x01\x00\x02").tolist() == [1]
    tone = (np.sin(np.arange(2400) / 5) * 1000).astype(np.int16)
    assert resample(tone, 24000, 8000).size == 800


def test_synth_is_deterministic_and_follows_the_text() -> None:
    """Same inputs, same samples; longer text, longer audio; estimate matches."""
    a = synthesize("Hello there, how are you?", 24000, seed=1)
    assert np.array_equal(a.samples, synthesize("Hello there, how are you?", 24000,
                                                seed=1).samples)
    assert not np.array_equal(a.samples, synthesize("Hello there, how are you?", 24000,
                                                    seed=2).samples)
    longer = synthesize("Hello there, how are you doing on this fine morning?", 24000, seed=1)
    assert longer.duration_ms > a.duration_ms * 1.5
    assert abs(a.duration_ms - estimate_ms("Hello there, how are you?")) < 1
    assert abs(synthesize("Quick.", 8000).duration_ms - estimate_ms("Quick.")) < 1
    assert [w.text for w in a.words] == ["Hello", "there,", "how", "are", "you?"]
    assert all(w.end_ms > w.start_ms for w in a.words)
    assert synthesize("Hi", 24000, speed=2).duration_ms < synthesize("Hi", 24000).duration_ms


def test_synth_sounds_like_speech_not_noise() -> None:
    """Voiced power sits in the speech band, with silent gaps between words."""
    s = synthesize("one two three four", 24000).samples.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(s)) ** 2
    freqs = np.fft.rfftfreq(s.size, 1 / 24000)
    assert spectrum[(freqs > 80) & (freqs < 4000)].sum() > 0.9 * spectrum.sum()
    frames = s[: s.size // 240 * 240].reshape(-1, 240)
    quiet = np.sqrt((frames ** 2).mean(axis=1)) < 30
    assert 0.1 < quiet.mean() < 0.6  # pauses exist, but most of it is voiced


def _feed(vad: EnergyVad, samples: np.ndarray, step: int = 480) -> list:
    events = []
    for i in range(0, samples.size, step):
        events += vad.feed(samples[i:i + step])
    return events


def test_vad_reports_start_with_padding_and_stop_after_silence() -> None:
    """Onset minus prefix padding; end of speech plus the silence duration."""
    speech = synthesize("Hello there.", 24000)
    audio = np.concatenate([silence(1000), speech.samples, silence(1000)])
    onset = 1000 + speech.words[0].start_ms
    end = 1000 + speech.words[-1].end_ms
    events = _feed(EnergyVad(VadSettings(0.5, 300, 400), 24000), audio)
    assert [e.kind for e in events] == ["started", "stopped"]
    assert abs(events[0].ms - (onset - 300)) <= 20
    assert abs(events[1].ms - (end + 400)) <= 20


def test_vad_floor_base_and_noise() -> None:
    """Padding never reaches before the buffer floor; a base shifts the clock; noise is quiet."""
    speech = synthesize("Hey.", 8000).samples
    vad = EnergyVad(VadSettings(0.5, 300, 200), 8000, base_ms=5000)
    events = vad.feed(np.concatenate([silence(100, 8000), speech, silence(400, 8000)]),
                      floor_ms=5050)
    assert events[0].ms == 5050
    quiet = EnergyVad(VadSettings(0.5, 300, 200), 24000)
    assert _feed(quiet, noise(2000, dbfs=-50)) == []
    assert threshold_dbfs(0.5) == -35.0 and threshold_dbfs(2) == -10.0


def test_vad_settings_from_turn_detection() -> None:
    """server_vad fields are used; semantic_vad picks its silence from eagerness."""
    assert VadSettings.from_turn_detection({"type": "server_vad", "threshold": 0.7,
                                            "prefix_padding_ms": 100,
                                            "silence_duration_ms": 900}) == \
        VadSettings(0.7, 100, 900)
    assert VadSettings.from_turn_detection({"type": "semantic_vad", "eagerness": "high"}
                                           ).silence_duration_ms == 300
