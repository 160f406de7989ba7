"""Turns: audio commits (manual and server VAD), input transcription, responses, cancel.

The base class of ``MockConnection``: it declares the connection state and the sending
calls it needs, so neither module imports the other. Event order follows sections 8.4-8.7 of the reference:
a VAD turn sends ``speech_started``, ``speech_stopped``, ``committed``, the user item, then
``response.created``, the transcription events, and the rest of the response.
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from typing import Any

from websockets.asyncio.server import ServerConnection

from ..protocol import (
    INPUT_AUDIO_COMMITTED,
    INPUT_AUDIO_TIMEOUT,
    SPEECH_STARTED,
    SPEECH_STOPPED,
    TRANSCRIPTION_COMPLETED,
    TRANSCRIPTION_DELTA,
    TRANSCRIPTION_FAILED,
    Flavour,
    parse_audio_format,
)
from . import errors as E
from . import validate as V
from .audio_input import InputAudio
from .director import Director, TurnContext
from .errors import MockError
from .ids import IdFactory
from .response import ResponseConfig, ResponseRun
from .session import SessionState
from .state import Conversation
from .usage import Usage, context_tokens, text_tokens
from .vad import VadEvent

_WORDS = re.compile(r"\S+\s*")


class TurnsMixin(ABC):
    """Audio turns and responses for ``MockConnection``."""

    ws: ServerConnection | None
    seed: int
    flavour: Flavour
    ids: IdFactory
    session: SessionState
    conversation: Conversation
    director: Director
    usage: Usage
    audio: InputAudio

    @abstractmethod
    async def send(self, event: dict[str, Any]) -> None:
        """Send one server event."""

    @abstractmethod
    async def send_error(self, error: MockError, client_event_id: str | None) -> None:
        """Send an ``error`` event."""

    @abstractmethod
    async def send_item_events(self, item: dict[str, Any], previous: str | None) -> None:
        """Announce a new conversation item."""

    def init_turns(self) -> None:
        self.active: ResponseRun | None = None
        self.running: list[ResponseRun] = []
        self.turn = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.closing: tuple[int, str] | None = None

    # ------------------------------------------------------------------ VAD

    async def check_idle(self) -> None:
        """GA ``idle_timeout_ms``: no speech for that long (audio clock) commits a turn."""
        td = self.session.turn_detection or {}
        idle = td.get("idle_timeout_ms")
        audio = self.audio
        if (not isinstance(idle, int) or idle <= 0 or audio.vad is None or audio.vad.in_speech
                or self.active is not None):
            return
        if audio.clock_ms - audio.last_activity_ms < idle:
            return
        start, end = int(audio.last_activity_ms), int(audio.clock_ms)
        audio.last_activity_ms = audio.clock_ms
        item_id = self.ids.item()
        await self.send({"type": INPUT_AUDIO_TIMEOUT, "audio_start_ms": start,
                         "audio_end_ms": end, "item_id": item_id})
        data = audio.take_all()
        await self.commit_user_audio(item_id, data, create_response=bool(
            td.get("create_response", True)) and not self.session.transcription_only)

    async def on_vad(self, vad_event: VadEvent) -> None:
        td = self.session.turn_detection or {}
        self.audio.last_activity_ms = self.audio.clock_ms
        if vad_event.kind == "started":
            item_id = self.ids.item()
            self.audio.speech_item_id = item_id
            self.audio.drop_before(vad_event.ms)
            await self.send({"type": SPEECH_STARTED, "audio_start_ms": vad_event.ms,
                             "item_id": item_id})
            if td.get("interrupt_response", True) and self.active is not None:
                await self.active.cancel("turn_detected")
            return
        item_id = self.audio.speech_item_id or self.ids.item()
        self.audio.speech_item_id = None
        await self.send({"type": SPEECH_STOPPED, "audio_end_ms": vad_event.ms,
                         "item_id": item_id})
        data = self.audio.take_until(vad_event.ms)
        want_response = bool(td.get("create_response", True)) and not \
            self.session.transcription_only and self.active is None
        await self.commit_user_audio(item_id, data, create_response=want_response)

    async def commit_user_audio(self, item_id: str, data: bytes, *,
                                create_response: bool) -> None:
        """``committed``, the user item, then (optionally) a response and transcription."""
        fmt = self.session.input_format
        previous = self.conversation.last_id()
        item: dict[str, Any] = {"id": item_id}
        if self.flavour is Flavour.BETA:
            item["object"] = "realtime.item"
        item.update(type="message", status="completed", role="user",
                    content=[{"type": "input_audio", "transcript": None}])
        self.conversation.insert(item)
        self.conversation.set_audio(item_id, 0, data, fmt)
        heard = self.director.next_user_audio()
        self.conversation.heard_text[item_id] = heard.transcript
        await self.send({"type": INPUT_AUDIO_COMMITTED, "previous_item_id": previous,
                         "item_id": item_id})
        await self.send_item_events(item, previous)
        run = await self.prepare_response(V.Overrides({}), None) if create_response else None
        if run is not None:
            await run.begin()
        if self.session.transcription is not None:
            await self.send_transcription(item, heard.transcript, heard.fail, fmt.ms_of(len(data)))
        if run is not None:
            await self.start_body(run)

    async def send_transcription(self, item: dict[str, Any], transcript: str,
                                 fail: bool, audio_ms: float) -> None:
        item_id = item["id"]
        base = {"item_id": item_id, "content_index": 0}
        if fail:
            await self.send({"type": TRANSCRIPTION_FAILED, **base, "error": {
                "type": "server_error", "code": "transcription_failed",
                "message": "Input transcription failed for this item.", "param": None}})
            return
        model = (self.session.transcription or {}).get("model")
        if model != "whisper-1":
            for word in _WORDS.findall(transcript):
                await self.send({"type": TRANSCRIPTION_DELTA, **base, "delta": word})
        if model == "whisper-1":
            usage: dict[str, Any] = {"type": "duration", "seconds": round(audio_ms / 1000, 3)}
        else:
            audio_tokens = -(-int(audio_ms) // 100)
            out = text_tokens(transcript)
            usage = {"type": "tokens", "input_tokens": audio_tokens, "output_tokens": out,
                     "total_tokens": audio_tokens + out,
                     "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens}}
        await self.send({"type": TRANSCRIPTION_COMPLETED, **base, "transcript": transcript,
                         "usage": usage})
        item["content"][0]["transcript"] = transcript

    # ------------------------------------------------------------------ responses

    async def on_response_create(self, event: dict[str, Any]) -> None:
        overrides = V.check_overrides(event.get("response"), self.flavour)
        if self.session.transcription_only:
            raise MockError("invalid_value", "Responses are not available in a transcription "
                            "session.", "type")
        if overrides.conversation == "auto" and self.active is not None:
            raise MockError("conversation_already_has_active_response", "Conversation already "
                            f"has an active response in progress: {self.active.id}. Wait until "
                            "the response is finished before creating a new one.", None)
        run = await self.prepare_response(overrides, event.get("event_id"))
        if run is None:
            return
        await run.begin()
        await self.start_body(run)

    def _context(self, overrides: V.Overrides) -> list[dict[str, Any]]:
        if overrides.input is None:
            return self.conversation.context()
        items = []
        for i, entry in enumerate(overrides.input):
            if entry.get("type") == "item_reference":
                items.append(self.conversation.require(entry["id"], f"response.input[{i}].id"))
            else:
                items.append(entry)
        return items

    def _turn_context(self, items: list[dict[str, Any]], tools: list[Any],
                      tool_choice: Any) -> TurnContext:
        user_text, tool_name, tool_output = "", None, None
        last = items[-1] if items else None
        if last is not None and last.get("type") == "function_call_output":
            tool_output = str(last.get("output", ""))
            tool_name = next((i.get("name") for i in reversed(self.conversation.items + items)
                              if i.get("type") == "function_call" and
                              i.get("call_id") == last.get("call_id")), None) or "function"
        for item in reversed(items):
            if item.get("type") == "message" and item.get("role") == "user":
                texts = []
                for part in item.get("content") or []:
                    if part.get("type") == "input_text":
                        texts.append(part.get("text") or "")
                    elif part.get("type") == "input_audio":
                        texts.append(part.get("transcript") or
                                     self.conversation.heard_text.get(item.get("id", ""), ""))
                user_text = " ".join(t for t in texts if t)
                break
        return TurnContext(self.turn, user_text, tool_name, tool_output,
                           tuple(t for t in tools if isinstance(t, dict)), tool_choice)

    def _config(self, o: dict[str, Any], in_conversation: bool,
                input_tokens: dict[str, int]) -> ResponseConfig:
        s = self.session
        ga = self.flavour is Flavour.GA
        modalities = o.get("output_modalities" if ga else "modalities") or s.modalities
        fmt, voice = s.output_format, s.voice
        if ga and isinstance(o.get("audio"), dict):
            out = o["audio"].get("output") or {}
            fmt = parse_audio_format(out.get("format")) or fmt
            voice = out.get("voice", voice)
        elif not ga:
            fmt = parse_audio_format(o.get("output_audio_format")) or fmt
            voice = o.get("voice", voice)
        if isinstance(voice, dict):
            voice = str(voice.get("id", "custom"))
        max_tokens = o.get("max_output_tokens", o.get("max_response_output_tokens",
                                                       s.max_output_tokens))
        return ResponseConfig(
            modalities=list(modalities), voice=voice, output_format=fmt, speed=s.speed,
            max_output_tokens=max_tokens,
            instructions=o.get("instructions", s.get("instructions") or ""),
            temperature=None if ga else o.get("temperature", s.get("temperature")),
            metadata=o.get("metadata"), in_conversation=in_conversation,
            conversation_id=self.conversation.conversation_id if in_conversation else None,
            seed=self.seed, input_tokens=input_tokens)

    async def prepare_response(self, overrides: V.Overrides,
                               client_event_id: str | None) -> ResponseRun | None:
        """Decide what the response does; None when the scenario injected an error instead."""
        items = self._context(overrides)
        o = overrides.raw
        tools = o.get("tools", self.session.get("tools") or [])
        tool_choice = o.get("tool_choice", self.session.get("tool_choice") or "auto")
        self.turn += 1
        decision = self.director.decide(self._turn_context(items, tools, tool_choice))
        if decision.error is not None or decision.close is not None:
            if decision.error is not None:
                await self.send_error(MockError(
                    decision.error["code"], decision.error["message"], decision.error["param"],
                    decision.error["type"]), client_event_id)
            if decision.close is not None:
                code, reason = decision.close
                if not reason and decision.error is not None:
                    reason = f"{decision.error['type']}.{decision.error['code']}"
                self.closing = (code, reason)
                if self.ws is not None:
                    await self.ws.close(code, reason)
            return None
        in_conv = overrides.conversation == "auto"
        audio_ms = {item_id: part.ms for (item_id, _), part in self.conversation.audio.items()}
        config = self._config(o, in_conv, context_tokens(items, self.session.get(
            "instructions") or "", audio_ms))
        run = ResponseRun(response_id=self.ids.response(), flavour=self.flavour,
                          decision=decision, config=config, conversation=self.conversation,
                          ids=self.ids, emit=self.send, usage=self.usage,
                          on_audio=self._audio_produced, on_finished=self._response_finished)
        if in_conv:
            self.active = run
        self.running.append(run)
        return run

    def _audio_produced(self) -> None:
        self.session.audio_produced = True

    async def start_body(self, run: ResponseRun) -> None:
        """Stream the response: inline when fast, as a task when paced."""
        if not run.paced:
            await self._run_body(run)
            return
        task = asyncio.create_task(self._run_body(run), name=f"mock-response-{run.id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _response_finished(self, run: ResponseRun) -> None:
        """Called as ``response.done`` went out (or the response died): free the slot."""
        self.audio.last_activity_ms = self.audio.clock_ms
        if self.active is run:
            self.active = None
        if run in self.running:
            self.running.remove(run)

    async def _run_body(self, run: ResponseRun) -> None:
        try:
            await run.body()
        except Exception:  # noqa: BLE001 - connection gone or a bug: end this response only
            self._response_finished(run)
            run.finished.set()
            if not run.paced:
                raise

    async def on_response_cancel(self, event: dict[str, Any]) -> None:
        response_id = E.want_str(event, "response_id", "response_id")
        if response_id is not None:
            target = next((r for r in self.running if r.id == response_id), None)
        else:
            target = self.active or (self.running[-1] if self.running else None)
        if target is None or target.finished.is_set() or target.cancel_reason is not None:
            raise MockError("response_cancel_not_active", "Cancellation failed: no active "
                            "response found", None)
        await target.cancel("client_cancelled")

    async def shutdown(self) -> None:
        """Stop paced responses when the client has gone."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

