"""End-to-end behaviour over a real socket: VAD timing, manual turns, barge-in, cancel,
G.711, pacing, and what scenarios can inject."""

from __future__ import annotations

import asyncio
import base64
import time

import numpy as np
import pytest

from rtcapture.codec import alaw_decode, decode_samples, ulaw_decode
from rtcapture.mock import parse_scenario, serve_mock
from rtcapture.mock.synth import estimate_ms, synthesize
from rtcapture.protocol import G711_ALAW, G711_ULAW, PCM16
from tests.conftest import deadline

from .helpers import GA_TOOLS, RawClient, appends, b64, spoken, types, user_text

SPEECH = "Could you tell me the weather in Paris, please?"


def ga_session(**audio_in: object) -> dict:
    return {"type": "session.update", "session": {"type": "realtime", "audio": {
        "input": audio_in}}}


def speech_bounds(text: str, lead_ms: float) -> tuple[float, float]:
    """Where the spoken part of ``spoken(text)`` starts and ends (ms)."""
    words = synthesize(text, 24000, voice="user-voice").words
    return lead_ms + words[0].start_ms, lead_ms + words[-1].end_ms


async def open_client(mock, beta: bool = False) -> RawClient:
    client = await RawClient.open(mock.url, beta=beta)
    await client.until("session.created")
    return client


@pytest.mark.parametrize(("padding", "silence"), [(300, 200), (0, 500)])
async def test_vad_times_follow_settings(padding: int, silence: int) -> None:
    """speech_started/stopped carry the onset minus padding and the end plus the silence."""
    async with serve_mock(fast=True) as mock:
        client = await open_client(mock)
        await client.send(ga_session(turn_detection={
            "type": "server_vad", "prefix_padding_ms": padding, "silence_duration_ms": silence,
            "create_response": False}))
        await client.until("session.updated")
        for event in appends(spoken(SPEECH, lead_ms=600, tail_ms=silence + 300)):
            await client.send(event)
        events = await client.until("conversation.item.done")
        onset, end = speech_bounds(SPEECH, 600)
        started = next(e for e in events if e["type"] == "input_audio_buffer.speech_started")
        stopped = next(e for e in events if e["type"] == "input_audio_buffer.speech_stopped")
        assert abs(started["audio_start_ms"] - (onset - padding)) <= 20
        assert abs(stopped["audio_end_ms"] - (end + silence)) <= 30
        assert started["item_id"] == stopped["item_id"]
        assert "response.created" not in types(events)  # create_response false
        # the committed item holds exactly the audio between the two marks
        await client.send({"type": "conversation.item.retrieve", "item_id": started["item_id"]})
        item = (await client.until("conversation.item.retrieved"))[-1]["item"]
        audio = base64.b64decode(item["content"][0]["audio"])
        expected_ms = stopped["audio_end_ms"] - started["audio_start_ms"]
        assert abs(PCM16.ms_of(len(audio)) - expected_ms) <= 1


