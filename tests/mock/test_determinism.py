"""Same seed, scenario and client frames give byte-identical server frames."""

from __future__ import annotations

from rtcapture.mock import parse_scenario, serve_mock
from rtcapture.mock.scenario import Scenario

from .helpers import GA_TOOLS, RawClient, appends, spoken, user_text

SCENARIO = parse_scenario({"user_audio": [{"transcript": "What's the weather in Oslo?"}],
                           "rules": [{"match": "weather", "tool_call": {"name": "get_weather"}},
                                     {"after_tool": "*", "reply": "It is {tool_output}."}]})


async def drive(seed: int, *, fast: bool = True, scenario: Scenario = SCENARIO,
                beta: bool = False) -> list[bytes]:
    """A session touching every kind of output; returns every raw server frame."""
    async with serve_mock(seed=seed, fast=fast, scenario=scenario) as mock:
        client = await RawClient.open(mock.url, beta=beta)
        await client.until("session.created")
        session = {"tools": GA_TOOLS, "input_audio_transcription": {"model": "whisper-1"},
                   "turn_detection": {"type": "server_vad"}} if beta else {
            "type": "realtime", "tools": GA_TOOLS,
            "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"},
                                "turn_detection": {"type": "server_vad"}}}}
        await client.send({"type": "session.update", "session": session})
        await client.until("session.updated")
        for event in appends(spoken("What's the weather in Oslo?")):
            await client.send(event)
        events = await client.until("response.done")
        call = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        await client.send({"type": "conversation.item.create", "item": {
            "type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}})
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        assistant = events[-1]["response"]["output"][0]["id"]
        await client.send({"type": "conversation.item.truncate", "item_id": assistant,
                           "content_index": 0, "audio_end_ms": 300})
        await client.until("conversation.item.truncated")
        await client.send(user_text("thanks"))
        await client.send({"type": "response.create", "response": {"conversation": "none"}})
        await client.until("response.done")
        await client.send("not json")
        await client.until("error")
        await client.close()
        return client.raw


async def test_same_seed_same_bytes() -> None:
    """Two fast runs with one seed produce identical frames; another seed changes ids."""
    first = await drive(seed=7)
    second = await drive(seed=7)
    assert len(first) > 50
    assert first == second
    other = await drive(seed=8)
    assert len(other) == len(first) and other != first


async def test_beta_dialect_is_deterministic_too() -> None:
    """The beta dialect's frames are reproducible as well."""
    assert await drive(seed=3, beta=True) == await drive(seed=3, beta=True)


async def test_pacing_does_not_change_the_bytes() -> None:
    """A client that waits for each answer gets the same frames paced or fast."""
    paced = parse_scenario({"defaults": {"pacing": 20, "latency_ms": 10},
                            "user_audio": [{"transcript": "What's the weather in Oslo?"}],
                            "rules": [{"match": "weather",
                                       "tool_call": {"name": "get_weather"}},
                                      {"after_tool": "*", "reply": "It is {tool_output}."}]})
    assert await drive(seed=1, fast=False, scenario=paced) == await drive(seed=1,
                                                                          scenario=paced)


async def _ids_per_connection(seed: int, scenario: Scenario = SCENARIO) -> list[list[str]]:
    """Three connections to one mock, one after the other: each one's session and item ids."""
    found = []
    async with serve_mock(seed=seed, fast=True, scenario=scenario) as mock:
        for _ in range(3):
            client = await RawClient.open(mock.url)
            created = await client.until("session.created")
            await client.send(user_text("hello"))
            added = await client.until("conversation.item.added")
            await client.close()
            found.append([created[-1]["session"]["id"], added[-1]["item"]["id"]])
    return found


async def test_ids_unique_per_connection_and_reproducible() -> None:
    """With one fixed seed, every connection gets ids of its own (item ids do not collide
    across sessions); the same seed and scenario give the same ids per connection again,
    another scenario other ids."""
    first = await _ids_per_connection(seed=0)
    flat = [i for ids in first for i in ids]
    assert len(set(flat)) == len(flat), first
    assert await _ids_per_connection(seed=0) == first
    named = parse_scenario({"name": "other", "rules": []})
    assert not set(flat) & {i for ids in await _ids_per_connection(0, named) for i in ids}
