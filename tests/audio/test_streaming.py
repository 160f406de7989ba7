"""Memory stays bounded whatever the session's length."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rtcapture.audio import extract_audio
from rtcapture.store import Store, open_store
from tests.factories import Frame, make_session

from .builders import PCM, append, delta, ga_session


def conversation(minutes: float) -> Iterator[Frame]:
    """Real-time-like: 40 ms appends throughout, a 3 s reply in a burst every 10 s."""
    rng = np.random.default_rng(3)
    yield ("server", ga_session("session.created", PCM, PCM), 0)
    mic = rng.integers(-3000, 3000, size=960, dtype=np.int16)
    reply = rng.integers(-3000, 3000, size=7200, dtype=np.int16)
    for i in range(int(minutes * 60_000 / 40)):
        t_ms = 10 + 40 * i
        yield ("client", append(mic), t_ms)
        if i % 250 == 100:  # every 10 s
            for k in range(10):  # 10 x 300 ms, faster than real time
                yield ("server", delta(reply, f"item_{i}", f"resp_{i}"), t_ms + 5 + k)


def peak_bytes(store: Store, sid: str, out: Path) -> tuple[int, float]:
    tracemalloc.start()
    try:
        report = extract_audio(store, sid, out, per_turn=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    conv = next(f for f in report.files if f.kind == "conversation")
    return peak, conv.duration_s


def test_peak_memory_does_not_grow_with_length(sqlite_url: str, tmp_path: Path) -> None:
    """Tripling the session's length leaves the extraction's peak memory where it was."""
    with open_store(sqlite_url) as store:
        short = make_session(store, conversation(2))
        long = make_session(store, conversation(6))
        peak_short, dur_short = peak_bytes(store, short, tmp_path / "short")
        peak_long, dur_long = peak_bytes(store, long, tmp_path / "long")
    assert dur_long > 2.9 * dur_short
    assert peak_long < peak_short * 1.25 + 1_000_000
    conversation_bytes = dur_long * 24000 * 2 * 2  # holding the stereo track would cost this
    assert peak_long < conversation_bytes / 2  # (most of the peak is the store's fetch chunk)