async def test_vad_threshold_ignores_quiet_speech() -> None:
    """Speech below the threshold's level starts no turn; above it, it does."""
    quiet = (np.frombuffer(spoken("Hello there."), "<i2") // 32).astype("<i2").tobytes()
    results = {}
    async with serve_mock(fast=True) as mock:
        for threshold in (0.1, 0.5):
            client = await open_client(mock)
            await client.send(ga_session(turn_detection={"type": "server_vad",
                                                         "threshold": threshold}))
            await client.until("session.updated")
            for event in appends(quiet):
                await client.send(event)
            await client.send({"type": "input_audio_buffer.clear"})
            events = await client.until("input_audio_buffer.cleared")
            results[threshold] = "input_audio_buffer.speech_started" in types(events)
            await client.close()
    assert results == {0.1: True, 0.5: False}


async def test_manual_commit_turn_keeps_audio_exact() -> None:
    """With turn_detection null, commit makes an item holding exactly the appended bytes."""
    audio = spoken("Manual turn.")
    async with serve_mock(fast=True) as mock:
        client = await open_client(mock)
        await client.send(ga_session(turn_detection=None))
        await client.until("session.updated")
        for event in appends(audio, chunk_ms=20):
            await client.send(event)
        await client.send({"type": "input_audio_buffer.commit"})
        events = await client.until("conversation.item.done")
        assert types(events) == ["input_audio_buffer.committed", "conversation.item.added",
                                 "conversation.item.done"]
        item_id = events[0]["item_id"]
        await client.send({"type": "conversation.item.retrieve", "item_id": item_id})
        item = (await client.until("conversation.item.retrieved"))[-1]["item"]
        assert base64.b64decode(item["content"][0]["audio"]) == audio
        await client.send({"type": "response.create"})
        done = (await client.until("response.done"))[-1]
        assert done["response"]["status"] == "completed"


async def test_barge_in_cancels_and_truncates() -> None:
    """Speech during a paced reply cancels it (turn_detected); truncate cuts its audio."""
    scenario = parse_scenario({"defaults": {"latency_ms": 0},
                               "rules": [{"turn": 1, "reply": "Once upon a time " * 8}]})
    async with serve_mock(scenario=scenario) as mock:
        client = await open_client(mock)
        await client.send(ga_session(turn_detection={"type": "server_vad"}))
        await client.until("session.updated")
        await client.send(user_text("Tell me a story."))
        await client.send({"type": "response.create"})
        first = await client.until("response.output_audio.delta")
        assistant = first[-1]["item_id"]
        for event in appends(spoken("Stop!", lead_ms=0, tail_ms=400)):
            await client.send(event)
        events = await client.until("input_audio_buffer.speech_started")
        events += await client.until("response.done")
        done = events[-1]["response"]
        assert done["status"] == "cancelled"
        assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
        assert done["output"][0]["status"] == "incomplete"
        after = types(events[events.index(next(e for e in events if e["type"] ==
                                               "input_audio_buffer.speech_started")):])
        assert after[-5:] == ["response.output_audio.done",
                              "response.output_audio_transcript.done",
                              "response.content_part.done", "response.output_item.done",
                              "conversation.item.done", "response.done"][-5:]
        received = sum(len(base64.b64decode(e["delta"])) for e in first + events
                       if e["type"] == "response.output_audio.delta")
        played_ms = int(PCM16.ms_of(received)) // 2
        await client.send({"type": "conversation.item.truncate", "item_id": assistant,
                           "content_index": 0, "audio_end_ms": played_ms, "event_id": "t1"})
        truncated = await client.until(lambda e: e["type"] in ("conversation.item.truncated",
                                                               "error"))
        assert truncated[-1]["type"] == "conversation.item.truncated", truncated[-1]
        assert truncated[-1]["audio_end_ms"] == played_ms
        await client.send({"type": "conversation.item.retrieve", "item_id": assistant})
        item = (await client.until("conversation.item.retrieved"))[-1]["item"]
        assert PCM16.ms_of(len(base64.b64decode(item["content"][0]["audio"]))) == played_ms
        assert item["content"][0]["transcript"] == ""


async def test_cancel_right_after_created_finds_it_active() -> None:
    """At real-time pacing, response.cancel after response.created cancels that response."""
    async with serve_mock() as mock:
        client = await open_client(mock)
        await client.send(user_text("hello"))
        await client.send({"type": "response.create"})
        created = (await client.until("response.created"))[-1]["response"]["id"]
        await client.send({"type": "response.create", "event_id": "second"})
        error = (await client.until("error"))[-1]["error"]
        assert error["code"] == "conversation_already_has_active_response"
        assert error["event_id"] == "second"
        await client.send({"type": "response.cancel", "response_id": created})
        done = (await client.until("response.done"))[-1]["response"]
        assert done["id"] == created and done["status"] == "cancelled"
        assert done["status_details"]["reason"] == "client_cancelled"
        await client.send({"type": "response.cancel", "event_id": "again"})
        error = (await client.until("error"))[-1]["error"]
        assert (error["code"], error["event_id"]) == ("response_cancel_not_active", "again")


async def test_out_of_band_runs_beside_the_conversation_response() -> None:
    """An out-of-band response may run while the conversation's own response is active."""
    async with serve_mock() as mock:
        client = await open_client(mock)
        await client.send(user_text("hello"))
        await client.send({"type": "response.create"})
        await client.until("response.created")
        await client.send({"type": "response.create", "response": {
            "conversation": "none", "output_modalities": ["text"], "metadata": {"k": "v"}}})
        events = await client.until(lambda e: e["type"] == "response.done" and
                                    e["response"]["metadata"] == {"k": "v"}, timeout=15)
        oob = events[-1]["response"]
        assert oob["conversation_id"] is None and oob["status"] == "completed"
        assert "error" not in types(events)
        await client.send({"type": "response.cancel"})
        await client.until("response.done")


@pytest.mark.parametrize(("beta_name", "ga_type", "fmt", "decode"), [
    ("g711_ulaw", "audio/pcmu", G711_ULAW, ulaw_decode),
    ("g711_alaw", "audio/pcma", G711_ALAW, alaw_decode),
])
@pytest.mark.parametrize("dialect", ["beta", "ga"])
async def test_g711_in_and_out(dialect, beta_name, ga_type, fmt, decode) -> None:
    """G.711 input is heard by the VAD; replies come back as G.711 of the right length."""
    beta = dialect == "beta"
    if beta:
        update = {"type": "session.update", "session": {
            "input_audio_format": beta_name, "output_audio_format": beta_name,
            "turn_detection": {"type": "server_vad"}}}
    else:
        update = {"type": "session.update", "session": {"type": "realtime", "audio": {
            "input": {"format": {"type": ga_type}, "turn_detection": {"type": "server_vad"}},
            "output": {"format": {"type": ga_type}}}}}
    async with serve_mock(fast=True) as mock:
        client = await open_client(mock, beta=beta)
        await client.send(update)
        await client.until("session.updated")
        for event in appends(spoken("Hello over the phone.", fmt), fmt, chunk_ms=20):
            await client.send(event)
        events = await client.until("response.done", timeout=15)
        assert "input_audio_buffer.speech_started" in types(events)
        delta_type = "response.audio.delta" if beta else "response.output_audio.delta"
        audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == delta_type)
        transcript = events[-1]["response"]["output"][0]["content"][0]["transcript"]
        assert abs(fmt.ms_of(len(audio)) - estimate_ms(transcript)) <= 20
        samples = decode(audio).astype(np.float64)
        assert 500 < np.sqrt(np.mean(samples ** 2)) < 20000  # audible, not clipped noise
        assert np.array_equal(decode(audio), decode_samples(audio, fmt))


