"""A voice turn from the real ``openai`` SDK, through the recorder to the mock, extracted."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import numpy as np
import soundfile as sf
from openai import AsyncOpenAI

from rtcapture.audio import extract_audio
from rtcapture.mock.server import serve_mock
from rtcapture.proxy.recorder import Recorder, parse_upstream
from rtcapture.proxy.relay import RelayConfig
from rtcapture.store import open_store
from tests.conftest import deadline

from .builders import b64, onset, tone

PCM = {"type": "audio/pcm", "rate": 24000}


async def test_sdk_voice_turn_recorded_then_extracted(sqlite_url: str, tmp_path: Path) -> None:
    """What the SDK sent and received is exactly what input.wav / output.wav hold, and the
    turn files and conversation line up with it."""
    speech = tone(1.2, freq=330)
    received: list[bytes] = []
    async with serve_mock(fast=True) as mock:
        recorder = Recorder("127.0.0.1", 0, mock.url, sqlite_url,
                            RelayConfig(upstream=parse_upstream(mock.url)), echo=lambda _: None)
        await recorder.start()
        try:
            client = AsyncOpenAI(api_key="sk-test-audio-extract-0001",
                                 websocket_base_url=f"{recorder.url}/v1")
            async with client.realtime.connect(model="gpt-realtime") as conn:
                await conn.session.update(session={  # type: ignore[arg-type]
                    "type": "realtime", "output_modalities": ["audio"],
                    "audio": {"input": {"format": PCM, "turn_detection": None},
                              "output": {"format": PCM}}})
                for start in range(0, speech.size, 2400):
                    await conn.input_audio_buffer.append(audio=b64(speech[start:start + 2400]))
                await conn.input_audio_buffer.commit()
                await conn.response.create()
                async with asyncio.timeout(deadline(20)):
                    async for event in conn:
                        if event.type == "response.output_audio.delta":
                            received.append(base64.b64decode(event.delta))
                        elif event.type == "response.done":
                            break
        finally:
            await recorder.stop()
    assert received, "the mock sent no audio"
    with open_store(sqlite_url) as store:
        report = extract_audio(store, store.resolve("last"), tmp_path, per_turn=True)
    sent_back = np.frombuffer(b"".join(received), dtype="<i2")
    assert np.array_equal(sf.read(tmp_path / "input.wav", dtype="int16")[0], speech)
    assert np.array_equal(sf.read(tmp_path / "output.wav", dtype="int16")[0], sent_back)
    turns = sorted((tmp_path / "turns").iterdir())
    assert [p.name.split("-")[1] for p in turns] == ["user", "assistant"]
    assert np.array_equal(sf.read(turns[0], dtype="int16")[0], speech)
    assert np.array_equal(sf.read(turns[1], dtype="int16")[0], sent_back)
    conv = sf.read(tmp_path / "conversation.wav", dtype="int16")[0]
    assert onset(conv[:, 1]) > onset(conv[:, 0])  # the reply follows the question
    assert {f.kind for f in report.files} == {"input", "output", "conversation", "user_turn",
                                              "assistant_turn"}
