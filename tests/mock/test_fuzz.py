"""Property: no frame kills the mock or the connection.

Random bytes, random text, random JSON and mutated valid events are sent on one
connection; after each, a valid ``conversation.item.create`` must still be answered, and
anything that is not a JSON object must have been answered with an ``error`` event.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtcapture.mock import serve_mock

from .helpers import RawClient, b64

VALID: list[dict[str, Any]] = [
    {"type": "session.update", "session": {"type": "realtime", "instructions": "hi",
                                           "output_modalities": ["text"]}},
    {"type": "session.update", "session": {"modalities": ["text"], "voice": "alloy",
                                           "turn_detection": {"type": "server_vad"}}},
    {"type": "transcription_session.update", "session": {"input_audio_transcription": {}}},
    {"type": "input_audio_buffer.append", "audio": b64(bytes(4800))},
    {"type": "input_audio_buffer.commit"},
    {"type": "input_audio_buffer.clear"},
    {"type": "conversation.item.create", "previous_item_id": "root", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "yo"}]}},
    {"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": "c1", "output": "{}"}},
    {"type": "conversation.item.truncate", "item_id": "x", "content_index": 0,
     "audio_end_ms": 10},
    {"type": "conversation.item.delete", "item_id": "x"},
    {"type": "conversation.item.retrieve", "item_id": "x"},
    {"type": "response.create", "response": {"output_modalities": ["text"],
                                             "conversation": "none", "metadata": {"a": "b"},
                                             "input": [{"type": "item_reference", "id": "x"}],
                                             "max_output_tokens": 5}},
    {"type": "response.create", "event_id": "e1"},
    {"type": "response.cancel", "response_id": "resp_x"},
    {"type": "output_audio_buffer.clear"},
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() |
    st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) |
    st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)


def _containers(obj: Any, path: tuple = ()) -> list[tuple]:
    out = [path] if isinstance(obj, dict | list) else []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) \
        else []
    for key, value in items:
        out += _containers(value, (*path, key))
    return out


def _at(obj: Any, path: tuple) -> Any:
    for key in path:
        obj = obj[key]
    return obj


@st.composite
def mutated_events(draw: st.DrawFn) -> str:
    event = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 3))):
        container = _at(event, draw(st.sampled_from(_containers(event))))
        keys = list(container) if isinstance(container, dict) else list(range(len(container)))
        op = draw(st.sampled_from(["drop", "replace", "add", "retype"]))
        if op == "add" or not keys:
            if isinstance(container, dict):
                container[draw(st.text(max_size=8))] = draw(json_values)
            else:
                container.append(draw(json_values))
        elif op == "drop":
            del container[draw(st.sampled_from(keys))]
        elif op == "replace":
            container[draw(st.sampled_from(keys))] = draw(json_values)
        elif isinstance(event, dict):
            event["type"] = draw(st.sampled_from([e["type"] for e in VALID] + ["x", ""]))
    return json.dumps(event)


frames = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64),
    json_values.map(json.dumps),
    mutated_events(),
)


def _is_object(frame: str | bytes) -> bool:
    if isinstance(frame, bytes):
        return False
    try:
        return isinstance(json.loads(frame, parse_constant=_no_constants), dict)
    except ValueError:
        return False


def _no_constants(name: str) -> None:
    raise ValueError(name)


async def _exercise(batch: list[str | bytes]) -> None:
    async with serve_mock(fast=True) as mock:
        client = await RawClient.open(mock.url)
        await client.until("session.created")
        for n, frame in enumerate(batch):
            await client.send(frame)
            probe = f"probe-{n}"
            await client.send({"type": "conversation.item.create", "item": {
                "id": probe, "type": "function_call_output", "call_id": "c", "output": "o"}})
            answered = await client.until(lambda e, p=probe: e.get("item", {}).get("id") == p)
            bugs = [e for e in answered if e["type"] == "error" and
                    e["error"]["type"] == "server_error"]
            assert not bugs, (frame, bugs)  # a handler crashed: a bug in the mock
            if not _is_object(frame):
                assert any(e["type"] == "error" and e["error"]["code"] == "invalid_json"
                           for e in answered), (frame, answered)
        await client.close()


@settings(max_examples=int(os.environ.get("RTCAPTURE_FUZZ_EXAMPLES", "100")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(frames, min_size=1, max_size=4))
def test_bad_frames_never_kill_the_connection(batch: list[str | bytes]) -> None:
    """Any frames: the server answers, keeps the connection open, and answers the next event."""
    asyncio.run(_exercise(batch))
