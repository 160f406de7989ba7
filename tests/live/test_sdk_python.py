"""Acceptance: the real ``openai`` Python SDK's Live client completes a session through
``rtcapture record`` (the CLI) in front of the mock, unchanged; every frame is stored
byte-exact both ways; the dialect reads ``live`` in ``sessions --json`` and in Parquet."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
from openai import AsyncOpenAI

from rtcapture.mock import parse_scenario, serve_mock
from tests.conftest import deadline
from tests.proxy.procs import start_recorder

from .helpers import check_against_sdk, quiet, spoken, stored

KEY = "sk-test-canary-LIVESDK00000001234"
TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]


def cli(db: str, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "rtcapture", "--db", db, *args], check=True,
                          capture_output=True, text=True, timeout=deadline(60)).stdout


async def test_python_sdk_live_session_recorded_byte_exact(sqlite_url: str,
                                                           tmp_path: Path) -> None:
    scenario = parse_scenario({"user_audio": [{"transcript": "Weather in Paris?"}]})
    async with serve_mock(fast=True, scenario=scenario) as mock:
        mock.keep_connections = True
        rec = await start_recorder(sqlite_url, mock.url)
        try:
            client = AsyncOpenAI(api_key=KEY, websocket_base_url=f"{rec.url}/v1")
            received: list[bytes] = []
            async with client.live.connect() as conn:
                async def until(kind: str) -> list[str]:
                    seen = []
                    async with asyncio.timeout(deadline(20)):
                        while True:
                            raw = await conn.recv_bytes()
                            received.append(raw)
                            event = conn.parse_event(raw)
                            check_against_sdk(json.loads(raw))
                            assert event.type != "error", raw
                            seen.append(event.type)
                            if event.type == kind:
                                return seen
                await conn.session.start(event_id="start", session={
                    "model": "gpt-live-1", "instructions": "Be brief.",
                    "audio": {"format": {"type": "audio/pcm", "rate": 24000},
                              "output": {"voice": "marin"}},
                    "delegation": {"type": "responses", "responses": {
                        "model": "gpt-5.2", "tools": TOOLS}}})  # type: ignore[typeddict-item]
                assert await until("session.started") == ["session.started"]
                audio = spoken("What is the weather in Paris") + quiet(800)
                for i in range(0, len(audio), 4800):
                    await conn.session.input_audio.append(
                        audio=base64.b64encode(audio[i:i + 4800]).decode())
                await until("session.delegation.created")
                await until("response.event")
                call_id = None
                while call_id is None:
                    await until("response.event")
                    inner = json.loads(received[-1])["event"]
                    if inner["type"] == "response.output_item.done":
                        call_id = inner["item"]["call_id"]
                await conn.response.item.create(item={  # type: ignore[typeddict-item]
                    "type": "function_call_output", "call_id": call_id, "output": "sunny"})
                await conn.response.create()
                tail = quiet(3000)
                for i in range(0, len(tail), 4800):
                    await conn.session.input_audio.append(
                        audio=base64.b64encode(tail[i:i + 4800]).decode())
                assert "session.output_transcript.delta" in await until(
                    "session.output_transcript.delta")
                await conn.session.close(event_id="bye")
                await until("session.closed")
        finally:
            assert await rec.stop() == 0
    served = mock.connections[-1]
    session, events = stored(sqlite_url)
    client_frames = [e.data for e in events if e.direction == "client"]
    server_frames = [e.data for e in events if e.direction == "server"]
    assert client_frames == served.received  # type: ignore[attr-defined]
    assert server_frames == served.sent == received[:len(server_frames)]
    assert received == server_frames
    assert session.flavour == "live" and session.model == "gpt-live-1"
    assert session.path == "/v1/live/sessions"
    assert abs(session.input_audio_ms - (len(audio) + len(tail)) / 48) < 1
    assert KEY not in json.dumps(session.headers)
    listed = json.loads(cli(sqlite_url, "sessions", "--json"))
    assert listed[0]["id"] == session.id and listed[0]["flavour"] == "live"
    cli(sqlite_url, "export", "--all", "--out", str(tmp_path / "ds"))
    table = pq.read_table(tmp_path / "ds" / "sessions")
    assert table.column("flavour").to_pylist() == ["live"]
