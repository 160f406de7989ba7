"""Events and signals for audio tests: exact synthetic samples, both dialects."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from tests.factories import Frame

RATE = 24000


def tone(seconds: float, freq: float = 440.0, rate: int = RATE, amp: int = 8000,
         phase_s: float = 0.0) -> np.ndarray:
    """A sine as int16 samples."""
    n = round(seconds * rate)
    t = np.arange(n) / rate + phase_s
    return np.round(amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def b64(data: bytes | np.ndarray) -> str:
    raw = data.astype("<i2").tobytes() if isinstance(data, np.ndarray) else data
    return base64.b64encode(raw).decode("ascii")


def append(audio: bytes | np.ndarray) -> dict[str, Any]:
    return {"type": "input_audio_buffer.append", "audio": b64(audio)}


def delta(audio: bytes | np.ndarray, item_id: str = "item_a1", response_id: str = "resp_1",
          ga: bool = True, content_index: int = 0) -> dict[str, Any]:
    return {"type": "response.output_audio.delta" if ga else "response.audio.delta",
            "event_id": "event_x", "response_id": response_id, "item_id": item_id,
            "output_index": 0, "content_index": content_index, "delta": b64(audio)}


def ga_session(kind: str, input_format: dict[str, Any] | None = None,
               output_format: dict[str, Any] | None = None, vad: bool | None = None,
               ) -> dict[str, Any]:
    """A GA ``session.update`` / ``session.created`` / ``session.updated``."""
    audio: dict[str, Any] = {"input": {}, "output": {}}
    if input_format is not None:
        audio["input"]["format"] = input_format
    if output_format is not None:
        audio["output"]["format"] = output_format
    if vad is not None:
        audio["input"]["turn_detection"] = {"type": "server_vad"} if vad else None
    return {"type": kind, "session": {"type": "realtime", "audio": audio}}


def beta_session(kind: str, input_format: str | None = None,
                 output_format: str | None = None, vad: bool | None = None) -> dict[str, Any]:
    """A beta ``session.update`` / ``session.created`` / ``session.updated``."""
    session: dict[str, Any] = {}
    if input_format is not None:
        session["input_audio_format"] = input_format
    if output_format is not None:
        session["output_audio_format"] = output_format
    if vad is not None:
        session["turn_detection"] = {"type": "server_vad"} if vad else None
    return {"type": kind, "session": session}


PCM = {"type": "audio/pcm", "rate": 24000}
PCMU = {"type": "audio/pcmu"}
PCMA = {"type": "audio/pcma"}


def appends(samples: np.ndarray, chunk: int, t0_ms: float, step_ms: float) -> list[Frame]:
    """Client appends of ``chunk`` samples each, sent every ``step_ms`` from ``t0_ms``."""
    frames: list[Frame] = []
    for i, start in enumerate(range(0, samples.size, chunk)):
        frames.append(("client", append(samples[start:start + chunk]), t0_ms + i * step_ms))
    return frames


def onset(channel: np.ndarray, threshold: int = 200) -> int:
    """Index of the first sample whose magnitude exceeds ``threshold``."""
    loud = np.nonzero(np.abs(channel.astype(np.int32)) > threshold)[0]
    assert loud.size, "no sound in channel"
    return int(loud[0])
