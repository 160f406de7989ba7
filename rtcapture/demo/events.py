"""Client events the scripted flows send, in either dialect, and the user's "voice".

The user's speech is the mock's own deterministic speech-like audio (a different voice
from the assistant's) with silence around it, so server VAD hears a real turn.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from ..codec import encode_samples
from ..mock.synth import silence, synthesize
from ..protocol import (
    INPUT_AUDIO_APPEND,
    ITEM_CREATE,
    ITEM_TRUNCATE,
    PCM16,
    RESPONSE_CANCEL,
    RESPONSE_CREATE,
    SESSION_UPDATE,
    AudioFormat,
    Flavour,
)

Event = dict[str, Any]
USER_VOICE = "user-voice"
WEATHER_TOOL: Event = {
    "type": "function", "name": "get_weather",
    "description": "The current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]},
}


def session_update(flavour: Flavour, *, audio: bool = True, vad: bool = True,
                   tools: bool = False, fmt: AudioFormat = PCM16, transcription: bool = False,
                   instructions: str | None = None) -> Event:
    """A ``session.update`` in the dialect's shape."""
    turn_detection = {"type": "server_vad"} if vad else None
    session: Event
    if flavour is Flavour.BETA:
        session = {"modalities": ["audio", "text"] if audio else ["text"],
                   "turn_detection": turn_detection, "input_audio_format": fmt.beta_name,
                   "output_audio_format": fmt.beta_name}
        if audio:
            session["voice"] = "alloy"
        if transcription:
            session["input_audio_transcription"] = {"model": "whisper-1"}
    else:
        audio_in: Event = {"format": fmt.ga_object(), "turn_detection": turn_detection}
        if transcription:
            audio_in["transcription"] = {"model": "gpt-4o-transcribe"}
        session = {"type": "realtime", "output_modalities": ["audio"] if audio else ["text"],
                   "audio": {"input": audio_in, "output": {"format": fmt.ga_object(),
                                                          "voice": "alloy"}}}
    if instructions is not None:
        session["instructions"] = instructions
    if tools:
        session["tools"] = [WEATHER_TOOL]
    return {"type": SESSION_UPDATE, "session": session}


def user_text(text: str) -> Event:
    """A typed user message."""
    return {"type": ITEM_CREATE, "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}


def function_output(call_id: str, output: str) -> Event:
    """The result of a function call, as a conversation item."""
    return {"type": ITEM_CREATE, "item": {
        "type": "function_call_output", "call_id": call_id, "output": output}}


def response_create(flavour: Flavour, *, text_only: bool = False) -> Event:
    """``response.create``; ``text_only`` asks for a text reply in an audio session."""
    if not text_only:
        return {"type": RESPONSE_CREATE}
    key = "modalities" if flavour is Flavour.BETA else "output_modalities"
    return {"type": RESPONSE_CREATE, "response": {key: ["text"]}}


def response_cancel() -> Event:
    return {"type": RESPONSE_CANCEL}


def truncate(item_id: str, audio_end_ms: int) -> Event:
    """Tell the server how much of an assistant audio item the user actually heard."""
    return {"type": ITEM_TRUNCATE, "item_id": item_id, "content_index": 0,
            "audio_end_ms": audio_end_ms}


def spoken(text: str, fmt: AudioFormat = PCM16, *, lead_ms: float = 300,
           tail_ms: float = 500) -> bytes:
    """The user saying ``text``: speech-like audio with silence around it, in ``fmt``."""
    speech = synthesize(text, fmt.rate, voice=USER_VOICE).samples
    samples = np.concatenate([silence(lead_ms, fmt.rate), speech, silence(tail_ms, fmt.rate)])
    return encode_samples(samples, fmt)


def audio_chunks(data: bytes, fmt: AudioFormat, chunk_ms: int) -> list[Event]:
    """``input_audio_buffer.append`` events of ``chunk_ms`` each."""
    step = int(chunk_ms * fmt.bytes_per_ms)
    step -= step % fmt.bytes_per_sample
    return [{"type": INPUT_AUDIO_APPEND,
             "audio": base64.b64encode(data[i:i + step]).decode("ascii")}
            for i in range(0, len(data), step)]
