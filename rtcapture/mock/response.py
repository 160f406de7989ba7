"""One response: its event sequence (sections 8.1-8.3, 8.6-8.7), paced and cancellable.

``begin()`` sends ``response.created``; ``body()`` streams the rest. The connection runs
the body inline in fast mode (nothing interleaves, so frames are deterministic) or as a
task when paced, so that ``response.cancel`` and barge-in can cut it short; cut-short
responses still close their open parts and items (status ``incomplete``).
"""

from __future__ import annotations

import asyncio
import base64
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..codec import encode_samples
from ..protocol import (
    CONTENT_PART_ADDED,
    CONTENT_PART_DONE,
    FUNCTION_ARGS_DELTA,
    FUNCTION_ARGS_DONE,
    OUTPUT_ITEM_ADDED,
    OUTPUT_ITEM_DONE,
    RATE_LIMITS_UPDATED,
    RESPONSE_CREATED,
    RESPONSE_DONE,
    AudioFormat,
    Flavour,
    names_for,
)
from .director import Decision
from .ids import IdFactory
from .state import Conversation
from .synth import Speech, synthesize
from .usage import Usage

Emit = Callable[[dict[str, Any]], Awaitable[None]]
_TOKEN_RE = re.compile(r"\s*\S+\s*|\s+")


@dataclass
class ResponseConfig:
    """The effective settings of one response (session merged with overrides)."""

    modalities: list[str]
    voice: str
    output_format: AudioFormat
    speed: float
    max_output_tokens: int | str
    instructions: str
    temperature: float | None
    metadata: dict[str, Any] | None
    in_conversation: bool
    conversation_id: str | None
    seed: int
    input_tokens: dict[str, int] = field(default_factory=dict)


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def fit_reply(text: str, limit: int | str, audio: bool) -> tuple[str, bool]:
    """Cut a reply to ``max_output_tokens`` (estimated); returns (text, was_cut)."""
    if limit == "inf" or not isinstance(limit, int):
        return text, False
    per_char = (1 / 4 + 70 / 50) if audio else 1 / 4
    budget = int(limit / per_char)
    if len(text) <= budget:
        return text, False
    cut = text[:budget]
    space = cut.rfind(" ")
    return (cut[:space] if space > 0 else cut), True


