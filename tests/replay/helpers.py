"""In-memory builders for the pure replay tests: frames -> EventRecords, typical flows."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from rtcapture.proxy.ingest import SessionTally
from rtcapture.store import EventRecord

Frame = tuple[str, "dict[str, Any] | bytes", float]


def records(frames: Iterable[Frame], session_id: str = "S") -> list[EventRecord]:
    """EventRecords (seq in order) from (direction, event, t_ms) frames."""
    tally = SessionTally()
    out = []
    for seq, (direction, event, t_ms) in enumerate(frames):
        data = event if isinstance(event, bytes) else json.dumps(event).encode()
        t_ns = int(t_ms * 1e6)
        out.append(tally.build(session_id, seq, direction, t_ns, t_ns, "text", data))
    return out


def audio_b64(ms: int) -> str:
    """``ms`` of silent pcm16 audio, base64."""
    return base64.b64encode(b"\0\0" * 24 * ms).decode()


def text_response(rid: str, item: str, text: str, *, created_ms: float, ga: bool = True,
                  deltas: int = 2, audio_ms: int = 0, usage: dict[str, Any] | None = None
                  ) -> list[Frame]:
    """Server frames of one text (and optionally audio) response."""
    names = ("response.output_text.delta", "response.output_text.done") if ga else \
        ("response.text.delta", "response.text.done")
    msg = {"id": item, "type": "message", "role": "assistant", "status": "in_progress",
           "content": []}
    t = created_ms
    frames: list[Frame] = [
        ("server", {"type": "response.created", "event_id": f"event_{rid}1",
                    "response": {"id": rid, "status": "in_progress", "output": []}}, t),
        ("server", {"type": "rate_limits.updated", "event_id": f"event_{rid}rl",
                    "rate_limits": [{"name": "tokens", "remaining": 99}]}, t + 1),
        ("server", {"type": "response.output_item.added", "event_id": f"event_{rid}2",
                    "response_id": rid, "output_index": 0, "item": msg}, t + 2),
    ]
    step = max(1, len(text) // deltas)
    pieces = [text[i:i + step] for i in range(0, len(text), step)] or [""]
    for n, piece in enumerate(pieces):
        frames.append(("server", {"type": names[0], "event_id": f"event_{rid}d{n}",
                                  "response_id": rid, "item_id": item, "output_index": 0,
                                  "content_index": 0, "delta": piece}, t + 10 + n))
    if audio_ms:
        frames.append(("server", {"type": "response.output_audio.delta" if ga else
                                  "response.audio.delta", "event_id": f"event_{rid}a",
                                  "response_id": rid, "item_id": item, "output_index": 0,
                                  "content_index": 0, "delta": audio_b64(audio_ms)}, t + 5))
    done_item = dict(msg, status="completed", content=[{"type": "output_text", "text": text}])
    frames += [
        ("server", {"type": names[1], "event_id": f"event_{rid}3", "response_id": rid,
                    "item_id": item, "output_index": 0, "content_index": 0, "text": text},
         t + 50),
        ("server", {"type": "response.output_item.done", "event_id": f"event_{rid}4",
                    "response_id": rid, "output_index": 0, "item": done_item}, t + 51),
        ("server", {"type": "response.done", "event_id": f"event_{rid}5", "response": {
            "id": rid, "object": "realtime.response", "status": "completed",
            "output": [done_item], "conversation_id": "conv_1",
            "usage": usage or {"total_tokens": 30, "output_tokens": 10}}}, t + 52),
    ]
    return frames


def call_response(rid: str, item: str, call: str, args: dict[str, Any], *, created_ms: float
                  ) -> list[Frame]:
    """Server frames of a response holding one function call."""
    t = created_ms
    fc = {"id": item, "type": "function_call", "status": "in_progress", "name": "get_weather",
          "call_id": call, "arguments": ""}
    done = dict(fc, status="completed", arguments=json.dumps(args))
    return [
        ("server", {"type": "response.created", "event_id": "event_c1",
                    "response": {"id": rid, "status": "in_progress", "output": []}}, t),
        ("server", {"type": "response.output_item.added", "event_id": "event_c2",
                    "response_id": rid, "output_index": 0, "item": fc}, t + 1),
        ("server", {"type": "response.function_call_arguments.delta", "event_id": "event_c3",
                    "response_id": rid, "item_id": item, "output_index": 0, "call_id": call,
                    "delta": json.dumps(args)}, t + 2),
        ("server", {"type": "response.function_call_arguments.done", "event_id": "event_c4",
                    "response_id": rid, "item_id": item, "output_index": 0, "call_id": call,
                    "name": "get_weather", "arguments": json.dumps(args)}, t + 3),
        ("server", {"type": "response.output_item.done", "event_id": "event_c5",
                    "response_id": rid, "output_index": 0, "item": done}, t + 4),
        ("server", {"type": "response.done", "event_id": "event_c6", "response": {
            "id": rid, "status": "completed", "output": [done],
            "usage": {"total_tokens": 20, "output_tokens": 5}}}, t + 5),
    ]


def user_item(item: str, text: str, t_ms: float) -> list[Frame]:
    """A typed user message: the client's create and the server's (GA) answer."""
    return [
        ("client", {"type": "conversation.item.create", "item": {
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": text}]}}, t_ms),
        ("server", {"type": "conversation.item.added", "event_id": f"event_u{item}",
                    "previous_item_id": None, "item": {
                        "id": item, "type": "message", "role": "user", "status": "completed",
                        "content": [{"type": "input_text", "text": text}]}}, t_ms + 1),
    ]
