"""The real openai SDK through the recorder: sessions complete, every frame stored exactly."""

from __future__ import annotations

import time

import pytest
from openai import AsyncOpenAI

from rtcapture.store import open_store
from tests.conftest import deadline

from .conftest import running_recorder
from .peers import Upstream

KEY = "sk-test-canary-SDK0000000000001234"
USER_ITEM = {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "Hello from the SDK"}]}


def assert_recorded_exactly(db_url: str, upstream: Upstream, t_before_ns: int) -> str:
    """The newest session holds exactly the frames the upstream saw, both ways, in order."""
    store = open_store(db_url)
    sid = store.resolve("last")
    events = list(store.events(sid))
    conn = upstream.connections[-1]
    assert [e.seq for e in events] == list(range(len(events)))
    client = [e for e in events if e.direction == "client"]
    server = [e for e in events if e.direction == "server"]
    assert [(m.opcode, m.data) for m in conn.received] == [(e.opcode, e.data) for e in client]
    assert [(m.opcode, m.data) for m in conn.sent] == [(e.opcode, e.data) for e in server]
    assert all(a.t_ns <= b.t_ns for a, b in zip(events, events[1:], strict=False))
    assert all(t_before_ns <= e.wall_ns <= time.time_ns() for e in events)
    added = [e for e in server if e.type in ("conversation.item.added",
                                             "conversation.item.created")]
    assert added and all(e.item_id and e.item_id.startswith("item_") for e in added)
    assert all(e.event_id for e in server)
    rec = store.session(sid)
    assert rec.status == "closed" and rec.closed_by == "client" and rec.close_code == 1000
    assert rec.client_events == len(client) and rec.server_events == len(server)
    store.close()
    return sid


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_sdk_session_recorded_byte_exact(sqlite_url, upstream, dialect) -> None:
    """GA and beta SDK clients complete a session; the DB holds every frame byte-identical."""
    t0 = time.time_ns()
    async with running_recorder(sqlite_url, upstream.url) as rec:
        client = AsyncOpenAI(api_key=KEY, websocket_base_url=f"{rec.url}/v1")
        if dialect == "ga":
            manager = client.realtime.connect(model="gpt-realtime")
            session = {"type": "realtime", "output_modalities": ["text"]}
            last = "conversation.item.done"
        else:
            manager = client.beta.realtime.connect(model="gpt-4o-realtime-preview")
            session = {"modalities": ["text"], "instructions": "Be brief."}
            last = "conversation.item.created"
        seen = []
        async with manager as conn:
            await conn.session.update(session=session)  # type: ignore[arg-type]
            await conn.conversation.item.create(item=USER_ITEM)  # type: ignore[arg-type]
            async with __import__("asyncio").timeout(deadline(10)):
                async for event in conn:
                    seen.append(event.type)
                    if event.type == last:
                        break
    assert seen[:2] == ["session.created", "session.updated"] and seen[-1] == last
    sid = assert_recorded_exactly(sqlite_url, upstream, t0)
    store = open_store(sqlite_url)
    assert store.session(sid).flavour == dialect
    store.close()
