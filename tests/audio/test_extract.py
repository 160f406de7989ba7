"""input.wav / output.wav / conversation.wav from stored sessions (acceptance criteria)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rtcapture.audio import extract_audio
from rtcapture.codec import alaw_encode, ulaw_encode
from rtcapture.protocol import Flavour
from rtcapture.store import Store, open_store
from tests.factories import make_session

from .builders import (
    PCM,
    PCMA,
    PCMU,
    append,
    appends,
    beta_session,
    delta,
    ga_session,
    onset,
    tone,
)


@pytest.fixture
def store(sqlite_url: str) -> Store:
    with open_store(sqlite_url) as s:
        yield s


def read(path: Path) -> tuple[np.ndarray, int]:
    data, rate = sf.read(path, dtype="int16")
    return data, rate


def kinds(report) -> dict[str, object]:
    return {f.kind: f for f in report.files}


def test_pcm16_input_is_exact(store: Store, tmp_path: Path) -> None:
    """A 3.0 s 440 Hz pcm16 signal in 100 ms appends gives exactly those 72,000 samples."""
    signal = tone(3.0)
    sid = make_session(store, [("server", ga_session("session.created", PCM, PCM), 0),
                               *appends(signal, 2400, 10, 100)])
    report = extract_audio(store, sid, tmp_path / "wav")
    data, rate = read(tmp_path / "wav" / "input.wav")
    assert rate == 24000
    assert data.shape == (72000,)
    assert np.array_equal(data, signal)
    assert kinds(report)["input"].frames == 72000
    info = sf.info(str(tmp_path / "wav" / "input.wav"))
    assert (info.format, info.subtype, info.channels) == ("WAV", "PCM_16", 1)


@pytest.mark.parametrize(("ga_format", "beta_name", "encode", "subtype"), [
    (PCMU, "g711_ulaw", ulaw_encode, "ULAW"),
    (PCMA, "g711_alaw", alaw_encode, "ALAW"),
])
@pytest.mark.parametrize("flavour", [Flavour.GA, Flavour.BETA])
def test_g711_input_matches_soundfile(store: Store, tmp_path: Path, ga_format, beta_name,
                                      encode, subtype, flavour) -> None:
    """μ-law and A-law input decode to exactly what soundfile decodes, at 8 kHz."""
    payload = encode(tone(1.0, rate=8000)) + bytes(range(256))  # every code word too
    if flavour is Flavour.GA:
        created = ga_session("session.created", PCM, PCM)
        update = ga_session("session.update", ga_format, ga_format)
        updated = ga_session("session.updated", ga_format, ga_format)
    else:
        created = beta_session("session.created", "pcm16", "pcm16")
        update = beta_session("session.update", beta_name, beta_name)
        updated = beta_session("session.updated", beta_name, beta_name)
    frames = [("server", created, 0), ("client", update, 5), ("server", updated, 8)]
    frames += [("client", append(payload[i:i + 160]), 20 + i // 8)
               for i in range(0, len(payload), 160)]
    sid = make_session(store, frames, flavour=flavour)
    extract_audio(store, sid, tmp_path)
    data, rate = read(tmp_path / "input.wav")
    expected, _ = sf.read(io.BytesIO(payload), format="RAW", subtype=subtype, samplerate=8000,
                          channels=1, dtype="int16")
    assert rate == 8000
    assert np.array_equal(data, expected)
    _, conv_rate = read(tmp_path / "conversation.wav")
    assert conv_rate == 8000


@pytest.mark.parametrize("ga", [True, False])
def test_output_length_is_exact(store: Store, tmp_path: Path, ga: bool) -> None:
    """output.wav holds every delta sample: its length is decoded bytes / 2 / rate."""
    rng = np.random.default_rng(7)
    chunks = [rng.integers(-20000, 20000, size=int(n), dtype=np.int16)
              for n in rng.integers(1, 9000, size=40)]
    frames = [("server", delta(c, ga=ga), 1000 + 3 * i) for i, c in enumerate(chunks)]
    sid = make_session(store, frames)
    report = extract_audio(store, sid, tmp_path)
    data, rate = read(tmp_path / "output.wav")
    decoded_bytes = sum(c.size * 2 for c in chunks)
    assert rate == 24000
    assert data.size == decoded_bytes // 2
    assert kinds(report)["output"].duration_s == decoded_bytes / 2 / 24000
    assert np.array_equal(data, np.concatenate(chunks))
    assert "input" not in kinds(report)


def test_conversation_timing_and_truncation(store: Store, tmp_path: Path) -> None:
    """User beep at 1.00 s and assistant audio first arriving at 2.00 s start within 10 ms;
    after the truncation point the assistant channel is silent."""
    silence = np.zeros(480, dtype=np.int16)
    frames = [("server", ga_session("session.created", PCM, PCM), 0)]
    frames += [("client", append(silence), 20 * i) for i in range(50)]  # 0.00-0.98 s
    beep = tone(0.3, freq=1000)
    frames += appends(beep, 480, 1000, 20)  # sent in real time from 1.00 s
    frames += [("client", append(silence), 1300 + 20 * i) for i in range(100)]
    speech = tone(1.2, freq=660, amp=6000)
    frames += [("server", delta(speech[i:i + 4800]), 2000 + 10 * k)  # a burst of 200 ms deltas
               for k, i in enumerate(range(0, speech.size, 4800))]
    frames += [("client", {"type": "conversation.item.truncate", "item_id": "item_a1",
                           "content_index": 0, "audio_end_ms": 500}, 2520),
               ("server", {"type": "conversation.item.truncated", "item_id": "item_a1",
                           "content_index": 0, "audio_end_ms": 500}, 2540)]
    frames.sort(key=lambda f: f[2])
    sid = make_session(store, frames)
    extract_audio(store, sid, tmp_path)
    conv, rate = read(tmp_path / "conversation.wav")
    assert rate == 24000 and conv.ndim == 2 and conv.shape[1] == 2
    left, right = conv[:, 0], conv[:, 1]
    assert abs(onset(left) - 24000) <= 240
    assert abs(onset(right) - 48000) <= 240
    start = onset(right) - 1  # the sine's first sample is 0
    assert np.array_equal(right[start:start + 12000], speech[:12000])  # 500 ms, no gaps
    assert not right[start + 12000:].any()
    assert conv.shape[0] >= 2.5 * 24000
    assert np.array_equal(left[onset(left) - 1:][:beep.size], beep)


def test_assistant_audio_queues_like_a_player(store: Store, tmp_path: Path) -> None:
    """A second item arriving while the first still plays starts when the first ends."""
    first, second = tone(1.0, freq=500), tone(0.5, freq=700)
    frames = [("server", delta(first[:12000], "item_a"), 2000),
              ("server", delta(first[12000:], "item_a"), 2005),
              ("server", delta(second, "item_b", "resp_2"), 2500)]
    sid = make_session(store, frames)
    extract_audio(store, sid, tmp_path)
    right = read(tmp_path / "conversation.wav")[0][:, 1]
    assert abs(onset(right) - 48000) <= 240
    begin = onset(right) - 1
    assert np.array_equal(right[begin:begin + 24000], first)
    assert np.array_equal(right[begin + 24000:begin + 36000], second)


def test_conversation_resamples_the_lower_rate(store: Store, tmp_path: Path) -> None:
    """μ-law user audio and pcm16 assistant audio share one 24 kHz time line."""
    beep8k = tone(0.5, freq=400, rate=8000)
    frames = [("server", ga_session("session.created", PCM, PCM), 0),
              ("client", ga_session("session.update", PCMU, PCM), 1),
              ("server", ga_session("session.updated", PCMU, PCM), 2)]
    frames += [("client", append(ulaw_encode(beep8k[i:i + 160])), 1000 + i // 8)
               for i in range(0, beep8k.size, 160)]
    frames += [("server", delta(tone(0.5, freq=600)), 2000)]
    sid = make_session(store, frames)
    extract_audio(store, sid, tmp_path)
    assert read(tmp_path / "input.wav")[1] == 8000
    assert read(tmp_path / "output.wav")[1] == 24000
    conv, rate = read(tmp_path / "conversation.wav")
    assert rate == 24000
    assert abs(onset(conv[:, 0]) - 24000) <= 240
    assert abs(onset(conv[:, 1]) - 48000) <= 240
    left = conv[onset(conv[:, 0]) - 1:][:12000, 0]
    assert np.abs(left[100:-100] - tone(0.5, freq=400)[100:-100].astype(int)).max() < 400


def test_format_change_mid_session(store: Store, tmp_path: Path) -> None:
    """pcm16 then μ-law input: input.wav is at the higher rate, μ-law upsampled 3x."""
    first = tone(1.0)
    later = tone(1.0, rate=8000, phase_s=1.0)
    frames = [("server", ga_session("session.created", PCM, PCM), 0)]
    frames += appends(first, 480, 10, 20)
    frames += [("client", ga_session("session.update", PCMU), 1100),
               ("server", ga_session("session.updated", PCMU, PCM), 1110)]
    frames += [("client", append(ulaw_encode(later[i:i + 160])), 1200 + i // 8)
               for i in range(0, later.size, 160)]
    sid = make_session(store, frames)
    report = extract_audio(store, sid, tmp_path)
    data, rate = read(tmp_path / "input.wav")
    assert rate == 24000
    assert data.size == 24000 + 3 * 8000
    assert np.array_equal(data[:24000], first)
    expected = tone(1.0, phase_s=1.0).astype(int)  # the same tone, continued, at 24 kHz
    assert np.abs(data[24000 + 100:-100] - expected[100:-100]).max() < 400
    assert report.invalid_count == 0


def test_format_change_back_to_pcm(store: Store, tmp_path: Path) -> None:
    """A telephony session that switches to pcm16 still gets one 24 kHz input.wav."""
    frames = [("client", beta_session("session.update", "g711_alaw"), 0)]
    frames += [("client", append(alaw_encode(tone(0.1, rate=8000))), 10)]
    frames += [("client", beta_session("session.update", "pcm16"), 200),
               ("client", append(tone(0.1)), 210)]
    sid = make_session(store, frames, flavour=Flavour.BETA)
    extract_audio(store, sid, tmp_path)
    data, rate = read(tmp_path / "input.wav")
    assert rate == 24000
    assert data.size == 2400 + 2400
    assert np.array_equal(data[2400:], tone(0.1))


def test_invalid_chunks_are_skipped_and_reported(store: Store, tmp_path: Path) -> None:
    """Bad base64, odd pcm16 lengths and missing audio are skipped with their seq."""
    a, b = tone(0.1), tone(0.2, freq=300)
    frames = [("client", append(a), 0),
              ("client", {"type": "input_audio_buffer.append", "audio": "!!not base64!!"}, 10),
              ("client", append(b"\x01\x02\x03"), 20),
              ("client", {"type": "input_audio_buffer.append"}, 30),
              ("client", append(b), 40),
              ("server", {"type": "response.output_audio.delta", "item_id": "i",
                          "response_id": "r", "delta": "abc"}, 50),
              ("server", delta(a), 60)]
    sid = make_session(store, frames)
    report = extract_audio(store, sid, tmp_path)
    assert report.invalid_count == 4
    assert [c.seq for c in report.invalid] == [1, 2, 3, 5]
    assert "base64" in report.invalid[0].reason and "odd length" in report.invalid[1].reason
    assert np.array_equal(read(tmp_path / "input.wav")[0], np.concatenate([a, b]))
    assert np.array_equal(read(tmp_path / "output.wav")[0], a)


def test_no_audio_writes_nothing(store: Store, tmp_path: Path) -> None:
    """A text-only session writes no files and does not create the folder."""
    sid = make_session(store, [
        ("server", ga_session("session.created", PCM, PCM), 0),
        ("client", {"type": "conversation.item.create", "item": {
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "hi"}]}}, 10),
        ("server", {"type": "response.output_text.delta", "delta": "hello"}, 20)])
    report = extract_audio(store, sid, tmp_path / "wav")
    assert report.files == []
    assert not (tmp_path / "wav").exists()


def test_only_invalid_audio_writes_nothing(store: Store, tmp_path: Path) -> None:
    """When every chunk is invalid there is no audio: no empty files."""
    sid = make_session(store, [("client", {"type": "input_audio_buffer.append",
                                           "audio": "%%%"}, 0)])
    report = extract_audio(store, sid, tmp_path / "wav")
    assert report.files == [] and report.invalid_count == 1
    assert not (tmp_path / "wav").exists()


def test_created_user_item_audio(store: Store, tmp_path: Path) -> None:
    """Audio inside a client-created user item counts as sent user audio."""
    clip = tone(0.4, freq=350)
    item = {"type": "message", "role": "user", "id": "item_clip",
            "content": [{"type": "input_audio", "audio": delta(clip)["delta"]}]}
    sid = make_session(store, [("client", {"type": "conversation.item.create",
                                           "item": item}, 500)])
    extract_audio(store, sid, tmp_path)
    assert np.array_equal(read(tmp_path / "input.wav")[0], clip)
    left = read(tmp_path / "conversation.wav")[0][:, 0]
    assert abs(onset(left) - 12000) <= 240


def test_undelivered_audio_is_not_in_the_conversation(store: Store, tmp_path: Path) -> None:
    """Deltas the client never received are in output.wav but were never heard."""
    sid = make_session(store, [("server", delta(tone(0.2)), 100),
                               ("server", delta(tone(0.2, freq=900)), 110)])
    with store.engine.begin() as conn:  # the recorder marks frames after the client left
        from sqlalchemy import text
        conn.execute(text("UPDATE events SET delivered = :f WHERE session_id = :s AND seq = 1"),
                     {"f": False, "s": sid})
    extract_audio(store, sid, tmp_path)
    assert read(tmp_path / "output.wav")[0].size == 9600
    right = read(tmp_path / "conversation.wav")[0][:, 1]
    assert np.array_equal(right[2400:7200], tone(0.2))
    assert not right[7200:].any()


def test_per_response_output_format(store: Store, tmp_path: Path) -> None:
    """A response that states its own output format is decoded in it."""
    speech = tone(0.25, rate=8000)
    frames = [("server", ga_session("session.created", PCM, PCM), 0),
              ("server", {"type": "response.created", "response": {
                  "id": "resp_9", "audio": {"output": {"format": PCMU}}}}, 10),
              ("server", delta(ulaw_encode(speech), response_id="resp_9"), 20)]
    sid = make_session(store, frames)
    extract_audio(store, sid, tmp_path)
    data, rate = read(tmp_path / "output.wav")
    assert rate == 8000 and data.size == speech.size


def test_escaped_base64_is_decoded_not_rejected(store: Store, tmp_path: Path) -> None:
    """An append whose base64 uses JSON escapes (``\\/``) is still valid audio."""
    samples = np.arange(-3000, 3000, 7, dtype=np.int16)
    escaped = append(samples)["audio"].replace("/", "\\/")
    raw = ('{"type": "input_audio_buffer.append", "audio": "' + escaped + '"}').encode()
    assert b"\\/" in raw
    sid = make_session(store, [("client", raw, 0)])
    report = extract_audio(store, sid, tmp_path)
    assert report.invalid_count == 0
    assert np.array_equal(read(tmp_path / "input.wav")[0], samples)


def test_late_session_created_does_not_undo_the_client_format(store: Store,
                                                              tmp_path: Path) -> None:
    """``session.created`` arriving after the client's update describes stale defaults."""
    payload = ulaw_encode(tone(0.2, rate=8000))
    sid = make_session(store, [
        ("client", beta_session("session.update", "g711_ulaw", "g711_ulaw"), 0),
        ("server", beta_session("session.created", "pcm16", "pcm16"), 2),
        ("client", append(payload), 10),
        ("server", beta_session("session.updated", "g711_ulaw", "g711_ulaw"), 12)],
        flavour=Flavour.BETA)
    extract_audio(store, sid, tmp_path)
    data, rate = read(tmp_path / "input.wav")
    expected, _ = sf.read(io.BytesIO(payload), format="RAW", subtype="ULAW", samplerate=8000,
                          channels=1, dtype="int16")
    assert rate == 8000 and np.array_equal(data, expected)
