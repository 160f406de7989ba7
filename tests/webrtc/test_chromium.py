"""A real browser: headless Chromium (Debian's) runs a page doing what OpenAI's WebRTC
quickstart does, against the recorder -> mock, inside a loopback-only namespace."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile

from rtcapture.store import open_store

from .netns import run_scenario
from .scenarios import CHROMIUM, speech


def test_chromium_session_recorded_with_audio_both_ways(tmp_path) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no browser at {CHROMIUM}")
    pytest.importorskip("playwright")
    wav = tmp_path / "mic.wav"
    samples = np.frombuffer(speech("Hello there, how are you today?"), "<i2")
    soundfile.write(wav, samples, 24000, subtype="PCM_16")
    db = f"sqlite:///{tmp_path / 'c.db'}"
    result = run_scenario("chromium_call", timeout=240, db=db, wav=str(wav))
    assert "session.created" in result["events"]
    assert "output_audio_buffer.stopped" in result["events"]
    assert result["location"].startswith("/v1/realtime/calls/rtc_")
    store = open_store(db)
    rec = store.session(store.resolve("@chromium"))
    assert rec.transport == "webrtc"
    assert rec.status == "closed", rec.status_reason
    assert rec.input_audio_ms > 500 and rec.output_audio_ms > 500
