"""Test files of the sample projects the plugin's tests run with pytester."""

OPENAI_SDK = '''
import base64
import math
import struct

import pytest
from openai import AsyncOpenAI, OpenAI

INSTRUCTIONS = "Be brief."
AUDIO_TURN = True


def tone_b64(ms=600, rate=24000):
    n = rate * ms // 1000
    samples = (int(8000 * math.sin(2 * math.pi * 220 * i / rate)) for i in range(n))
    return base64.b64encode(struct.pack(f"<{n}h", *samples)).decode()


async def until(conn, etype):
    async for event in conn:
        assert event.type != "error", f"server error: {event}"
        if event.type == etype:
            return event
    raise AssertionError(f"connection closed before {etype}")


@pytest.mark.realtime_cassette("turns.jsonl")
async def test_text_and_audio_turn(realtime):
    client = AsyncOpenAI(api_key=realtime.api_key, websocket_base_url=realtime.url)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={
            "type": "realtime", "output_modalities": ["text"], "instructions": INSTRUCTIONS,
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000},
                                "turn_detection": None}}})
        await until(conn, "session.updated")
        await conn.conversation.item.create(item={
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "Hello there"}]})
        await until(conn, "conversation.item.done")
        await conn.response.create()
        done = await until(conn, "response.done")
        assert done.response.status == "completed"
        if not AUDIO_TURN:
            return
        await conn.input_audio_buffer.append(audio=tone_b64())
        await conn.input_audio_buffer.commit()
        await until(conn, "conversation.item.done")
        await conn.response.create()
        done = await until(conn, "response.done")
        assert done.response.status == "completed"
    sent = realtime.session.events("client")
    assert [e["type"] for e in sent] == [
        "session.update", "conversation.item.create", "response.create",
        "input_audio_buffer.append", "input_audio_buffer.commit", "response.create"]
    print(f"SESSION-MODE {realtime.mode} recording={realtime.recording} "
          f"replayed={realtime.session.replayed}")


@pytest.mark.realtime_cassette("beta-sync.jsonl")
def test_sync_beta_text_turn(realtime):
    client = OpenAI(api_key=realtime.api_key, websocket_base_url=realtime.url)
    with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        conn.session.update(session={"modalities": ["text"], "instructions": INSTRUCTIONS,
                                     "turn_detection": None})
        seen = []
        for event in conn:
            seen.append(event.type)
            if event.type == "session.updated":
                conn.conversation.item.create(item={
                    "type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": "Hi"}]})
            elif event.type == "conversation.item.created" and event.item.role == "user":
                conn.response.create()
            elif event.type == "response.done":
                break
    assert "response.text.delta" in seen
'''

AGENTS_SDK = '''
import asyncio

import pytest
from agents.realtime import RealtimeAgent, RealtimeRunner

INSTRUCTIONS = "Be brief."


@pytest.mark.realtime_cassette()
async def test_agent_turn(realtime):
    agent = RealtimeAgent(name="helper", instructions=INSTRUCTIONS)
    runner = RealtimeRunner(agent)
    session = await runner.run(model_config={"url": realtime.ws_url("gpt-realtime"),
                                             "api_key": realtime.api_key})
    kinds = []
    async with session:
        await session.send_message("Hello from the agent test")
        async with asyncio.timeout(30):
            async for event in session:
                kinds.append(event.type)
                assert event.type != "error", str(event)
                if event.type == "raw_model_event" and event.data.type == "raw_server_event" \\
                        and event.data.data.get("type") == "response.done":
                    break
    assert "audio" in kinds and "agent_start" in kinds
'''