async def test_audio_reply_paced_at_real_time() -> None:
    """A paced audio reply takes about as long as its audio lasts."""
    scenario = parse_scenario({"defaults": {"latency_ms": 0},
                               "rules": [{"reply": "One two three four five."}]})
    async with serve_mock(scenario=scenario) as mock:
        client = await open_client(mock)
        await client.send(user_text("count"))
        start = time.monotonic()
        await client.send({"type": "response.create"})
        await client.until("response.done", timeout=15)
        elapsed_ms = (time.monotonic() - start) * 1000
        length = estimate_ms("One two three four five.")
        assert elapsed_ms >= length * 0.8


async def test_scenario_injects_errors_failures_and_close() -> None:
    """Rules can answer with an error event, a failed response, or error-then-close."""
    scenario = parse_scenario({"rules": [
        {"turn": 1, "error": {"code": "rate_limit_exceeded", "message": "Slow down."}},
        {"turn": 2, "fail": {"type": "server_error", "code": "insufficient_quota",
                             "message": "You exceeded your current quota."}},
        {"turn": 3, "error": {"code": "session_expired", "message": "Your session hit the "
                              "maximum duration of 60 minutes."}, "close": {"code": 1001}},
    ]})
    async with serve_mock(fast=True, scenario=scenario) as mock:
        client = await open_client(mock)
        await client.send({"type": "response.create", "event_id": "r1"})
        error = (await client.until("error"))[-1]["error"]
        assert (error["code"], error["message"], error["event_id"]) == (
            "rate_limit_exceeded", "Slow down.", "r1")
        await client.send({"type": "response.create"})
        done = (await client.until("response.done"))[-1]["response"]
        assert done["status"] == "failed"
        assert done["status_details"]["error"]["code"] == "insufficient_quota"
        await client.send({"type": "response.create"})
        assert (await client.until("error"))[-1]["error"]["code"] == "session_expired"
        async with asyncio.timeout(deadline(5)):
            await client.ws.wait_closed()
        assert client.ws.close_code == 1001
        assert client.ws.close_reason == "invalid_request_error.session_expired"


