"""The Live mock: strict startup, the output track on the input clock, timed transcripts,
barge-in, delegation of three kinds, close reasons; every event checked against the SDK."""

from __future__ import annotations

import base64
import json

from rtcapture.mock import serve_mock
from rtcapture.mock.scenario import parse_scenario
from rtcapture.protocol import PCM16

from .helpers import (
    MODELS,
    SIDEBAND_MODELS,
    SIDEBAND_ONLY,
    LiveClient,
    check_against_sdk,
    quiet,
    spoken,
    start,
)

WEATHER = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
RESPONSES = {"delegation": {"type": "responses", "responses": {
    "model": "gpt-5.2", "tools": WEATHER}}}


def types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


def said(events: list[dict], kind: str) -> str:
    return "".join(e["delta"] for e in events if e["type"] == kind)


async def test_silent_until_start_and_strict_rejection() -> None:
    async with serve_mock(fast=True) as mock:
        client = await LiveClient.open_live(mock.url)
        refused = await client.answer(start({"voice": "marin"}, "E0"))
        assert types(refused) == ["error"]
        assert refused[0]["error"] == {
            "type": "invalid_request_error", "code": "unknown_parameter",
            "message": "Unknown parameter: 'session.voice'.", "param": "session.voice",
            "client_event_id": "E0"}
        nested = await client.answer(start({"audio": {"output": {"voice": "marin",
                                                                 "speed": 1.2}}}))
        assert nested[0]["error"]["param"] == "session.audio.output.speed"
        early = await client.answer({"type": "session.close", "event_id": "C0"})
        assert early[0]["error"]["code"] == "session_not_started"
        started = await client.answer(start({"audio": {"format": {"type": "audio/pcm",
                                                                  "rate": 16000}}}, "E1"))
        assert types(started) == ["session.started"]
        session = started[0]["session"]
        assert started[0]["client_event_id"] == "E1"
        assert session["id"].startswith("live_mock_") and session["status"] == "active"
        assert session["audio"] == {"format": {"type": "audio/pcm", "rate": 16000},
                                    "output": {"voice": "marin"}}
        again = await client.answer(start())
        assert again[0]["error"]["code"] == "session_already_started"
        await client.close()


async def test_output_track_follows_input_clock_and_speaks_the_reply() -> None:
    scenario = parse_scenario({"user_audio": [{"transcript": "Hello there, mock."}]})
    async with serve_mock(fast=True, scenario=scenario) as mock:
        client = await LiveClient.open_live(mock.url)
        await client.answer(start())
        audio = spoken("Hello there mock") + quiet(4000)
        got = await client.answer(audio)
        deltas = [e for e in got if e["type"] == "session.output_audio.delta"]
        sent_ms = len(audio) / PCM16.bytes_per_ms
        out_ms = sum(len(base64.b64decode(e["delta"])) for e in deltas) / PCM16.bytes_per_ms
        assert abs(out_ms - sent_ms) <= 100  # one chunk per chunk of input, to one chunk
        assert all("event_id" not in e for e in deltas)
        assert said(got, "session.input_transcript.delta") == "Hello there, mock."
        assert said(got, "session.output_transcript.delta") == "You said: Hello there, mock."
        first_in = next(e for e in got if e["type"] == "session.input_transcript.delta")
        first_out = next(e for e in got if e["type"] == "session.output_transcript.delta")
        last_in = [e for e in got if e["type"] == "session.input_transcript.delta"][-1]
        assert first_in["start_ms"] < last_in["end_ms"] <= first_out["start_ms"]
        # silence before the reply, speech after it starts
        pcm = b"".join(base64.b64decode(e["delta"]) for e in deltas)
        at = int(first_out["start_ms"] * PCM16.bytes_per_ms) // 2 * 2
        assert not any(pcm[:int(first_in["start_ms"] * PCM16.bytes_per_ms)])
        assert any(pcm[at:at + 48000])
        closed = await client.answer({"type": "session.close", "event_id": "bye"},
                                     last="session.closed")
        assert types(closed) == ["session.closed"]
        assert closed[0]["reason"] == "close_requested" and closed[0]["client_event_id"] == "bye"
        assert closed[0]["usage"]["seconds"] == round(sent_ms / 1000, 3)


