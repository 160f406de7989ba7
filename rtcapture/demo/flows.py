"""The scripted client flows: a text turn, a spoken turn under server VAD, a function call
round trip, a barge-in with truncation, a cancel, an error, a dropped connection.

Each flow drives a :class:`Script` (a :class:`~rtcapture.demo.client.RealtimeClient` plus
what the client has seen so far) and decides only on the content of server events, never on
their timing, so that against the mock in fast mode the same flow gives the same frames.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..protocol import (
    ERROR,
    FUNCTION_ARGS_DONE,
    ITEM_TRUNCATED,
    PCM16,
    RESPONSE_CREATED,
    RESPONSE_DONE,
    SESSION_UPDATED,
    SPEECH_STARTED,
    AudioFormat,
    decode_audio_b64,
    names_for,
)
from . import events as E
from .client import Clock, Event, FlowError, RealtimeClient

CHUNK_MS = 100
"""Audio per ``input_audio_buffer.append``."""


@dataclass
class ResponseSeen:
    """What the client saw of one response."""

    id: str
    created_ms: float
    audio_item: str | None = None
    audio_ms: float = 0.0
    first_audio_ms: float | None = None
    done: Event | None = None

    @property
    def status(self) -> str | None:
        return None if self.done is None else self.done["response"].get("status")


@dataclass
class Script:
    """A client connection plus everything it has received, for the flows below."""

    client: RealtimeClient
    fmt: AudioFormat = PCM16
    events: list[Event] = field(default_factory=list)
    responses: dict[str, ResponseSeen] = field(default_factory=dict)
    errors_allowed: bool = False

    @property
    def clock(self) -> Clock:
        return self.client.clock

    def see(self, event: Event) -> Event:
        """Take note of a server event the client received."""
        self.events.append(event)
        kind = event.get("type")
        names = names_for(self.client.flavour)
        if kind == ERROR and not self.errors_allowed:
            err = event.get("error") or {}
            raise FlowError(f"the server answered with an error: {err.get('code')}: "
                            f"{err.get('message')}")
        if kind == RESPONSE_CREATED:
            rid = event["response"]["id"]
            self.responses[rid] = ResponseSeen(rid, self.clock.now_ms())
        elif kind == RESPONSE_DONE:
            seen = self.responses.get(event["response"]["id"])
            if seen is not None:
                seen.done = event
        elif kind == names.audio_delta:
            seen = self.responses.get(event.get("response_id", ""))
            audio = decode_audio_b64(event.get("delta"))
            if seen is not None and audio is not None:
                if seen.first_audio_ms is None:
                    seen.first_audio_ms = self.clock.now_ms()
                seen.audio_item = event.get("item_id")
                seen.audio_ms += self.fmt.ms_of(len(audio))
        return event

    async def send(self, event: Event) -> None:
        await self.client.send(event)

    async def next(self) -> Event:
        return self.see(await self.client.recv())

    def drain(self) -> list[Event]:
        """Server events that already arrived, without waiting."""
        return [self.see(e) for e in self.client.pending()]

    async def until(self, kind: str) -> Event:
        """Read up to the next event of type ``kind``."""
        while True:
            event = await self.next()
            if event.get("type") == kind:
                return event

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        """Read events until ``condition()`` holds (checked before each read)."""
        while not condition():
            await self.next()

    def seen(self, kind: str, since: int = 0) -> list[Event]:
        return [e for e in self.events[since:] if e.get("type") == kind]

    def created_after(self, mark: int) -> list[ResponseSeen]:
        """Responses created since ``self.events`` had ``mark`` entries, in order."""
        ids = [e["response"]["id"] for e in self.seen(RESPONSE_CREATED, mark)]
        return [self.responses[i] for i in ids]


# ---------------------------------------------------------------------------- flows


async def configure(s: Script, **options: Any) -> Event:
    """``session.update`` (see :func:`events.session_update`) and its ``session.updated``."""
    await s.send(E.session_update(s.client.flavour, fmt=s.fmt, **options))
    return await s.until(SESSION_UPDATED)


async def text_turn(s: Script, text: str, *, text_only: bool = True) -> ResponseSeen:
    """A typed message and ``response.create``; returns the finished response."""
    mark = len(s.events)
    await s.send(E.user_text(text))
    await s.send(E.response_create(s.client.flavour, text_only=text_only))
    await s.wait_for(lambda: any(r.done for r in s.created_after(mark)))
    return s.created_after(mark)[0]


async def speak(s: Script, text: str, *, lead_ms: float = 200, tail_ms: float = 400,
                on_event: Callable[[Event], Awaitable[None]] | None = None) -> None:
    """Stream the user saying ``text`` at real time (on the client's clock), looking at the
    server events that arrive between chunks (``on_event``)."""
    start = s.clock.now_ms()
    chunks = E.audio_chunks(E.spoken(text, s.fmt, lead_ms=lead_ms, tail_ms=tail_ms),
                            s.fmt, CHUNK_MS)
    for i, chunk in enumerate(chunks):
        while (event := await s.client.recv_before(start + i * CHUNK_MS)) is not None:
            s.see(event)
            if on_event is not None:
                await on_event(event)
        await s.send(chunk)
        for event in s.drain():
            if on_event is not None:
                await on_event(event)


async def voice_turn(s: Script, text: str) -> ResponseSeen:
    """The user speaks; server VAD commits the turn and answers it. Returns the response."""
    mark = len(s.events)
    await speak(s, text)
    await s.wait_for(lambda: any(r.done for r in s.created_after(mark)))
    return s.created_after(mark)[0]


def function_call_of(response: ResponseSeen) -> Event | None:
    """The ``function_call`` item of a finished response, if it has one."""
    assert response.done is not None
    return next((i for i in response.done["response"].get("output") or []
                 if i.get("type") == "function_call"), None)


async def function_call_round_trip(s: Script, response: ResponseSeen, output: Any, *,
                                   text_only: bool = False) -> ResponseSeen:
    """Answer the response's function call with ``output``; returns the follow-up response."""
    call = function_call_of(response)
    if call is None:
        raise FlowError("the response called no function")
    if not any(e.get("call_id") == call["call_id"] for e in s.seen(FUNCTION_ARGS_DONE)):
        raise FlowError("the function call's arguments never completed")
    mark = len(s.events)
    await s.send(E.function_output(call["call_id"], json.dumps(output)))
    await s.send(E.response_create(s.client.flavour, text_only=text_only))
    await s.wait_for(lambda: any(r.done for r in s.created_after(mark)))
    return s.created_after(mark)[0]


@dataclass
class BargeIn:
    """How a barge-in went."""

    interrupted: ResponseSeen
    reply: ResponseSeen
    heard_ms: int
    """Where the client truncated the interrupted reply: what the user had heard."""


async def barge_in(s: Script, request: str, interruption: str, *, after_ms: float
                   ) -> BargeIn:
    """The user asks for something long by voice, then talks over the reply after hearing
    ``after_ms`` of it; on ``speech_started`` the client stops playing and truncates the
    item at what was heard. Returns the interrupted response and the one that answers."""
    mark = len(s.events)
    await speak(s, request)
    await s.wait_for(lambda: bool(s.created_after(mark)))
    story = s.created_after(mark)[0]
    await s.wait_for(lambda: story.audio_ms >= after_ms or story.done is not None)
    if story.first_audio_ms is None or story.audio_item is None:
        raise FlowError("the reply to interrupt carried no audio")
    await s.clock.pause_until(story.first_audio_ms + after_ms)
    heard: list[int] = []
    speech_mark = len(s.events)

    async def stop_playback(event: Event) -> None:
        if event.get("type") == SPEECH_STARTED and not heard:
            played = s.clock.now_ms() - (story.first_audio_ms or 0.0)
            heard.append(int(min(story.audio_ms, played)))
            await s.send(E.truncate(story.audio_item or "", heard[0]))

    await speak(s, interruption, on_event=stop_playback)
    while not heard:
        await stop_playback(await s.next())

    def answered() -> bool:
        replies = [r for r in s.created_after(speech_mark) if r is not story]
        return (story.done is not None and bool(s.seen(ITEM_TRUNCATED, speech_mark))
                and any(r.done for r in replies))

    await s.wait_for(answered)
    reply = next(r for r in s.created_after(speech_mark) if r is not story and r.done)
    return BargeIn(story, reply, heard[0])


async def cancel_turn(s: Script, text: str) -> ResponseSeen:
    """Ask for a reply and cancel it as soon as ``response.created`` arrives."""
    mark = len(s.events)
    await s.send(E.user_text(text))
    await s.send(E.response_create(s.client.flavour))
    await s.wait_for(lambda: bool(s.created_after(mark)))
    response = s.created_after(mark)[0]
    await s.send(E.response_cancel())
    await s.wait_for(lambda: response.done is not None)
    if response.status != "cancelled":
        raise FlowError(f"the cancelled response ended {response.status}")
    return response


async def error_then_retry(s: Script, text: str) -> tuple[Event, ResponseSeen]:
    """A ``response.create`` refused with an ``error`` event, then the retry that works."""
    s.errors_allowed = True
    await s.send(E.user_text(text))
    await s.send(E.response_create(s.client.flavour))
    error = await s.until(ERROR)
    s.errors_allowed = False
    mark = len(s.events)
    await s.send(E.response_create(s.client.flavour))
    await s.wait_for(lambda: any(r.done for r in s.created_after(mark)))
    return error, s.created_after(mark)[0]


async def dropped_mid_reply(s: Script, text: str, *, after_ms: float) -> ResponseSeen:
    """Ask for a spoken reply; the connection drops after ``after_ms`` of its audio."""
    mark = len(s.events)
    await s.send(E.user_text(text))
    await s.send(E.response_create(s.client.flavour))
    await s.wait_for(lambda: bool(s.created_after(mark)))
    response = s.created_after(mark)[0]
    await s.wait_for(lambda: response.audio_ms >= after_ms)
    await s.client.abort()
    return response
