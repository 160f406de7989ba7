"""A Live conversation recorded through the real recorder in front of the mock."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from rtcapture.mock import parse_scenario, serve_mock
from rtcapture.protocol import PCM16
from rtcapture.store import open_store
from tests.proxy.conftest import running_recorder

from .helpers import LiveClient, quiet, spoken, start

TURNS = ("What time is it", "Thank you")
SCENARIO = {"user_audio": [{"transcript": "What time is it?"}, {"transcript": "Thank you."}],
            "rules": [{"turn": 1, "reply": "It is noon."},
                      {"turn": 2, "reply": "You are welcome."}]}


@dataclass
class Recorded:
    session_id: str
    input_bytes: int
    output_bytes: int
    events: list[dict[str, Any]]


async def record_conversation(db_url: str, session: dict[str, Any] | None = None
                              ) -> Recorded:
    """Two user turns and the mock's spoken replies, stored in ``db_url``."""
    async with serve_mock(fast=True, scenario=parse_scenario(SCENARIO)) as mock, \
            running_recorder(db_url, mock.url) as rec:
        client = await LiveClient.open_live(rec.url)
        await client.answer(start(session))
        sent = 0
        for text in TURNS:
            audio = spoken(text) + quiet(2500)
            sent += len(audio)
            await client.answer(audio)
        await client.answer({"type": "session.close"}, last="session.closed")
        await client.ws.wait_closed()
    store = open_store(db_url)
    sid = store.resolve("last")
    store.close()
    out = sum(len(base64.b64decode(e["delta"])) for e in client.events
              if e["type"] == "session.output_audio.delta")
    assert sent % PCM16.bytes_per_sample == 0
    return Recorded(sid, sent, out, client.events)


async def record_realtime_conversation(db_url: str) -> str:
    """The same conversation on the Realtime API (GA, server VAD, transcription)."""
    from tests.mock.helpers import RawClient, appends

    async with serve_mock(fast=True, scenario=parse_scenario(SCENARIO)) as mock, \
            running_recorder(db_url, mock.url) as rec:
        client = await RawClient.open(rec.url)
        await client.until("session.created")
        await client.send({"type": "session.update", "session": {
            "type": "realtime", "output_modalities": ["audio"],
            "audio": {"input": {"turn_detection": {"type": "server_vad"},
                                "transcription": {"model": "gpt-4o-transcribe"}}}}})
        await client.until("session.updated")
        for text in TURNS:
            for append in appends(spoken(text) + quiet(2500)):
                await client.send(append)
            await client.until("response.done")
        await client.close()
    store = open_store(db_url)
    sid = store.resolve("last")
    store.close()
    return sid