class ResponseRun:
    """A response being generated."""

    def __init__(self, *, response_id: str, flavour: Flavour, decision: Decision,
                 config: ResponseConfig, conversation: Conversation, ids: IdFactory,
                 emit: Emit, usage: Usage, on_audio: Callable[[], None],
                 on_finished: Callable[[ResponseRun], None]) -> None:
        self.id = response_id
        self.flavour = flavour
        self.names = names_for(flavour)
        self.decision = decision
        self.config = config
        self.conversation = conversation
        self.ids = ids
        self._emit = emit
        self.usage = usage
        self._on_audio = on_audio
        self._on_finished = on_finished
        self.output: list[dict[str, Any]] = []
        self.status = "in_progress"
        self.status_details: dict[str, Any] | None = None
        self.cancel_reason: str | None = None
        self._wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()
        self._out_text = 0
        self._out_audio_ms = 0.0
        self._speech: Speech | None = None

    @property
    def ga(self) -> bool:
        return self.flavour is Flavour.GA

    @property
    def paced(self) -> bool:
        return self.decision.pacing.speed is not None

    # ------------------------------------------------------------------ objects

    def response_object(self, usage: dict[str, Any] | None = None) -> dict[str, Any]:
        c = self.config
        obj: dict[str, Any] = {"object": "realtime.response", "id": self.id,
                               "status": self.status, "status_details": self.status_details,
                               "output": [self.conversation.render(i) for i in self.output],
                               "conversation_id": c.conversation_id}
        if self.ga:
            obj["output_modalities"] = list(c.modalities)
            obj["audio"] = {"output": {"format": c.output_format.ga_object(), "voice": c.voice}}
        else:
            obj["modalities"] = list(c.modalities)
            obj["voice"] = c.voice
            obj["output_audio_format"] = c.output_format.beta_name
            obj["temperature"] = c.temperature
        obj["max_output_tokens"] = c.max_output_tokens
        obj["usage"] = usage
        obj["metadata"] = c.metadata
        return obj

    def _item(self, **fields: Any) -> dict[str, Any]:
        item: dict[str, Any] = {"id": self.ids.item()}
        if not self.ga:
            item["object"] = "realtime.item"
        item.update(fields)
        return item

    # ------------------------------------------------------------------ running

    async def emit(self, event: dict[str, Any]) -> None:
        await self._emit(event)

    async def begin(self) -> None:
        """Send ``response.created``."""
        await self.emit({"type": RESPONSE_CREATED, "response": self.response_object()})

    async def pause(self, seconds: float) -> None:
        """Wait (paced mode only); returns early when the response is cancelled."""
        if not self.paced or seconds <= 0 or self.cancel_reason is not None:
            return
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass

    def _scaled(self, ms: float) -> float:
        speed = self.decision.pacing.speed or 1.0
        return ms / 1000.0 / speed

    async def cancel(self, reason: str) -> None:
        """Stop generating; returns once ``response.done`` (cancelled) went out."""
        if self.finished.is_set():
            return
        if self.cancel_reason is None:
            self.cancel_reason = reason
        self._wake.set()
        await self.finished.wait()

    async def body(self) -> None:
        """Everything after ``response.created``, up to and including ``response.done``."""
        try:
            await self._body()
        finally:
            self._on_finished(self)
            self.finished.set()

    async def _body(self) -> None:
        d = self.decision
        await self.emit({"type": RATE_LIMITS_UPDATED,
                         "rate_limits": self.usage.rate_limits(self.ga)})
        if d.fail is not None:
            self.status = "failed"
            self.status_details = {"type": "failed", "error": {
                "type": d.fail["type"], "code": d.fail["code"], "message": d.fail["message"]}}
            await self._done()
            return
        truncated = False
        audio = "audio" in self.config.modalities
        text = None
        started = asyncio.get_running_loop().time()
        if d.reply is not None:
            text, truncated = fit_reply(d.reply, self.config.max_output_tokens, audio)
            if audio:  # synthesised before the wait: latency_ms is the time to first audio
                self._speech = self._synthesize(text)
        await self.pause(d.pacing.latency_ms / 1000.0
                         - (asyncio.get_running_loop().time() - started))
        if text is not None and self.cancel_reason is None:
            await self._message(text, audio)
        if d.tool_call is not None and self.cancel_reason is None and not truncated:
            await self._function_call(d.tool_call.name, d.tool_call.arguments)
        if self.cancel_reason is not None:
            self.status = "cancelled"
            self.status_details = {"type": "cancelled", "reason": self.cancel_reason}
        elif truncated:
            self.status = "incomplete"
            self.status_details = {"type": "incomplete", "reason": "max_output_tokens"}
        else:
            self.status = "completed"
        await self._done()

    async def _done(self) -> None:
        usage = self.usage.for_response(self.config.input_tokens, self._out_text,
                                        self._out_audio_ms, self.ga)
        await self.emit({"type": RESPONSE_DONE, "response": self.response_object(usage)})

    async def _open_item(self, item: dict[str, Any]) -> int:
        index = len(self.output)
        self.output.append(item)
        await self.emit({"type": OUTPUT_ITEM_ADDED, "response_id": self.id,
                         "output_index": index, "item": self.conversation.render(item)})
        if self.config.in_conversation:
            previous = self.conversation.insert(item)
            await self.emit({"type": self.names.item_created, "previous_item_id": previous,
                             "item": self.conversation.render(item)})
        return index

    async def _close_item(self, item: dict[str, Any], index: int) -> None:
        item["status"] = "incomplete" if self.cancel_reason is not None else "completed"
        await self.emit({"type": OUTPUT_ITEM_DONE, "response_id": self.id,
                         "output_index": index, "item": self.conversation.render(item)})
        if self.config.in_conversation and self.names.item_done is not None:
            await self.emit({"type": self.names.item_done,
                             "previous_item_id": self.conversation.previous_id(item["id"]),
                             "item": self.conversation.render(item)})

    async def _message(self, text: str, audio: bool) -> None:
        item = self._item(type="message", status="in_progress", role="assistant", content=[])
        index = await self._open_item(item)
        base = {"response_id": self.id, "item_id": item["id"], "output_index": index,
                "content_index": 0}
        part_kind = "audio" if audio else "text"
        field_name = "transcript" if audio else "text"
        await self.emit({"type": CONTENT_PART_ADDED, **base,
                         "part": {"type": part_kind, field_name: ""}})
        tokens = [m.group(0) for m in _TOKEN_RE.finditer(text)]
        if audio:
            sent = await self._stream_audio(text, tokens, base, item)
        else:
            sent = await self._stream_text(tokens, base)
        stored_type = self.names.output_audio_part if audio else self.names.output_text_part
        item["content"] = [{"type": stored_type, field_name: sent}]
        self._out_text += _tokens(sent)
        if audio:
            await self.emit({"type": self.names.audio_done, **base})
            await self.emit({"type": self.names.transcript_done, **base, "transcript": sent})
        else:
            await self.emit({"type": self.names.text_done, **base, "text": sent})
        await self.emit({"type": CONTENT_PART_DONE, **base,
                         "part": {"type": part_kind, field_name: sent}})
        await self._close_item(item, index)

    async def _stream_text(self, tokens: list[str], base: dict[str, Any]) -> str:
        sent = ""
        for token in tokens:
            if self.cancel_reason is not None:
                break
            await self.emit({"type": self.names.text_delta, **base, "delta": token})
            sent += token
            await self.pause(len(token) / self.decision.pacing.text_rate /
                             (self.decision.pacing.speed or 1.0))
        return sent

    def _synthesize(self, text: str) -> Speech:
        c = self.config
        return synthesize(text, c.output_format.rate, voice=c.voice, speed=c.speed, seed=c.seed)

    async def _stream_audio(self, text: str, tokens: list[str], base: dict[str, Any],
                            item: dict[str, Any]) -> str:
        fmt = self.config.output_format
        speech = self._speech if self._speech is not None else self._synthesize(text)
        data = encode_samples(speech.samples, fmt)
        chunk_ms = self.decision.pacing.audio_chunk_ms
        chunk = max(fmt.bytes_per_sample, int(chunk_ms * fmt.bytes_per_ms))
        chunk -= chunk % fmt.bytes_per_sample
        # transcript token i goes out just before the audio chunk where its word starts
        starts = [w.start_ms for w in speech.words]
        word_of_token: list[int] = []
        w = 0
        for token in tokens:
            word_of_token.append(min(w, len(starts) - 1) if starts else 0)
            if token.strip():
                w += 1
        self.conversation.set_audio(item["id"], 0, b"", fmt)
        sent, next_token = "", 0
        for offset in range(0, max(len(data), 1), chunk):
            if self.cancel_reason is not None:
                break
            end_ms = (offset + chunk) / fmt.bytes_per_ms
            while next_token < len(tokens) and (not starts or
                                                 starts[word_of_token[next_token]] < end_ms):
                delta = tokens[next_token]
                await self.emit({"type": self.names.transcript_delta, **base, "delta": delta})
                sent += delta
                next_token += 1
            piece = data[offset:offset + chunk]
            if piece:
                await self.emit({"type": self.names.audio_delta, **base,
                                 "delta": base64.b64encode(piece).decode("ascii")})
                self.conversation.add_audio(item["id"], 0, piece, fmt)
                self._out_audio_ms += fmt.ms_of(len(piece))
                self._on_audio()
                await self.pause(self._scaled(fmt.ms_of(len(piece))))
        if self.cancel_reason is None:
            for delta in tokens[next_token:]:
                await self.emit({"type": self.names.transcript_delta, **base, "delta": delta})
                sent += delta
        return sent

    async def _function_call(self, name: str, arguments: str) -> None:
        call_id = self.ids.call()
        item = self._item(type="function_call", status="in_progress", name=name,
                          call_id=call_id, arguments="")
        index = await self._open_item(item)
        base = {"response_id": self.id, "item_id": item["id"], "output_index": index,
                "call_id": call_id}
        sent = ""
        for start in range(0, len(arguments), 8):
            if self.cancel_reason is not None:
                break
            delta = arguments[start:start + 8]
            await self.emit({"type": FUNCTION_ARGS_DELTA, **base, "delta": delta})
            sent += delta
            await self.pause(len(delta) / self.decision.pacing.text_rate /
                             (self.decision.pacing.speed or 1.0))
        done: dict[str, Any] = {"type": FUNCTION_ARGS_DONE, **base, "arguments": sent}
        if self.ga:
            done["name"] = name
        await self.emit(done)
        item["arguments"] = sent
        self._out_text += _tokens(sent)
        await self._close_item(item, index)

