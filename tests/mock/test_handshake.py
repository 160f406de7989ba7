"""Handshake: any path and query, the ``realtime`` subprotocol, dialect choice, no key logged."""

from __future__ import annotations

import logging

from websockets.asyncio.client import connect

from rtcapture.mock import serve_mock

from .helpers import RawClient, text_session, user_text

CANARY = "sk-test-canary-mock-9f8e7d"
AZURE_KEY = "azure0key0canary0value"


async def test_browser_style_subprotocols_pick_realtime_and_beta() -> None:
    """Offered subprotocols get ``realtime``; the beta entry selects the beta dialect."""
    async with serve_mock(fast=True) as mock, connect(
            mock.url + "/v1/realtime?model=gpt-4o-realtime-preview",
            subprotocols=["realtime", f"openai-insecure-api-key.{CANARY}",
                          "openai-beta.realtime-v1"]) as ws:
        assert ws.subprotocol == "realtime"
        client = RawClient(ws)
        first = await client.next()
        assert first["type"] == "session.created"
        assert first["session"]["modalities"] == ["audio", "text"]  # beta shape
        assert (await client.next())["type"] == "conversation.created"


async def test_any_path_and_query_model_from_url() -> None:
    """Azure-style paths work; the deployment or model in the query names the model."""
    async with serve_mock(fast=True) as mock:
        azure = await RawClient.open(
            mock.url, path="/openai/realtime?api-version=2025-04-01-preview&deployment=my-dep")
        assert (await azure.next())["session"]["model"] == "my-dep"
        other = await RawClient.open(mock.url, path="/anything/realtime")
        created = (await other.next())["session"]
        assert created["model"] == "gpt-realtime" and created["type"] == "realtime"


async def test_beta_shaped_first_update_switches_an_unmarked_connection() -> None:
    """No beta header, but a beta-shaped first session.update: the mock answers in beta."""
    async with serve_mock(fast=True) as mock:
        client = await RawClient.open(mock.url)
        assert "type" in (await client.next())["session"]  # GA by default
        await client.send(text_session(beta=True))
        updated = (await client.until("session.updated"))[-1]["session"]
        assert updated["modalities"] == ["text"] and "type" not in updated
        await client.send(user_text("hi"))
        assert (await client.next())["type"] == "conversation.item.created"


async def test_keys_never_reach_the_logs(caplog) -> None:
    """With every logger at DEBUG, the mock logs neither the bearer key nor an api-key."""
    caplog.set_level(logging.DEBUG)
    async with serve_mock(fast=True) as mock:
        client = await RawClient.open(mock.url, additional_headers={
            "Authorization": f"Bearer {CANARY}", "api-key": AZURE_KEY})
        await client.until("session.created")
        await client.send("not json")
        await client.until("error")
        await client.close()
    # the test's own websockets client logs its request at DEBUG; only the mock's side counts
    mine = [r.getMessage() for r in caplog.records if r.name.startswith("rtcapture")]
    assert mine, "the mock logged nothing: the check would prove nothing"
    assert not any(CANARY in m or AZURE_KEY in m for m in mine)
