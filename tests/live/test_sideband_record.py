"""A Live sideband through ``rtcapture record`` (the CLI) in front of the mock: the real
SDK's sideband client attaches to a session the recorder is also relaying; the attach
connection is recorded as its own ``live`` session, every frame byte-exact both ways."""

from __future__ import annotations

import asyncio
import json

from openai import AsyncOpenAI

from rtcapture.mock import parse_scenario, serve_mock
from rtcapture.store import open_store
from tests.conftest import deadline
from tests.proxy.procs import start_recorder

from .helpers import SIDEBAND_MODELS, LiveClient, check_against_sdk, quiet, spoken, start

KEY = "sk-test-canary-LIVESIDE0000001234"


async def test_sdk_sideband_recorded_as_its_own_live_session(sqlite_url: str) -> None:
    scenario = parse_scenario({"user_audio": [{"transcript": "Hello there."}]})
    async with serve_mock(fast=True, scenario=scenario) as mock:
        mock.keep_connections = True
        rec = await start_recorder(sqlite_url, mock.url)
        try:
            primary = await LiveClient.open_live(rec.url)
            sid = (await primary.answer(start()))[0]["session"]["id"]
            client = AsyncOpenAI(api_key=KEY, websocket_base_url=f"{rec.url}/v1")
            received: list[bytes] = []
            async with client.live.sideband.connect(session_id=sid,
                                                    graceful_close=True) as side:
                async def until(kind: str) -> None:
                    async with asyncio.timeout(deadline(20)):
                        while True:
                            raw = await side.recv_bytes()
                            received.append(raw)
                            if json.loads(raw)["type"] == kind:
                                return
                await until("session.started")
                await primary.answer(spoken("Hello there") + quiet(2500))
                await side.session.input_audio.mute(event_id="sbm")
                await until("session.input_audio.muted")
                await primary.answer({"type": "session.close"}, last="session.closed")
                await until("session.closed")
        finally:
            assert await rec.stop() == 0
    served = mock.connections[-1]
    sideband = served.sidebands.ever[0]  # type: ignore[attr-defined]
    store = open_store(sqlite_url)
    try:
        by_path = {s.path: s for s in store.sessions()}
        attach = by_path[f"/v1/live/sessions/{sid}/attach?graceful_close=true"]
        events = list(store.events(attach.id))
    finally:
        store.close()
    assert attach.flavour == "live" and attach.model == "gpt-live-1"
    client_frames = [e.data for e in events if e.direction == "client"]
    server_frames = [e.data for e in events if e.direction == "server"]
    assert client_frames == sideband.received and len(client_frames) == 1
    assert server_frames == sideband.sent == received
    kinds = [json.loads(f)["type"] for f in received]
    assert kinds[0] == "session.started" and kinds[-1] == "session.closed"
    assert {"session.input_audio.append", "session.output_audio.delta",
            "session.input_transcript.delta"} <= set(kinds)
    for frame in received:
        check_against_sdk(json.loads(frame), SIDEBAND_MODELS)
    assert "/v1/live/sessions" in by_path  # the primary is a session of its own
    assert KEY not in json.dumps(attach.headers)