async def test_transcription_failure_and_idle_timeout() -> None:
    """A scenario can fail an input transcription; GA idle_timeout_ms fires on silence."""
    scenario = parse_scenario({"user_audio": [{"fail": True}]})
    async with serve_mock(fast=True, scenario=scenario) as mock:
        client = await open_client(mock)
        await client.send(ga_session(
            transcription={"model": "gpt-4o-transcribe"},
            turn_detection={"type": "server_vad", "idle_timeout_ms": 1000,
                            "create_response": False}))
        await client.until("session.updated")
        for event in appends(spoken("Hello.")):
            await client.send(event)
        events = await client.until("conversation.item.input_audio_transcription.failed")
        assert events[-1]["error"]["message"]
        for event in appends(bytes(int(PCM16.bytes_per_ms * 1500))):
            await client.send(event)
        timeout = (await client.until("input_audio_buffer.timeout_triggered"))[-1]
        assert timeout["audio_end_ms"] - timeout["audio_start_ms"] >= 1000
        committed = (await client.until("input_audio_buffer.committed"))[-1]
        assert committed["item_id"] == timeout["item_id"]


async def test_max_output_tokens_makes_incomplete_response() -> None:
    """A reply longer than max_output_tokens stops early with status incomplete."""
    async with serve_mock(fast=True) as mock:
        client = await open_client(mock)
        await client.send(user_text("word " * 60))
        await client.send({"type": "response.create", "response": {
            "output_modalities": ["text"], "max_output_tokens": 10}})
        done = (await client.until("response.done"))[-1]["response"]
        assert done["status"] == "incomplete"
        assert done["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
        assert done["usage"]["output_tokens"] <= 10


async def test_insertion_order_and_partial_session_update() -> None:
    """previous_item_id places items (root = first); session.update merges partially."""
    async with serve_mock(fast=True) as mock:
        mock.keep_connections = True
        client = await open_client(mock)
        await client.send({"type": "session.update", "session": {
            "type": "realtime", "tools": GA_TOOLS, "output_modalities": ["text"]}})
        await client.until("session.updated")
        await client.send({"type": "session.update", "session": {
            "type": "realtime", "instructions": "Be brief."}})
        session = (await client.until("session.updated"))[-1]["session"]
        assert session["tools"] == GA_TOOLS and session["output_modalities"] == ["text"]
        assert session["instructions"] == "Be brief."
        ids = []
        for text, previous in (("a", None), ("b", None), ("c", "root"), ("d", "A")):
            event = user_text(text)
            if previous is not None:
                event["previous_item_id"] = ids[0] if previous == "A" else previous
            await client.send(event)
            added = (await client.until("conversation.item.done"))[-1]
            ids.append(added["item"]["id"])
            expected_prev = {None: ids[-2] if len(ids) > 1 else None, "root": None,
                             "A": ids[0]}[previous]
            if text == "b":
                expected_prev = ids[0]
            assert added["previous_item_id"] == expected_prev
        order = [i["id"] for i in mock.connections[0].conversation.items]
        assert order == [ids[2], ids[0], ids[3], ids[1]]


async def test_input_audio_is_base64_decoded_from_appends() -> None:
    """Chunks that split a PCM16 sample in two still reach the VAD intact."""
    audio = spoken("Odd chunks.")
    async with serve_mock(fast=True) as mock:
        client = await open_client(mock)
        await client.send(ga_session(turn_detection={"type": "server_vad",
                                                     "create_response": False}))
        await client.until("session.updated")
        for i in range(0, len(audio), 4801):  # odd sizes
            await client.send({"type": "input_audio_buffer.append",
                               "audio": b64(audio[i:i + 4801])})
        events = await client.until("input_audio_buffer.committed")
        assert types(events)[:2] == ["input_audio_buffer.speech_started",
                                     "input_audio_buffer.speech_stopped"]
