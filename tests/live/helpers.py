"""A raw Live client for the mock, and the SDK's types for every Live server event."""

from __future__ import annotations

import typing
from typing import Any

from openai.types.live import ConnectServerEvent, ServerEvent
from pydantic import BaseModel

from rtcapture.protocol import PCM16, AudioFormat
from tests.mock.helpers import RawClient, b64, spoken

Event = dict[str, Any]
LIVE_PATH = "/v1/live/sessions"
SYNC = {"type": "session.input_audio.mute", "event_id": "sync", "probe": True}
"""Refused (unknown field) with ``client_event_id`` "sync": marks where an answer ends."""
SIDEBAND_ONLY = {"session.input_audio.append", "transport.dtmf.received", "transport.dtmf.send",
                 "transport.dtmf.sent", "transport.ringing", "transport.answered",
                 "transport.failed"}
"""Server events the SDK documents as delivered only to sideband observers (SIP calls)."""


def server_models(union_type: Any = ServerEvent) -> dict[str, type[BaseModel]]:
    """``type`` -> SDK model of every member of a server-event union (by default
    ``openai.types.live.ServerEvent``, the primary WebSocket's)."""
    union = typing.get_args(union_type)[0]
    out = {}
    for model in typing.get_args(union):
        literal = model.model_fields["type"].annotation
        out[typing.get_args(literal)[0]] = model
    return out


MODELS = server_models()
SIDEBAND_MODELS = server_models(ConnectServerEvent)
"""What a sideband (``attach``) connection receives: ``ConnectServerEvent``."""


def check_against_sdk(event: Event, models: dict[str, type[BaseModel]] = MODELS) -> None:
    """The event validates against its SDK type and carries no field the type lacks."""
    model = models[event["type"]]
    model.model_validate(event)
    extra = set(event) - set(model.model_fields)
    assert not extra, (event["type"], extra)


def start(session: dict[str, Any] | None = None, event_id: str = "start") -> Event:
    return {"type": "session.start", "event_id": event_id,
            "session": {"model": "gpt-live-1", **(session or {})}}


def live_appends(data: bytes, fmt: AudioFormat = PCM16, chunk_ms: int = 100) -> list[Event]:
    step = int(chunk_ms * fmt.bytes_per_ms)
    return [{"type": "session.input_audio.append", "audio": b64(data[i:i + step])}
            for i in range(0, len(data), step)]


def quiet(ms: float, fmt: AudioFormat = PCM16) -> bytes:
    return bytes(int(ms * fmt.bytes_per_ms))


def stored(db_url: str) -> tuple[Any, list[Any]]:
    """The newest stored session and its events."""
    from rtcapture.store import open_store

    store = open_store(db_url)
    try:
        sid = store.resolve("last")
        return store.session(sid), list(store.events(sid))
    finally:
        store.close()


class LiveClient(RawClient):
    """RawClient on the Live path; ``answer`` sends events and returns what they caused."""

    models: dict[str, type[BaseModel]] = MODELS

    @classmethod
    async def open_live(cls, url: str, path: str = LIVE_PATH) -> LiveClient:
        client = await RawClient.open(url, path=path)
        return cls(client.ws)

    @classmethod
    async def attach(cls, url: str, session_id: str, query: str = "") -> LiveClient:
        """A sideband on ``session_id`` (its events checked against the sideband union)."""
        client = await cls.open_live(url, f"{LIVE_PATH}/{session_id}/attach{query}")
        client.models = SIDEBAND_MODELS
        return client

    async def answer(self, *events: Event | bytes, timeout: float = 20.0,
                     last: str | None = None) -> list[Event]:
        """Send ``events`` (bytes: as 100 ms appends); the events they caused, up to the
        probe's error or, with ``last``, up to and including that type (no probe)."""
        for event in events:
            if isinstance(event, bytes):
                for append in live_appends(event):
                    await self.send(append)
            else:
                await self.send(event)
        if last is None:
            await self.send(SYNC)
        got = await self.until(lambda e: e["type"] == last if last else (
            e["type"] == "error" and e["error"].get("client_event_id") == "sync"), timeout)
        for event in got:
            check_against_sdk(event, self.models)
        return got if last else got[:-1]


__all__ = ["LiveClient", "spoken"]
