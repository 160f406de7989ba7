"""Recording GPT-Live paths: forwarded as is, stored byte-exact, dialect ``live``."""

from __future__ import annotations

import json

import pytest

from rtcapture.store import open_store
from tests.conftest import deadline
from tests.proxy.conftest import running_recorder
from tests.proxy.peers import Message, Upstream, UpstreamConn, raw_connect

KEY = "sk-test-canary-LIVE000000000001234"


def live_reply(conn: UpstreamConn, message: Message) -> None:
    """Answer like a tiny Live server: started, a wrapped Responses event, closed."""
    event = message.event or {}
    if event.get("type") == "session.start":
        conn.send(json.dumps({"type": "session.started", "event_id": "evt_s",
                              "client_event_id": event.get("event_id"),
                              "session": {"id": "live_u1_abc", "status": "active",
                                          **event["session"]}}))
        conn.send(json.dumps({"type": "response.event", "event_id": "evt_r",
                              "delegation_id": "del_1", "event": {
                                  "type": "response.output_item.done", "response_id": "resp_1",
                                  "item": {"id": "fc_1", "call_id": "call_1"}}}))
    elif event.get("type") == "session.input_audio.append":
        conn.send(json.dumps({"type": "session.output_audio.delta", "delta": event["audio"]}))
    elif event.get("type") == "session.close":
        conn.send(json.dumps({"type": "session.closed", "event_id": "evt_c",
                              "reason": "close_requested", "session": {"id": "live_u1_abc"},
                              "usage": {"seconds": 0.1}}))


@pytest.mark.parametrize("path", ["/v1/live/sessions", "/openai/v1/live/sessions"])
async def test_live_path_recorded_as_live(sqlite_url: str, path: str) -> None:
    up = await Upstream(reply=live_reply).start()
    try:
        async with running_recorder(sqlite_url, up.url) as rec:
            client = await raw_connect(rec.url, path, headers=[("Authorization",
                                                                f"Bearer {KEY}")])
            start = {"type": "session.start", "event_id": "E1", "session": {
                "model": "gpt-live-1",
                "audio": {"format": {"type": "audio/pcm", "rate": 24000}}}}
            for event in (start, {"type": "session.input_audio.append",
                                  "audio": "AAAAAAAA"}, {"type": "session.close"}):
                client.send(json.dumps(event))
            await client.wait_for(lambda: len(client.received) == 4, deadline(10))
            client.close()
            await up.connections[-1].wait_for(lambda: up.connections[-1].closed.done(),
                                              deadline(10))
        conn = up.connections[-1]
        assert conn.request is not None and conn.request.path == path
        assert "Sec-WebSocket-Protocol" not in conn.request.headers
        store = open_store(sqlite_url)
        sid = store.resolve("last")
        session = store.session(sid)
        events = list(store.events(sid))
        assert session.flavour == "live" and session.model == "gpt-live-1"
        assert [e.data for e in events if e.direction == "client"] == [
            m.data for m in conn.received]
        assert [e.data for e in events if e.direction == "server"] == [
            m.data for m in conn.sent]
        by_type = {e.type: e for e in events}
        wrapped = by_type["response.event"]
        assert (wrapped.item_id, wrapped.response_id, wrapped.call_id) == (
            "fc_1", "resp_1", "call_1")
        assert by_type["session.started"].event_id == "evt_s"
        assert session.input_audio_ms == session.output_audio_ms == 0.125
        assert KEY not in json.dumps(session.headers)
        store.close()
    finally:
        await up.stop()
