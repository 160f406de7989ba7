"""Acceptance with the real ``openai`` Python SDK, beta and GA clients.

Every server event is read with ``recv_bytes()``, parsed by the SDK (``parse_event``) and
also validated strictly against the SDK's server-event union for the dialect (pydantic
``TypeAdapter``: required fields, types, literals); both must agree on the class, and no
``error`` event may appear.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

import pytest

openai = pytest.importorskip("openai")
from pydantic import TypeAdapter  # noqa: E402

from rtcapture.mock import parse_scenario, serve_mock  # noqa: E402
from rtcapture.mock.scenario import Scenario  # noqa: E402
from rtcapture.protocol import G711_ALAW, G711_ULAW, PCM16, AudioFormat  # noqa: E402
from tests.conftest import deadline  # noqa: E402

from .helpers import GA_TOOLS, b64, spoken  # noqa: E402

BETA_TOOLS = [{k: v for k, v in t.items()} for t in GA_TOOLS]


@cache
def adapter(beta: bool) -> TypeAdapter:
    if beta:
        from openai.types.beta.realtime import RealtimeServerEvent
    else:
        from openai.types.realtime import RealtimeServerEvent
    return TypeAdapter(RealtimeServerEvent)


class Sdk:
    """One SDK connection plus strict checking of everything it receives."""

    def __init__(self, conn: Any, beta: bool) -> None:
        self.conn = conn
        self.beta = beta
        self.events: list[Any] = []

    async def next(self) -> Any:
        async with asyncio.timeout(deadline(10)):
            raw = await self.conn.recv_bytes()
        event = self.conn.parse_event(raw)
        strict = adapter(self.beta).validate_json(raw)
        assert type(strict).__name__ == type(event).__name__, (json.loads(raw)["type"], strict)
        assert event.type == json.loads(raw)["type"] == strict.type
        assert event.type != "error", event
        self.events.append(event)
        return event

    async def until(self, kind: str) -> list[Any]:
        out = []
        while True:
            event = await self.next()
            out.append(event)
            if event.type == kind:
                return out


@asynccontextmanager
async def sdk_session(beta: bool, *, scenario: Scenario | None = None, fast: bool = True
                      ) -> AsyncIterator[Sdk]:
    async with serve_mock(fast=fast, scenario=scenario) as mock:
        client = openai.AsyncOpenAI(api_key="sk-test-dummy-key-1234",
                                    websocket_base_url=mock.url + "/v1")
        if beta:
            manager = client.beta.realtime.connect(model="gpt-4o-realtime-preview")
        else:
            manager = client.realtime.connect(model="gpt-realtime")
        async with manager as conn:
            sdk = Sdk(conn, beta)
            assert (await sdk.next()).type == "session.created"
            if beta:
                assert (await sdk.next()).type == "conversation.created"
            yield sdk


def session(beta: bool, *, text: bool = False, vad: bool | dict = False, tools: bool = False,
            fmt: AudioFormat = PCM16, transcription: bool = False) -> dict[str, Any]:
    td = (vad if isinstance(vad, dict) else {"type": "server_vad"}) if vad else None
    tr = {"model": "whisper-1" if beta else "gpt-4o-transcribe"} if transcription else None
    if beta:
        out: dict[str, Any] = {"modalities": ["text"] if text else ["audio", "text"],
                               "turn_detection": td, "input_audio_format": fmt.beta_name,
                               "output_audio_format": fmt.beta_name,
                               "input_audio_transcription": tr}
        if tools:
            out["tools"] = BETA_TOOLS
        return out
    out = {"type": "realtime", "output_modalities": ["text"] if text else ["audio"],
           "audio": {"input": {"format": fmt.ga_object(), "turn_detection": td,
                               "transcription": tr},
                     "output": {"format": fmt.ga_object()}}}
    if tools:
        out["tools"] = GA_TOOLS
    return out


def user_message(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def send_audio(sdk: Sdk, data: bytes, fmt: AudioFormat = PCM16, chunk_ms: int = 40
                     ) -> None:
    step = int(chunk_ms * fmt.bytes_per_ms)
    for i in range(0, len(data), step):
        await sdk.conn.input_audio_buffer.append(audio=b64(data[i:i + step]))


def audio_delta(beta: bool) -> str:
    return "response.audio.delta" if beta else "response.output_audio.delta"


DIALECTS = pytest.mark.parametrize("beta", [True, False], ids=["beta", "ga"])


@DIALECTS
async def test_text_turn(beta: bool) -> None:
    """A typed message and response.create give a streamed text reply."""
    async with sdk_session(beta) as sdk:
        await sdk.conn.session.update(session=session(beta, text=True))
        await sdk.until("session.updated")
        await sdk.conn.conversation.item.create(item=user_message("Hello from the SDK"))
        await sdk.conn.response.create()
        events = await sdk.until("response.done")
        delta = "response.text.delta" if beta else "response.output_text.delta"
        text = "".join(e.delta for e in events if e.type == delta)
        assert text == "You said: Hello from the SDK"
        assert events[-1].response.status == "completed"
        assert events[-1].response.usage.output_tokens > 0


@DIALECTS
async def test_audio_turn_under_server_vad(beta: bool) -> None:
    """A spoken-like signal with silence around it makes a VAD turn and an audio reply."""
    scenario = parse_scenario({"user_audio": [{"transcript": "How are you?"}]})
    async with sdk_session(beta, scenario=scenario) as sdk:
        await sdk.conn.session.update(session=session(beta, vad=True, transcription=True))
        await sdk.until("session.updated")
        await send_audio(sdk, spoken("How are you?"))
        events = await sdk.until("response.done")
        kinds = [e.type for e in events]
        assert kinds[:3] == ["input_audio_buffer.speech_started",
                             "input_audio_buffer.speech_stopped",
                             "input_audio_buffer.committed"]
        assert "conversation.item.input_audio_transcription.completed" in kinds
        audio = b"".join(base64.b64decode(e.delta) for e in events if e.type == audio_delta(beta))
        assert PCM16.ms_of(len(audio)) > 500
        assert events[-1].response.output[0].content[0].transcript == "You said: How are you?"


@DIALECTS
async def test_manual_commit(beta: bool) -> None:
    """Manual turns: append, commit, response.create."""
    async with sdk_session(beta) as sdk:
        await sdk.conn.session.update(session=session(beta, text=True))
        await sdk.until("session.updated")
        await send_audio(sdk, spoken("Manual."))
        await sdk.conn.input_audio_buffer.commit()
        committed = await sdk.until("input_audio_buffer.committed")
        await sdk.until("conversation.item.created" if beta else "conversation.item.done")
        await sdk.conn.response.create()
        done = (await sdk.until("response.done"))[-1]
        assert done.response.status == "completed"
        assert committed[-1].item_id


@DIALECTS
async def test_function_call_round_trip(beta: bool) -> None:
    """A tool call streams its arguments; the output item and response.create continue."""
    async with sdk_session(beta) as sdk:
        await sdk.conn.session.update(session=session(beta, text=True, tools=True))
        await sdk.until("session.updated")
        await sdk.conn.conversation.item.create(item=user_message("Weather in Paris?"))
        await sdk.conn.response.create()
        events = await sdk.until("response.done")
        done = next(e for e in events if e.type == "response.function_call_arguments.done")
        assert json.loads(done.arguments) == {"city": "Paris"}
        assert "".join(e.delta for e in events if e.type ==
                       "response.function_call_arguments.delta") == done.arguments
        await sdk.conn.conversation.item.create(item={
            "type": "function_call_output", "call_id": done.call_id, "output": "21 C"})
        await sdk.conn.response.create()
        final = (await sdk.until("response.done"))[-1]
        assert "21 C" in final.response.output[0].content[0].text


SLOW_REPLY = parse_scenario({"defaults": {"latency_ms": 0},
                             "rules": [{"reply": "A rather long answer, " * 10}]})


@DIALECTS
async def test_barge_in_with_truncate(beta: bool) -> None:
    """Speech during a paced reply cancels it; the client truncates what it played."""
    async with sdk_session(beta, scenario=SLOW_REPLY, fast=False) as sdk:
        await sdk.conn.session.update(session=session(beta, vad=True))
        await sdk.until("session.updated")
        await sdk.conn.conversation.item.create(item=user_message("Talk to me."))
        await sdk.conn.response.create()
        first = await sdk.until(audio_delta(beta))
        await send_audio(sdk, spoken("Wait!", tail_ms=400), chunk_ms=100)
        events = await sdk.until("response.done")
        assert events[-1].response.status == "cancelled"
        assert events[-1].response.status_details.reason == "turn_detected"
        heard = sum(len(base64.b64decode(e.delta)) for e in first + events
                    if e.type == audio_delta(beta))
        await sdk.conn.conversation.item.truncate(item_id=first[-1].item_id, content_index=0,
                                                  audio_end_ms=int(PCM16.ms_of(heard)) // 2)
        truncated = (await sdk.until("conversation.item.truncated"))[-1]
        assert truncated.audio_end_ms == int(PCM16.ms_of(heard)) // 2
        await sdk.conn.response.cancel()  # the VAD turn's own reply
        assert (await sdk.until("response.done"))[-1].response.status == "cancelled"


@DIALECTS
async def test_response_cancel(beta: bool) -> None:
    """response.cancel right after response.created ends it as cancelled."""
    async with sdk_session(beta, scenario=SLOW_REPLY, fast=False) as sdk:
        await sdk.conn.conversation.item.create(item=user_message("Go on."))
        await sdk.conn.response.create()
        created = (await sdk.until("response.created"))[-1]
        await sdk.conn.response.cancel()
        done = (await sdk.until("response.done"))[-1]
        assert done.response.id == created.response.id
        assert done.response.status == "cancelled"
        assert done.response.status_details.reason == "client_cancelled"


@DIALECTS
@pytest.mark.parametrize("fmt", [G711_ULAW, G711_ALAW], ids=["ulaw", "alaw"])
async def test_g711_in_and_out(beta: bool, fmt: AudioFormat) -> None:
    """G.711 audio in (VAD hears it) and out (deltas at 8 bytes per ms)."""
    async with sdk_session(beta) as sdk:
        await sdk.conn.session.update(session=session(beta, vad=True, fmt=fmt))
        updated = (await sdk.until("session.updated"))[-1]
        if beta:
            assert updated.session.output_audio_format == fmt.beta_name
        await send_audio(sdk, spoken("Telephone call.", fmt), fmt, chunk_ms=20)
        events = await sdk.until("response.done")
        assert events[0].type == "input_audio_buffer.speech_started"
        audio = b"".join(base64.b64decode(e.delta) for e in events if e.type == audio_delta(beta))
        assert fmt.ms_of(len(audio)) > 500


@DIALECTS
async def test_transcription_session(beta: bool) -> None:
    """Transcription-only sessions transcribe VAD turns and create no responses."""
    scenario = parse_scenario({"user_audio": [{"transcript": "Just transcribe me."}]})
    async with sdk_session(beta, scenario=scenario) as sdk:
        if beta:
            await sdk.conn.transcription_session.update(session={
                "input_audio_transcription": {"model": "gpt-4o-transcribe"},
                "turn_detection": {"type": "server_vad"}})
            await sdk.until("transcription_session.updated")
        else:
            await sdk.conn.session.update(session={"type": "transcription", "audio": {"input": {
                "transcription": {"model": "gpt-4o-transcribe"},
                "turn_detection": {"type": "server_vad"}}}})
            updated = (await sdk.until("session.updated"))[-1]
            assert updated.session.type == "transcription"
        await send_audio(sdk, spoken("Just transcribe me."))
        events = await sdk.until("conversation.item.input_audio_transcription.completed")
        assert events[-1].transcript == "Just transcribe me."
        assert "response.created" not in [e.type for e in events]
