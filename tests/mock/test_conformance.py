"""Conformance table: every client event of the reference, in both dialects, against the
server event sequence the reference gives; and every error case with the real error shape.

Each case runs on a fresh fast-mode connection. A probe (``conversation.item.retrieve`` of
an unknown id with ``event_id`` "sync") after each step marks where the mock's answer ends:
the mock handles frames in order, so everything before the probe's error belongs to the step.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from rtcapture.mock import serve_mock

from .helpers import GA_TOOLS, RawClient, appends, b64, spoken, text_session, user_text

SYNC = {"type": "conversation.item.retrieve", "item_id": "item_does_not_exist",
        "event_id": "sync"}
EVENT_ID = re.compile(r"^event_[0-9A-Za-z]{21}$")
DELTAS = {"response.text.delta", "response.output_text.delta", "response.audio.delta",
          "response.output_audio.delta", "response.audio_transcript.delta",
          "response.output_audio_transcript.delta", "response.function_call_arguments.delta",
          "conversation.item.input_audio_transcription.delta"}


async def answer(client: RawClient, event: Any) -> list[dict[str, Any]]:
    """The server events answering ``event`` (the probe's error excluded)."""
    await client.send(event)
    await client.send(SYNC)
    events = await client.until(lambda e: e["type"] == "error" and
                                e["error"]["event_id"] == "sync")
    for e in events:
        assert EVENT_ID.match(e["event_id"]), e
    return events[:-1]


def shape(events: list[dict[str, Any]]) -> list[str]:
    """Event types with each run of a delta type collapsed to ``type*``."""
    out = []
    for kind, run in itertools.groupby(e["type"] for e in events):
        out.append(f"{kind}*" if kind in DELTAS else kind)
        if kind not in DELTAS:
            out.extend([kind] * (len(list(run)) - 1))
    return out


def without_deltas(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events if e["type"] not in DELTAS]


def audio_session(beta: bool, turn_detection: Any = None, transcription: bool = False) -> dict:
    tr = {"model": "gpt-4o-transcribe"} if transcription else None
    if beta:
        return {"type": "session.update", "session": {
            "modalities": ["audio", "text"], "turn_detection": turn_detection,
            "input_audio_transcription": tr, "tools": GA_TOOLS}}
    return {"type": "session.update", "session": {
        "type": "realtime", "output_modalities": ["audio"], "tools": GA_TOOLS,
        "audio": {"input": {"turn_detection": turn_detection, "transcription": tr}}}}


@dataclass
class Case:
    name: str
    event: Any
    beta: list[str] | None
    ga: list[str] | None
    setup: list[Any] = field(default_factory=list)
    deltas: bool = False
    """Compare with delta events removed (audio and transcript deltas interleave)."""


A = "{A}"  # the last assistant item id seen during setup
U = "{U}"  # the last user item id seen during setup
TEXT_RESPONSE_BETA = ["response.created", "rate_limits.updated", "response.output_item.added",
                      "conversation.item.created", "response.content_part.added",
                      "response.text.delta*", "response.text.done", "response.content_part.done",
                      "response.output_item.done", "response.done"]
TEXT_RESPONSE_GA = ["response.created", "rate_limits.updated", "response.output_item.added",
                    "conversation.item.added", "response.content_part.added",
                    "response.output_text.delta*", "response.output_text.done",
                    "response.content_part.done", "response.output_item.done",
                    "conversation.item.done", "response.done"]
AUDIO_RESPONSE_BETA = ["response.created", "rate_limits.updated", "response.output_item.added",
                       "conversation.item.created", "response.content_part.added",
                       "response.audio.done", "response.audio_transcript.done",
                       "response.content_part.done", "response.output_item.done",
                       "response.done"]
AUDIO_RESPONSE_GA = ["response.created", "rate_limits.updated", "response.output_item.added",
                     "conversation.item.added", "response.content_part.added",
                     "response.output_audio.done", "response.output_audio_transcript.done",
                     "response.content_part.done", "response.output_item.done",
                     "conversation.item.done", "response.done"]
ITEM_BETA = ["conversation.item.created"]
ITEM_GA = ["conversation.item.added", "conversation.item.done"]
AUDIO_200MS = b64(bytes(9600))

CASES = [
    Case("session.update", "SESSION", ["session.updated"], ["session.updated"]),
    Case("transcription_session.update",
         {"type": "transcription_session.update",
          "session": {"input_audio_transcription": {"model": "whisper-1"}}},
         ["transcription_session.updated"], ["error"]),
    Case("input_audio_buffer.append", {"type": "input_audio_buffer.append", "audio": AUDIO_200MS},
         [], [], setup=["TEXT"]),
    Case("input_audio_buffer.commit", {"type": "input_audio_buffer.commit"},
         ["input_audio_buffer.committed", *ITEM_BETA],
         ["input_audio_buffer.committed", *ITEM_GA],
         setup=["TEXT", {"type": "input_audio_buffer.append", "audio": AUDIO_200MS}]),
    Case("input_audio_buffer.commit + transcription", {"type": "input_audio_buffer.commit"},
         ["input_audio_buffer.committed", *ITEM_BETA,
          "conversation.item.input_audio_transcription.delta*",
          "conversation.item.input_audio_transcription.completed"],
         ["input_audio_buffer.committed", *ITEM_GA,
          "conversation.item.input_audio_transcription.delta*",
          "conversation.item.input_audio_transcription.completed"],
         setup=["AUDIO_TRANSCRIBED", {"type": "input_audio_buffer.append", "audio": AUDIO_200MS}]),
    Case("input_audio_buffer.clear", {"type": "input_audio_buffer.clear"},
         ["input_audio_buffer.cleared"], ["input_audio_buffer.cleared"],
         setup=["TEXT", {"type": "input_audio_buffer.append", "audio": AUDIO_200MS}]),
    Case("conversation.item.create", user_text("hi"), ITEM_BETA, ITEM_GA),
    Case("conversation.item.create function_call_output",
         {"type": "conversation.item.create", "item": {
             "type": "function_call_output", "call_id": "call_x", "output": "{}"}},
         ITEM_BETA, ITEM_GA),
    Case("conversation.item.truncate",
         {"type": "conversation.item.truncate", "item_id": A, "content_index": 0,
          "audio_end_ms": 150},
         ["conversation.item.truncated"], ["conversation.item.truncated"],
         setup=["AUDIO", user_text("hello"), {"type": "response.create"}]),
    Case("conversation.item.delete", {"type": "conversation.item.delete", "item_id": U},
         ["conversation.item.deleted"], ["conversation.item.deleted"],
         setup=["TEXT", user_text("hello")]),
    Case("conversation.item.retrieve", {"type": "conversation.item.retrieve", "item_id": U},
         ["conversation.item.retrieved"], ["conversation.item.retrieved"],
         setup=["TEXT", user_text("hello")]),
    Case("response.create (text)", {"type": "response.create"},
         TEXT_RESPONSE_BETA, TEXT_RESPONSE_GA, setup=["TEXT", user_text("hello there")]),
    Case("response.create (audio)", {"type": "response.create"},
         AUDIO_RESPONSE_BETA, AUDIO_RESPONSE_GA, setup=["AUDIO", user_text("hello there")],
         deltas=True),
    Case("response.create (function call)", {"type": "response.create"},
         ["response.created", "rate_limits.updated", "response.output_item.added",
          "conversation.item.created", "response.function_call_arguments.delta*",
          "response.function_call_arguments.done", "response.output_item.done",
          "response.done"],
         ["response.created", "rate_limits.updated", "response.output_item.added",
          "conversation.item.added", "response.function_call_arguments.delta*",
          "response.function_call_arguments.done", "response.output_item.done",
          "conversation.item.done", "response.done"],
         setup=["TEXT", "TOOLS", user_text("What's the weather in Paris?")]),
    Case("response.create (out of band)",
         {"type": "response.create", "response": {"conversation": "none",
                                                  "metadata": {"topic": "summary"}}},
         [t for t in TEXT_RESPONSE_BETA if not t.startswith("conversation.")],
         [t for t in TEXT_RESPONSE_GA if not t.startswith("conversation.")],
         setup=["TEXT", user_text("hello there")]),
    Case("response.cancel (nothing active)", {"type": "response.cancel"}, ["error"], ["error"]),
    Case("output_audio_buffer.clear", {"type": "output_audio_buffer.clear"}, ["error"],
         ["error"]),
    Case("server VAD turn", "SPEECH",
         ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
          "input_audio_buffer.committed", *ITEM_BETA, "response.created",
          "conversation.item.input_audio_transcription.completed",
          *AUDIO_RESPONSE_BETA[1:]],
         ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
          "input_audio_buffer.committed", *ITEM_GA, "response.created",
          "conversation.item.input_audio_transcription.completed",
          *AUDIO_RESPONSE_GA[1:]],
         setup=["VAD"], deltas=True),
]


