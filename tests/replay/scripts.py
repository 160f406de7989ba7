"""Scripted clients that drive the mock through typical flows and record them.

The recording goes through :class:`rtcapture.replay.recording.ReplayRecorder` (the same
writer a replay uses), so the stored session looks like a recorder's: raw frames both
ways, byte for byte, with timing; the client's JSON uses the Python SDK's separators.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from rtcapture.ids import new_id
from rtcapture.mock.synth import silence, synthesize
from rtcapture.protocol import Flavour, names_for
from rtcapture.replay.recording import ReplayRecorder
from rtcapture.store import SessionRecord, Store, utcnow
from tests.conftest import deadline

MODEL = "gpt-realtime"
WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "Weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                               "required": ["city"]}}


class ScriptClient:
    """A client session against a server, recorded into the store as it goes."""

    def __init__(self, ws: ClientConnection, recorder: ReplayRecorder, flavour: Flavour,
                 realtime_audio: bool = True) -> None:
        self.ws = ws
        self.realtime_audio = realtime_audio
        self.recorder = recorder
        self.flavour = flavour
        self.names = names_for(flavour)
        self.received: list[dict[str, Any]] = []
        self._cursor = 0
        self._arrived = asyncio.Condition()
        self._t0 = time.monotonic_ns()
        self._reader = asyncio.create_task(self._read())

    @property
    def ga(self) -> bool:
        return self.flavour is Flavour.GA

    def _t(self) -> int:
        return time.monotonic_ns() - self._t0

    async def _read(self) -> None:
        async for message in self.ws:
            assert isinstance(message, str)
            self.recorder.frame("server", self._t(), "text", message.encode())
            async with self._arrived:
                self.received.append(json.loads(message))
                self._arrived.notify_all()

    async def send(self, event: dict[str, Any]) -> None:
        data = json.dumps(event).encode()
        self.recorder.frame("client", self._t(), "text", data)
        await self.ws.send(data, text=True)

    async def wait_for(self, etype: str, **match: Any) -> dict[str, Any]:
        """The next server event of ``etype`` (after the last one returned)."""
        def found() -> int | None:
            for i in range(self._cursor, len(self.received)):
                ev = self.received[i]
                if ev.get("type") == etype and all(ev.get(k) == v for k, v in match.items()):
                    return i
            return None

        async with asyncio.timeout(deadline(10)), self._arrived:
            await self._arrived.wait_for(lambda: found() is not None or self._reader.done())
            index = found()
            assert index is not None, f"no {etype}; got {[e['type'] for e in self.received]}"
            self._cursor = index + 1
            return self.received[index]

    def session(self, **fields: Any) -> dict[str, Any]:
        """A ``session.update`` in this dialect."""
        text_only = fields.pop("text_only", False)
        vad = fields.pop("vad", False)
        session: dict[str, Any] = dict(fields)
        if self.ga:
            session["type"] = "realtime"
            if text_only:
                session["output_modalities"] = ["text"]
            session["audio"] = {"input": {"turn_detection": {"type": "server_vad"} if vad
                                          else None}}
        else:
            if text_only:
                session["modalities"] = ["text"]
            session["turn_detection"] = {"type": "server_vad"} if vad else None
        return {"type": "session.update", "session": session}

    def user_text(self, text: str, **extra: Any) -> dict[str, Any]:
        item = {"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": text}], **extra}
        return {"type": "conversation.item.create", "item": item}

    async def stream_audio(self, samples: Any, chunk_ms: int = 20) -> None:
        """Send int16 samples as 20 ms appends, paced like a microphone (or at once)."""
        step = 24 * chunk_ms
        for i in range(0, len(samples), step):
            chunk = samples[i:i + step].tobytes()
            await self.send({"type": "input_audio_buffer.append",
                             "audio": base64.b64encode(chunk).decode()})
            if self.realtime_audio:
                await asyncio.sleep(chunk_ms / 1000)  # a microphone's pace

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


async def record_flow(store: Store, url: str, flow: Callable[[ScriptClient], Awaitable[None]],
                      flavour: Flavour = Flavour.GA, label: str | None = None,
                      realtime_audio: bool = True) -> str:
    """Run ``flow`` against the server at ``url`` and store it as a session; returns its id."""
    path = f"/v1/realtime?model={MODEL}"
    headers = [("OpenAI-Beta", "realtime=v1")] if flavour is Flavour.BETA else []
    record = SessionRecord(id=new_id(), started=utcnow(), upstream_url=url, path=path,
                           model=MODEL, flavour=str(flavour), headers=headers, label=label)
    recorder = ReplayRecorder(store, record, flavour)
    recorder.start()
    ws = await connect(url + path, additional_headers=headers, max_size=None,
                       compression=None)
    client = ScriptClient(ws, recorder, flavour, realtime_audio)
    try:
        await client.wait_for("session.created")
        await flow(client)
    finally:
        await client.close()
        await asyncio.to_thread(recorder.finish, close_code=ws.close_code, closed_by="client")
    return record.id


# --------------------------------------------------------------------------- flows


async def text_turn(c: ScriptClient) -> None:
    """One typed message, a text-only reply."""
    await c.send(c.session(instructions="Be brief.", text_only=True))
    await c.wait_for("session.updated")
    await c.send(c.user_text("Hello there, mock."))
    await c.wait_for(c.names.item_created)
    await c.send({"type": "response.create"})
    await c.wait_for("response.done")


async def vad_audio_turn(c: ScriptClient) -> None:
    """Server VAD: a spoken turn, an audio reply."""
    await c.send(c.session(vad=True))
    await c.wait_for("session.updated")
    speech = synthesize("Hello, what can you do?").samples
    await c.stream_audio(speech)
    await c.stream_audio(silence(700))
    await c.wait_for("input_audio_buffer.speech_stopped")
    await c.wait_for("response.done")


async def function_call(c: ScriptClient) -> None:
    """A tool call and its output, then the model's answer."""
    await c.send(c.session(tools=[WEATHER_TOOL], text_only=True))
    await c.wait_for("session.updated")
    await c.send(c.user_text("Use get_weather for the weather in Paris."))
    await c.wait_for(c.names.item_created)
    await c.send({"type": "response.create"})
    done = await c.wait_for("response.function_call_arguments.done")
    await c.wait_for("response.done")
    await c.send({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": done["call_id"],
        "output": json.dumps({"temperature_c": 21})}})
    await c.wait_for(c.names.item_created)
    await c.send({"type": "response.create"})
    await c.wait_for("response.done")