async def test_user_talking_over_the_assistant_cuts_it_off() -> None:
    long_reply = "This is a rather long answer that keeps going for quite a while indeed."
    scenario = parse_scenario({"rules": [{"turn": 1, "reply": long_reply},
                                         {"turn": 2, "reply": "Okay."}],
                               "user_audio": [{"transcript": "Tell me"},
                                              {"transcript": "Stop"}]})
    async with serve_mock(fast=True, scenario=scenario) as mock:
        client = await LiveClient.open_live(mock.url)
        await client.answer(start())
        first = await client.answer(spoken("Tell me") + quiet(1500))
        assert said(first, "session.output_transcript.delta")  # the reply has begun
        second = await client.answer(spoken("Stop, stop") + quiet(6000))
        spoken_text = said(first + second, "session.output_transcript.delta")
        cut = spoken_text.removesuffix(" Okay.")
        assert cut != spoken_text and long_reply.startswith(cut) and len(cut) < len(long_reply)
        await client.close()


async def test_responses_delegation_calls_the_tool_and_speaks_the_result() -> None:
    scenario = parse_scenario({"user_audio": [{"transcript": "What's the weather in Paris?"}]})
    async with serve_mock(fast=True, scenario=scenario) as mock:
        client = await LiveClient.open_live(mock.url)
        await client.answer(start(RESPONSES))
        got = await client.answer(spoken("What is the weather in Paris") + quiet(800))
        created = next(e for e in got if e["type"] == "session.delegation.created")
        delegation = created["delegation"]
        assert delegation["target"] == "responses" and delegation["response_id"]
        wrapped = [e for e in got if e["type"] == "response.event"]
        assert [e["event"]["type"] for e in wrapped] == [
            "response.created", "response.output_item.added",
            "response.function_call_arguments.delta", "response.function_call_arguments.done",
            "response.output_item.done", "response.completed"]
        assert all(e["delegation_id"] == delegation["id"] for e in wrapped)
        call = wrapped[4]["event"]["item"]
        assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {
            "city": "Paris"}
        no_ack = await client.answer({"type": "response.item.create", "item": {
            "type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}})
        assert no_ack == []
        answer = await client.answer({"type": "response.create"}, quiet(5000))
        assert [e["event"]["type"] for e in answer if e["type"] == "response.event"][-1] == \
            "response.completed"
        assert said(answer, "session.output_transcript.delta") == \
            "The get_weather tool returned: sunny"
        await client.close()


async def test_client_delegation_waits_for_commentary() -> None:
    scenario = parse_scenario({"user_audio": [{"transcript": "Book a table"}],
                               "rules": [{"match": "book", "tool_call": {"name": "book"}},
                                         {"after_tool": "book", "reply": "Done: {tool_output}"}]})
    async with serve_mock(fast=True, scenario=scenario) as mock:
        client = await LiveClient.open_live(mock.url)
        await client.answer(start({"delegation": {"type": "client"}}))
        got = await client.answer(spoken("Book a table") + quiet(800))
        created = next(e for e in got if e["type"] == "session.delegation.created")
        assert created["delegation"]["target"] == "client"
        assert not said(got, "session.output_transcript.delta")
        did = created["delegation"]["id"]
        acked = await client.answer({"type": "session.commentary.append", "event_id": "c1",
                                     "delegation_id": did, "content": "table at seven"},
                                    quiet(4000))
        assert acked[0]["type"] == "session.commentary.appended"
        assert acked[0]["client_event_id"] == "c1"
        assert said(acked, "session.output_transcript.delta") == "Done: table at seven"
        bad = await client.answer({"type": "session.thinking.append", "delegation_id": "del_x",
                                   "content": "?"})
        assert bad[0]["error"]["param"] == "delegation_id"
        await client.close()


async def test_scenario_close_reason() -> None:
    scenario = parse_scenario({"rules": [{"close": {"code": 1000, "reason": "expired"}}]})
    async with serve_mock(fast=True, scenario=scenario) as mock:
        client = await LiveClient.open_live(mock.url)
        await client.answer(start())
        events = await client.answer(spoken("Hello") + quiet(800), last="session.closed")
        assert events[-1]["reason"] == "expired"
        await client.ws.wait_closed()
        assert client.ws.close_code == 1000


async def test_every_primary_server_event_is_produced_and_valid() -> None:
    """Conformance: each ``ServerEvent`` type a primary WebSocket can carry appears, and
    every event the mock sends validates against the SDK type for it (in ``answer``); the
    same for each ``ConnectServerEvent`` type a sideband attached to them can carry."""
    seen: set[str] = set()
    sidebands: list[LiveClient] = []

    async def started(client: LiveClient, event: dict) -> list[dict]:
        got = await client.answer(event)
        sidebands.append(await LiveClient.attach(mock.url, got[0]["session"]["id"]))
        return got

    weather = parse_scenario({"user_audio": [{"transcript": "Weather in Paris?"}]})
    async with serve_mock(fast=True, scenario=weather) as mock:
        client = await LiveClient.open_live(mock.url)
        fixture = base64.b64encode(bytes(9600)).decode()
        seen.update(types(await started(client, start({**RESPONSES, "client": {
            "data_channel": {"allowed_client_events": "all"}}}))))
        for step in (
            [{"type": "session.input_audio.mute"}, {"type": "session.input_audio.unmute"}],
            [{"type": "session.instructions.append", "delegation_id": None,
              "content": "Be brief."},
             {"type": "session.thinking.append", "delegation_id": None, "content": "hm"}],
            [{"type": "session.output_audio.fixture.play", "audio": fixture}, quiet(300)],
            [spoken("What is the weather in Paris") + quiet(800)],
        ):
            seen.update(types(await client.answer(*step)))
        call = next(e["event"]["item"] for e in client.events if e["type"] == "response.event"
                    and e["event"]["type"] == "response.output_item.done")
        for step in (
            [{"type": "response.item.create", "item": {
                "type": "function_call_output", "call_id": call["call_id"], "output": "rain"}},
             {"type": "response.create"}, quiet(3000)],
            [{"type": "session.update", "session": {"delegation": {
                "type": "responses", "responses": {"instructions": "Use metric."}}}}],
            [quiet(16000)],
        ):
            seen.update(types(await client.answer(*step)))
        refused = await client.answer({"type": "response.cancel"})
        assert refused[0]["error"]["param"] == "type"
        seen.update(types(refused))
        seen.update(types(await client.answer({"type": "session.close"},
                                              last="session.closed")))
        await sidebands[-1].until("session.closed")
        client = await LiveClient.open_live(mock.url)
        await started(client, start({"delegation": {"type": "decisions", "decisions": {
            "model": "gpt-decide", "questions": []}}}))
        item = {"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "hi"}]}
        created = await client.answer({"type": "decision.item.create", "item": item})
        deleted = await client.answer({"type": "decision.item.delete",
                                       "item_id": created[0]["item"]["id"]})
        decided = await client.answer({"type": "decision.create", "event_id": "d1"})
        seen.update(types(created + deleted + decided))
        await sidebands[-1].answer()
    booking = parse_scenario({"rules": [{"tool_call": {"name": "book"}}]})
    async with serve_mock(fast=True, scenario=booking) as mock:
        client = await LiveClient.open_live(mock.url)
        await started(client, start({"delegation": {"type": "client"}}))
        got = await client.answer(spoken("Book it") + quiet(800))
        did = next(e for e in got if e["type"] == "session.delegation.created")
        seen.update(types(got + await client.answer({
            "type": "session.commentary.append", "content": "x",
            "delegation_id": did["delegation"]["id"]})))
        await sidebands[-1].answer()
    wanted = set(MODELS) - SIDEBAND_ONLY
    assert wanted - seen == set()
    on_sidebands = {e["type"] for side in sidebands for e in side.events}
    for side in sidebands:
        for event in side.events:
            check_against_sdk(event, SIDEBAND_MODELS)
    # SIP calls' transport.*, WebRTC's pause/resume, and info (only ever sent in answer
    # to session.start, before a sideband can attach) are out of a sideband's reach here
    reachable = {t for t in SIDEBAND_MODELS if not t.startswith("transport.")} - {
        "session.paused", "session.resumed", "info"}
    assert reachable - on_sidebands == set()
