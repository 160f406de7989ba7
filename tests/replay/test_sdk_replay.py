"""The openai SDK recorded through rtcapture's recorder against the mock, then replayed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openai import AsyncOpenAI

from rtcapture.cli import cli
from rtcapture.mock import serve_mock
from rtcapture.proxy.recorder import Recorder, parse_upstream
from rtcapture.proxy.relay import RelayConfig
from rtcapture.store import open_store
from tests.conftest import deadline
from tests.replay.scripts import WEATHER_TOOL

KEY = "sk-test-canary-REPLAYSDK000000004321"


async def sdk_session(base_url: str, dialect: str) -> None:
    """A function call round trip and a deletion, driven by the SDK as an app would."""
    client = AsyncOpenAI(api_key=KEY, websocket_base_url=f"{base_url}/v1")
    if dialect == "ga":
        manager = client.realtime.connect(model="gpt-realtime")
        session: dict[str, Any] = {"type": "realtime", "output_modalities": ["text"],
                                   "tools": [WEATHER_TOOL]}
    else:
        manager = client.beta.realtime.connect(model="gpt-4o-realtime-preview")
        session = {"modalities": ["text"], "tools": [WEATHER_TOOL]}
    async with manager as conn, asyncio.timeout(deadline(15)):
        await conn.session.update(session=session)  # type: ignore[arg-type]
        await conn.conversation.item.create(item={  # type: ignore[arg-type]
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "Use get_weather for Rome."}]})
        await conn.response.create()
        call_id = user_item = None
        async for event in conn:
            if event.type in ("conversation.item.added", "conversation.item.created") \
                    and user_item is None:
                user_item = event.item.id  # type: ignore[union-attr]
            if event.type == "response.function_call_arguments.done":
                call_id = event.call_id  # type: ignore[union-attr]
            if event.type == "response.done":
                break
        assert call_id and user_item
        await conn.conversation.item.create(item={  # type: ignore[arg-type]
            "type": "function_call_output", "call_id": call_id, "output": "sunny"})
        await conn.response.create()
        async for event in conn:
            if event.type == "response.done":
                break
        await conn.conversation.item.delete(item_id=user_item)
        async for event in conn:
            assert event.type != "error", event
            if event.type == "conversation.item.deleted":
                break


async def record(db_url: str, dialect: str) -> None:
    async with serve_mock(fast=True) as mock:
        recorder = Recorder("127.0.0.1", 0, mock.url, db_url,
                            RelayConfig(upstream=parse_upstream(mock.url)), echo=lambda _: None)
        await recorder.start()
        try:
            await sdk_session(recorder.url, dialect)
        finally:
            await recorder.stop()


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_sdk_recording_replays_cleanly(sqlite_url: str, dialect: str) -> None:
    """Playback gives no difference; the mock with other ids gives the same events."""
    asyncio.run(record(sqlite_url, dialect))
    runner = CliRunner()
    playback = runner.invoke(cli, ["--db", sqlite_url, "-q", "replay", "last", "--target",
                                   "playback", "--diff"])
    assert playback.exit_code == 0, playback.output
    with open_store(sqlite_url) as store:
        original = store.sessions(limit=2)[1]
        assert original.flavour == dialect and original.replay_of is None
    mock = runner.invoke(cli, ["--db", sqlite_url, "-q", "replay", original.id, "--target",
                               "mock", "--seed", "11", "--fast", "--diff", "--report", "-"])
    doc = json.loads(mock.stdout)
    assert mock.exit_code == 0, doc["differences"]
    assert doc["replay"]["ids_translated"] >= 6
    with open_store(sqlite_url) as store:
        types = [e.type for e in store.events(doc["b"]["id"], direction="server")]
    assert "error" not in types and "conversation.item.deleted" in types
    db_file = Path(sqlite_url.removeprefix("sqlite:///"))
    for path in (db_file, Path(f"{db_file}-wal")):
        assert not path.exists() or KEY.encode() not in path.read_bytes()