async def barge_in(c: ScriptClient) -> None:
    """An audio reply the user talks over: truncate what was heard."""
    await c.send(c.session(vad=True))
    await c.wait_for("session.updated")
    await c.stream_audio(synthesize("Tell me a long story please.").samples)
    await c.stream_audio(silence(600))
    added = await c.wait_for("response.output_item.added")
    await c.wait_for(c.names.audio_delta)
    await c.stream_audio(synthesize("Stop, wait.").samples)
    await c.wait_for("input_audio_buffer.speech_started")
    await c.send({"type": "conversation.item.truncate", "item_id": added["item"]["id"],
                  "content_index": 0, "audio_end_ms": 200})
    await c.wait_for("conversation.item.truncated")
    await c.stream_audio(silence(600))
    await c.wait_for("response.created")
    await c.wait_for("response.done")


async def cancel(c: ScriptClient) -> None:
    """A response cancelled right after it started."""
    await c.send(c.session(text_only=False))
    await c.wait_for("session.updated")
    await c.send(c.user_text("Please say something long."))
    await c.send({"type": "response.create"})
    created = await c.wait_for("response.created")
    await c.send({"type": "response.cancel", "response_id": created["response"]["id"]})
    done = await c.wait_for("response.done")
    assert done["response"]["status"] == "cancelled", done["response"]["status"]


async def id_references(c: ScriptClient) -> None:
    """Truncate, delete, retrieve, a function call round trip and an item_reference."""
    await c.send(c.session(tools=[WEATHER_TOOL]))
    await c.wait_for("session.updated")
    await c.send(c.user_text("Say hello."))
    first = await c.wait_for(c.names.item_created)
    await c.send({"type": "response.create"})
    added = await c.wait_for("response.output_item.added")
    await c.wait_for("response.done")
    await c.send({"type": "conversation.item.truncate", "item_id": added["item"]["id"],
                  "content_index": 0, "audio_end_ms": 100})
    await c.wait_for("conversation.item.truncated")
    await c.send(c.user_text("Use get_weather for the weather in Oslo."))
    await c.wait_for(c.names.item_created)
    await c.send({"type": "response.create"})
    args = await c.wait_for("response.function_call_arguments.done")
    await c.wait_for("response.done")
    await c.send({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": args["call_id"], "output": "sunny"}})
    output = await c.wait_for(c.names.item_created)
    await c.send({"type": "response.create"})
    await c.wait_for("response.done")
    await c.send({"type": "conversation.item.retrieve", "item_id": first["item"]["id"]})
    await c.wait_for("conversation.item.retrieved")
    await c.send({"type": "response.create", "response": {
        "conversation": "none", "input": [{"type": "item_reference",
                                           "id": first["item"]["id"]}]}})
    await c.wait_for("response.done")
    await c.send({"type": "conversation.item.delete", "item_id": output["item"]["id"]})
    await c.wait_for("conversation.item.deleted")


async def weather_answer(c: ScriptClient) -> None:
    """A tool call, its output, and a spoken answer (for the changed-scenario test)."""
    await c.send(c.session(tools=[WEATHER_TOOL]))
    await c.wait_for("session.updated")
    await c.send(c.user_text("Use get_weather for the weather in Oslo."))
    await c.wait_for(c.names.item_created)
    await c.send({"type": "response.create"})
    args = await c.wait_for("response.function_call_arguments.done")
    await c.wait_for("response.done")
    await c.send({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": args["call_id"], "output": "sunny"}})
    await c.wait_for(c.names.item_created)
    await c.send({"type": "response.create"})
    await c.wait_for("response.done")


FLOWS: dict[str, Callable[[ScriptClient], Awaitable[None]]] = {
    "text": text_turn, "vad_audio": vad_audio_turn, "function_call": function_call,
    "barge_in": barge_in, "cancel": cancel, "id_references": id_references,
}