def _expand(step: Any, beta: bool) -> list[Any]:
    if step == "TEXT":
        return [text_session(beta)]
    if step == "AUDIO":
        return [audio_session(beta)]
    if step == "TOOLS":
        return [{"type": "session.update", "session": {"tools": GA_TOOLS} | (
            {} if beta else {"type": "realtime"})}]
    if step == "AUDIO_TRANSCRIBED":
        return [audio_session(beta, transcription=True)]
    if step == "VAD":
        td = {"type": "server_vad"}
        return [audio_session(beta, td, transcription=True)]
    if step == "SESSION":
        return [{"type": "session.update", "session": {"instructions": "Be brief."} | (
            {} if beta else {"type": "realtime"})}]
    if step == "SPEECH":
        return appends(spoken("Hello there."))
    return [step]


def _fill(event: Any, seen: list[dict[str, Any]]) -> Any:
    text = json.dumps(event)
    assistant = [e["item"]["id"] for e in seen if e["type"] == "response.output_item.added"]
    user = [e["item"]["id"] for e in seen if e.get("item", {}).get("role") == "user"]
    if A in text:
        text = text.replace(A, assistant[-1])
    if U in text:
        text = text.replace(U, user[-1])
    return json.loads(text)


@pytest.mark.parametrize("dialect", ["beta", "ga"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_client_event_answer(case: Case, dialect: str) -> None:
    """The mock answers each client event with the reference's sequence for the dialect."""
    beta = dialect == "beta"
    expected = case.beta if beta else case.ga
    async with serve_mock(fast=True) as mock:
        client = await RawClient.open(mock.url, beta=beta)
        opening = await client.until("session.created")
        if beta:
            assert (await client.next())["type"] == "conversation.created"
        seen = list(opening)
        for step in case.setup:
            for event in _expand(step, beta):
                got = await answer(client, _fill(event, seen))
                assert "error" not in [e["type"] for e in got], got
                seen += got
        events = []
        for event in _expand(case.event, beta):
            events += await answer(client, _fill(event, seen))
        got = without_deltas(events) if case.deltas else shape(events)
        assert got == [t for t in expected if not (case.deltas and t.endswith("*"))]
        if case.deltas:
            kinds = {e["type"] for e in events} & DELTAS
            assert any("audio.delta" in k for k in kinds) and any("transcript" in k
                                                                 for k in kinds)
        await client.close()


# --------------------------------------------------------------------------- errors


@dataclass
class ErrorCase:
    name: str
    frame: Any
    code: str
    param: str | None
    dialects: tuple[str, ...] = ("beta", "ga")
    setup: list[Any] = field(default_factory=list)
    message: str | None = None


def _ga(session: dict[str, Any]) -> dict[str, Any]:
    return {"type": "session.update", "event_id": "evt_1", "session": session}


ERROR_CASES = [
    ErrorCase("invalid JSON", "{not json", "invalid_json", None),
    ErrorCase("JSON array", "[1, 2]", "invalid_json", None),
    ErrorCase("NaN is not JSON", '{"type": "session.update", "session": {"temperature": NaN}}',
              "invalid_json", None),
    ErrorCase("binary frame", b"\x00\x01binary", "invalid_json", None),
    ErrorCase("missing type", {"event_id": "evt_1"}, "missing_required_parameter", "type"),
    ErrorCase("non-string type", {"type": 7, "event_id": "evt_1"}, "invalid_type", "type"),
    ErrorCase("unknown type", {"type": "conversation.item.explode", "event_id": "evt_1"},
              "invalid_value", "type"),
    ErrorCase("unknown field", {"type": "response.cancel", "event_id": "evt_1", "foo": 1},
              "unknown_parameter", "foo"),
    ErrorCase("non-string event_id", {"type": "input_audio_buffer.clear", "event_id": 5},
              "invalid_type", "event_id"),
    ErrorCase("session missing", {"type": "session.update", "event_id": "evt_1"},
              "missing_required_parameter", "session"),
    ErrorCase("session not an object", {"type": "session.update", "event_id": "evt_1",
                                        "session": "fast"}, "invalid_type", "session"),
    ErrorCase("GA session.type missing", _ga({"instructions": "x"}),
              "missing_required_parameter", "session.type", ("ga",)),
    ErrorCase("GA beta field", _ga({"type": "realtime", "turn_detection": None}),
              "unknown_parameter", "session.turn_detection", ("ga",),
              message="Unknown parameter: 'session.turn_detection'."),
    ErrorCase("GA temperature", _ga({"type": "realtime", "temperature": 0.8}),
              "unknown_parameter", "session.temperature", ("ga",)),
    ErrorCase("beta GA field", _ga({"type": "realtime"}), "unknown_parameter", "session.type",
              ("beta",)),
    ErrorCase("beta bad format", _ga({"input_audio_format": "mp3"}), "invalid_value",
              "session.input_audio_format", ("beta",)),
    ErrorCase("GA bad format", _ga({"type": "realtime", "audio": {"input": {"format": {
        "type": "audio/mp3"}}}}), "invalid_value", "session.audio.input.format.type", ("ga",)),
    ErrorCase("wrong-typed instructions", _ga({"instructions": 5}), "invalid_type",
              "session.instructions", ("beta",)),
    ErrorCase("GA wrong-typed instructions", _ga({"type": "realtime", "instructions": 5}),
              "invalid_type", "session.instructions", ("ga",)),
    ErrorCase("VAD threshold out of range", _ga({"turn_detection": {"type": "server_vad",
                                                                    "threshold": 3}}),
              "integer_out_of_range", "session.turn_detection.threshold", ("beta",)),
    ErrorCase("append without audio", {"type": "input_audio_buffer.append", "event_id": "e"},
              "missing_required_parameter", "audio"),
    ErrorCase("append wrong-typed audio", {"type": "input_audio_buffer.append", "audio": 1},
              "invalid_type", "audio"),
    ErrorCase("append bad base64", {"type": "input_audio_buffer.append", "audio": "@@@"},
              "invalid_value", "audio"),
    ErrorCase("commit empty buffer", {"type": "input_audio_buffer.commit", "event_id": "c"},
              "input_audio_buffer_commit_empty", None,
              message="Error committing input audio buffer: buffer too small. Expected at "
                      "least 100ms of audio, but buffer only has 0.00ms of audio."),
    ErrorCase("commit 50 ms", {"type": "input_audio_buffer.commit"},
              "input_audio_buffer_commit_empty", None,
              setup=[{"type": "session.update", "session": {"turn_detection": None}},
                     {"type": "input_audio_buffer.append", "audio": b64(bytes(2400))}],
              dialects=("beta",)),
    ErrorCase("item missing", {"type": "conversation.item.create"},
              "missing_required_parameter", "item"),
    ErrorCase("item type missing", {"type": "conversation.item.create", "item": {}},
              "missing_required_parameter", "item.type"),
    ErrorCase("item bad role", {"type": "conversation.item.create", "item": {
        "type": "message", "role": "robot", "content": []}}, "invalid_value", "item.role"),
    ErrorCase("item content not a list", {"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": "hi"}}, "invalid_type", "item.content"),
    ErrorCase("item part type", {"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "output_text", "text": "x"}]}},
              "invalid_value", "item.content[0].type"),
    ErrorCase("item unknown previous", {**user_text("x"), "previous_item_id": "item_nope"},
              "invalid_value", "previous_item_id"),
    ErrorCase("item duplicate id", {"type": "conversation.item.create", "item": {
        "id": "mine", "type": "function_call_output", "call_id": "c", "output": "o"}},
              "invalid_value", "item.id", setup=[{"type": "conversation.item.create", "item": {
                  "id": "mine", "type": "function_call_output", "call_id": "c", "output": "o"}}]),
    ErrorCase("function output without call_id", {"type": "conversation.item.create", "item": {
        "type": "function_call_output", "output": "x"}}, "missing_required_parameter",
              "item.call_id"),
    ErrorCase("truncate unknown item", {"type": "conversation.item.truncate", "item_id": "nope",
                                        "content_index": 0, "audio_end_ms": 10},
              "invalid_value", "item_id"),
    ErrorCase("truncate past the audio", {"type": "conversation.item.truncate", "item_id": A,
                                          "content_index": 0, "audio_end_ms": 600000},
              "invalid_value", None, setup=[user_text("hi"), {"type": "response.create"}]),
    ErrorCase("truncate a user item", {"type": "conversation.item.truncate", "item_id": U,
                                       "content_index": 0, "audio_end_ms": 0},
              "invalid_value", "item_id", setup=[user_text("hi")]),
    ErrorCase("truncate without audio_end_ms", {"type": "conversation.item.truncate",
                                                "item_id": "x", "content_index": 0},
              "missing_required_parameter", "audio_end_ms"),
    ErrorCase("truncate wrong-typed index", {"type": "conversation.item.truncate",
                                             "item_id": "x", "content_index": "0",
                                             "audio_end_ms": 1}, "invalid_type", "content_index"),
    ErrorCase("delete unknown item", {"type": "conversation.item.delete", "item_id": "nope"},
              "invalid_value", "item_id"),
    ErrorCase("retrieve unknown item", {"type": "conversation.item.retrieve", "item_id": "x"},
              "invalid_value", "item_id"),
    ErrorCase("retrieve wrong-typed id", {"type": "conversation.item.retrieve", "item_id": 1},
              "invalid_type", "item_id"),
    ErrorCase("response not an object", {"type": "response.create", "response": []},
              "invalid_type", "response"),
    ErrorCase("unknown response override", {"type": "response.create",
                                            "response": {"colour": "red"}},
              "unknown_parameter", "response.colour"),
    ErrorCase("unknown item reference", {"type": "response.create", "response": {
        "input": [{"type": "item_reference", "id": "item_nope"}]}}, "invalid_value",
              "response.input[0].id"),
    ErrorCase("cancel with nothing active", {"type": "response.cancel", "event_id": "evt_9"},
              "response_cancel_not_active", None,
              message="Cancellation failed: no active response found"),
]


@pytest.mark.parametrize("case", [(c, d) for c in ERROR_CASES for d in c.dialects],
                         ids=[f"{c.name}-{d}" for c in ERROR_CASES for d in c.dialects])
async def test_error_shape(case: tuple[ErrorCase, str]) -> None:
    """Bad input gets one ``error`` with the real shape; the connection keeps answering."""
    err_case, dialect = case
    beta = dialect == "beta"
    async with serve_mock(fast=True) as mock:
        client = await RawClient.open(mock.url, beta=beta)
        seen = await client.until("session.created")
        if beta:
            seen.append(await client.next())
        for event in err_case.setup:
            got = await answer(client, _fill(event, seen))
            assert "error" not in [e["type"] for e in got], got
            seen += got
        frame = err_case.frame
        if isinstance(frame, dict):
            frame = _fill(frame, seen)
        events = await answer(client, frame)
        assert [e["type"] for e in events] == ["error"]
        error = events[0]["error"]
        assert set(error) == {"type", "code", "message", "param", "event_id"}
        assert error["type"] == "invalid_request_error"
        assert error["code"] == err_case.code
        assert error["param"] == err_case.param
        assert isinstance(error["message"], str) and error["message"]
        if err_case.message is not None:
            assert error["message"] == err_case.message
        sent_id = frame.get("event_id") if isinstance(frame, dict) else None
        assert error["event_id"] == (sent_id if isinstance(sent_id, str) else None)
        # still open and still answering a valid event
        assert await answer(client, user_text("still there?")) != []
        await client.close()
