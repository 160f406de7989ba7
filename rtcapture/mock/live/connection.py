"""One GPT-Live mock connection: silent until ``session.start``, then a session timeline
that runs on the input audio received (as the service's does).

Every ``chunk_ms`` of input audio the output track emits one ``session.output_audio.delta``
(speech where scheduled, silence elsewhere). The energy detector finds the user's
utterances; at the end of each the scenario's next ``user_audio`` transcript arrives as
``session.input_transcript.delta`` fragments, and the scenario rules decide the reply:
speech (with ``session.output_transcript.delta``), a delegation (``client``: spoken once the
app appends commentary; ``responses``: a function call inside ``response.event``, answered
after ``response.item.create`` + ``response.create``; ``decisions``: a ``decision.event``),
an error, or a close. Speech from the user over the assistant cuts the assistant off.
A started session is listed for sidebands (``sideband.py``): they hear its events, the
reflected audio of both directions, and may send it commands.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ...codec import decode_samples, resample
from ...protocol import PCM16, AudioFormat, decode_audio_b64, live, parse_audio_format
from ..director import Decision, Director, TurnContext
from ..ids import IdFactory
from ..scenario import Scenario
from ..synth import synthesize
from ..vad import EnergyVad, VadSettings
from .delegation import DelegationMixin
from .schema import (
    PRIMARY_EVENTS,
    LiveError,
    check_event,
    check_session,
    delegation_target,
    function_tools,
)
from .sideband import LiveSessions, Sidebands, reflected_audio
from .track import OutputTrack, Segment

log = logging.getLogger("rtcapture.mock")
DEFAULT_FORMAT = PCM16
"""``audio.format`` when ``session.start`` names none ([unverified]: undocumented)."""
SESSION_LIMIT_S = 3600
USAGE_EVERY_MS = 15000.0
DEFAULT_VOICE = "marin"
LIVE_VAD = VadSettings(threshold=0.5, prefix_padding_ms=0, silence_duration_ms=500)
"""Utterance detection: 500 ms of quiet ends one (the SDK grouper's turn separation)."""


def _dumps(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8",
                                                                               "replace")


class LiveMockConnection(DelegationMixin):
    """State and handlers of one Live client connection."""

    def __init__(self, ws: ServerConnection | None, *, scenario: Scenario, seed: int,
                 fast: bool, clock: Callable[[], float] = time.time,
                 sessions: LiveSessions | None = None) -> None:
        self.ws = ws
        self.sessions = sessions
        """Where a started session is listed for ``attach`` (the mock server's registry)."""
        self.sidebands = Sidebands()
        self.lock = asyncio.Lock()
        """Held while one client frame (primary or sideband) is handled."""
        self.primary_gone = False
        """The primary connection dropped: only sidebands still hear the session."""
        self.clock = clock
        """Wall clock for ``expires_at`` and ``created_at`` (fixed for sample cassettes)."""
        self.ids = IdFactory(seed)
        self.seed = seed
        self.director = Director(scenario, fast=fast)
        self.scenario = scenario
        self.session: dict[str, Any] | None = None
        self.fmt: AudioFormat = DEFAULT_FORMAT
        self.clock_ms = 0.0
        self.track = OutputTrack(self.fmt, scenario.pacing.audio_chunk_ms)
        self.vad = EnergyVad(LIVE_VAD, self.fmt.rate)
        self.muted = False
        self.turn = 0
        self.speech_start_ms: float | None = None
        self.next_usage_ms = USAGE_EVERY_MS
        self.pending_client: dict[str, TurnContext] = {}
        """Client delegations waiting for commentary: id -> the turn they answer."""
        self.pending_calls: dict[str, tuple[str, TurnContext, str]] = {}
        """Responses delegation function calls: call_id -> (name, turn, delegation id)."""
        self.outputs: dict[str, str] = {}
        self.decision_items: set[str] = set()
        self.closed = False
        self.spoke = {"user": False, "assistant": False}
        """Whether a speaker has had a fragment: later ones carry their leading space."""
        self.sent: list[bytes] = []
        self.received: list[bytes] = []
        self.keep_sent = False
        """Keep every frame sent and received (tests: the recording must hold exactly them)."""

    # ------------------------------------------------------------------ sending

    def frame(self, event: dict[str, Any], *, stamp: bool = True) -> bytes:
        """One event as sent (with a fresh ``event_id`` unless ``stamp`` is False)."""
        framed = {"type": event["type"], **({"event_id": self.ids.new("event")} if stamp
                                            else {})}
        framed.update((k, v) for k, v in event.items() if k != "type")
        return _dumps(framed)

    async def send(self, event: dict[str, Any], *, stamp: bool = True,
                   primary: bool = True, observed: bool = True) -> None:
        """Send one event to the primary connection (``primary``) and to every attached
        sideband (``observed``)."""
        data = self.frame(event, stamp=stamp)
        if primary and not self.primary_gone:
            if self.keep_sent:
                self.sent.append(data)
            if self.ws is not None:
                try:
                    await self.ws.send(data.decode("utf-8"), text=True)
                except ConnectionClosed:  # run() ends the session (connection_lost)
                    self.primary_gone = True
        if observed and self.sidebands:
            await self.sidebands.publish(data)

    async def send_own_error(self, body: dict[str, Any]) -> None:
        """An ``error`` for a primary command: the primary alone sees it."""
        await self.send({"type": live.ERROR, "error": body}, observed=False)

    async def run(self) -> None:
        """Serve the connection until the client or a close ends it; a primary that goes
        away without ``session.close`` ends the session (``connection_lost``)."""
        assert self.ws is not None
        try:
            async for message in self.ws:
                if self.keep_sent:
                    self.received.append(message.encode() if isinstance(message, str)
                                         else message)
                await self.on_frame(message)
                if self.closed:
                    break
        except ConnectionClosed:
            pass
        finally:
            self.primary_gone = True
            if not self.closed and self.session is not None:
                async with self.lock:
                    await self.close_session("connection_lost", 1000, "")
            if self.sessions is not None:
                self.sessions.drop(self)

    async def on_frame(self, message: str | bytes, *,
                       allowed: tuple[str, ...] = PRIMARY_EVENTS,
                       reply: Callable[[dict[str, Any]], Awaitable[None]] | None = None
                       ) -> None:
        """Handle one client frame (a sideband's: ``allowed`` its event types, ``reply``
        where its errors go); a refused one gets a Live ``error`` event."""
        async with self.lock:
            if not self.closed:
                await self._handle(message, allowed, reply or self.send_own_error)

    async def _handle(self, message: str | bytes, allowed: tuple[str, ...],
                      reply: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        event_id: str | None = None
        try:
            if isinstance(message, bytes):
                raise LiveError("invalid_json", "Send each event as a JSON text frame.")
            try:
                event = json.loads(message)
            except (ValueError, RecursionError):
                raise LiveError("invalid_json", "The event is not valid JSON.") from None
            if not isinstance(event, dict):
                raise LiveError("invalid_json", "An event must be a JSON object.")
            if isinstance(event.get("event_id"), str):
                event_id = event["event_id"]
            kind = check_event(event, allowed)
            if self.session is None and kind != live.SESSION_START:
                raise LiveError("session_not_started", "Send session.start first.")
            await self.HANDLERS[kind](self, event)
        except LiveError as exc:
            await reply(exc.body(event_id))
        except ConnectionClosed:
            raise
        except Exception:  # noqa: BLE001 - a mock bug must not drop the connection
            log.exception("live mock handler failed")
            await reply(LiveError("server_error", "The server had an error.", None,
                                  "server_error").body(event_id))

    def _ack(self, event: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        if isinstance(event.get("event_id"), str):
            body["client_event_id"] = event["event_id"]
        return body

    def resource(self) -> dict[str, Any]:
        """The session as ``session.started``/``updated``/``closed`` show it."""
        assert self.session is not None
        s = self.session
        audio = dict(s.get("audio") or {})
        audio["format"] = audio.get("format") or self.fmt.ga_object()
        if audio["format"].get("type") != "audio/pcm":
            audio["format"] = {**audio["format"], "rate": 8000}
        audio["output"] = {"voice": DEFAULT_VOICE, **(audio.get("output") or {})}
        out = {"id": self.session_id, "expires_at": self.expires_at, "model": s["model"],
               "status": "active", "instructions": s.get("instructions") or "",
               "input": s.get("input") or [], "audio": audio,
               "delegation": s.get("delegation"), "store": bool(s.get("store", False))}
        if "client" in s:
            out["client"] = s["client"]
        return out

    # ------------------------------------------------------------------ session

    async def on_start(self, event: dict[str, Any]) -> None:
        if self.session is not None:
            raise LiveError("session_already_started", "The session has already started.",
                            None)
        session = check_session(event["session"])
        self.session = session
        fmt = (session.get("audio") or {}).get("format")
        self.fmt = parse_audio_format(fmt) or DEFAULT_FORMAT
        self.track = OutputTrack(self.fmt, self.scenario.pacing.audio_chunk_ms)
        self.vad = EnergyVad(LIVE_VAD, self.fmt.rate)
        self.session_id = "live_mock_" + self.ids.new("sess").split("_", 1)[1]
        while self.sessions is not None and self.session_id in self.sessions:
            self.session_id = "live_mock_" + self.ids.new("sess").split("_", 1)[1]
        if self.sessions is not None:
            self.sessions.add(self)
        self.expires_at = int(self.clock()) + SESSION_LIMIT_S
        await self.send(self._ack(event, {"type": live.SESSION_STARTED,
                                          "session": self.resource()}))
        if "client" in session:  # a data-channel setting means nothing on a WebSocket
            await self.send({"type": live.INFO, "code": "data_channel_permissions",
                             "message": "client.data_channel applies to WebRTC data "
                                        "channels only; this WebSocket session ignores it."})

    async def on_update(self, event: dict[str, Any]) -> None:
        assert self.session is not None
        update = check_session(event["session"], update=True)
        new = update.get("delegation")
        if new is not None and delegation_target({"delegation": new}) != delegation_target(
                self.session):
            raise LiveError("invalid_value", "The delegation type cannot change after "
                            "startup.", "session.delegation.type")
        if new is not None:
            merged = dict(self.session.get("delegation") or {})
            for key, value in new.items():
                if isinstance(value, dict) and isinstance(merged.get(key), dict):
                    merged[key] = {**merged[key], **value}
                else:
                    merged[key] = value
            self.session["delegation"] = merged
        if "triggers" in update:
            self.session["triggers"] = update["triggers"]
        await self.send(self._ack(event, {"type": live.SESSION_UPDATED,
                                          "session": self.resource()}))

    async def on_close(self, event: dict[str, Any]) -> None:
        await self.close_session("close_requested", 1000, "", event)

    async def close_session(self, reason: str, code: int, text: str,
                            event: dict[str, Any] | None = None) -> None:
        """``session.closed`` with the cumulative usage, then the close frame, on the
        primary (unless it is gone) and every sideband."""
        body = {"type": live.SESSION_CLOSED, "reason": reason, "session": self.resource(),
                "usage": {"seconds": round(self.clock_ms / 1000, 3)}}
        await self.send(self._ack(event, body) if event is not None else body)
        self.closed = True
        if self.sessions is not None:
            self.sessions.drop(self)
        await self.sidebands.close_all()
        if self.ws is not None and not self.primary_gone:
            await self.ws.close(code, text)

    # ------------------------------------------------------------------ audio

    async def on_append(self, event: dict[str, Any]) -> None:
        data = decode_audio_b64(event["audio"])
        if data is None:
            raise LiveError("invalid_value", "'audio' is not valid base64.", "audio")
        whole = data[: len(data) - len(data) % self.fmt.bytes_per_sample]
        samples = decode_samples(whole, self.fmt)
        if self.sidebands:  # the caller's audio as received, before mute
            await self.send({"type": live.INPUT_APPEND,
                             "audio": reflected_audio(samples, self.fmt, whole)},
                            stamp=False, primary=False)
        self.clock_ms += samples.size * 1000 / self.fmt.rate
        if not self.muted:
            for vad_event in self.vad.feed(samples):
                if vad_event.kind == "started":
                    await self.on_speech_started(float(vad_event.ms))
                else:
                    await self.on_speech_stopped(float(vad_event.ms))
        else:
            self.vad.feed(np.zeros(samples.size, dtype=np.int16))
        await self.play()

    async def play(self) -> None:
        """Emit the output track up to the timeline, with transcript fragments and usage."""
        for chunk in self.track.advance(self.clock_ms):
            for text, start, end in chunk.words:
                await self.send({"type": live.OUTPUT_TRANSCRIPT_DELTA, "delta": text,
                                 "start_ms": int(start), "end_ms": int(end)})
            await self.send({"type": live.OUTPUT_AUDIO_DELTA, "delta":
                             base64.b64encode(chunk.audio).decode()},
                            stamp=False, observed=False)
            if self.sidebands:  # reflected: PCM16 24 kHz, placed on the timeline
                await self.send({"type": live.OUTPUT_AUDIO_DELTA,
                                 "delta": reflected_audio(chunk.samples, self.fmt,
                                                          chunk.audio),
                                 "start_ms": chunk.start_ms, "end_ms": chunk.end_ms},
                                stamp=False, primary=False)
            for seg in chunk.finished:
                if seg.on_done is not None:
                    await seg.on_done()
            if self.closed:
                return
        while self.clock_ms >= self.next_usage_ms:
            await self.send({"type": live.USAGE_UPDATED,
                             "usage": {"seconds": round(self.next_usage_ms / 1000, 3)},
                             "context_window": {"usage_ratio": round(min(
                                 1.0, self.turn / 100), 4)}})
            self.next_usage_ms += USAGE_EVERY_MS

    async def on_speech_started(self, ms: float) -> None:
        self.speech_start_ms = ms
        if self.track.speaking_at(self.track.emitted_ms):
            self.track.cut(self.track.emitted_ms)  # the user talks over the assistant

    async def on_speech_stopped(self, ms: float) -> None:
        start = self.speech_start_ms if self.speech_start_ms is not None else ms
        self.speech_start_ms = None
        heard = self.director.next_user_audio()
        self.turn += 1
        words = heard.transcript.split()
        span = max(ms - start, 1.0)
        for i, word in enumerate(words):
            a = start + span * i / len(words)
            b = start + span * (i + 1) / len(words)
            await self.send({"type": live.INPUT_TRANSCRIPT_DELTA,
                             "delta": self._spaced("user", word),
                             "start_ms": int(a), "end_ms": int(b)})
        if heard.fail or not words:
            return
        assert self.session is not None
        ctx = TurnContext(turn=self.turn, user_text=heard.transcript,
                          tools=self._tools())
        await self.act(self.director.decide(ctx), ctx, ms)

    def _spaced(self, speaker: str, word: str) -> str:
        first = not self.spoke[speaker]
        self.spoke[speaker] = True
        return word if first else " " + word

    def _tools(self) -> tuple[dict[str, Any], ...]:
        """Tools the scenario may call: the Responses delegation's function tools, else
        (client or decisions delegation) the tools the scenario's rules name."""
        assert self.session is not None
        if delegation_target(self.session) == "responses":
            return function_tools(self.session)
        names = [r.tool_call.name for r in self.scenario.rules
                 if r.tool_call is not None and r.tool_call.name != "*"]
        return tuple({"type": "function", "name": n} for n in (names or ["delegate"]))

    # ------------------------------------------------------------------ replies

    async def act(self, decision: Decision, ctx: TurnContext, at_ms: float) -> None:
        """Carry out what the scenario decided for one turn."""
        assert self.session is not None
        start_ms = at_ms + decision.pacing.latency_ms
        if decision.error is not None:
            err = decision.error
            await self.send({"type": live.ERROR, "error": {
                "type": err["type"], "code": err.get("code") or "scenario_error",
                "message": err["message"], "param": err.get("param")}})
            return
        if decision.close is not None:
            code, reason = decision.close
            await self.close_session(reason if reason in live.CLOSE_REASONS else
                                     "close_requested", code, reason)
            return
        if decision.fail is not None or decision.tool_call is not None:
            await self.delegate(decision, ctx, at_ms)
            return
        self.speak(decision.reply or "", start_ms)

    def speak(self, text: str, start_ms: float) -> None:
        """Schedule assistant speech on the output track."""
        voice = ((self.session or {}).get("audio") or {}).get("output", {}).get(
            "voice", DEFAULT_VOICE)
        speech = synthesize(text, self.fmt.rate, voice=str(voice), seed=self.seed)
        start = max(start_ms, self.track.busy_until_ms)
        words = [(self._spaced("assistant", w.text), start + w.start_ms, start + w.end_ms)
                 for w in speech.words]
        self.track.schedule(Segment(start, speech.samples, words))

    # ------------------------------------------------------------------ context appends

    async def on_context_append(self, event: dict[str, Any]) -> None:
        assert self.session is not None
        delegation_id = event.get("delegation_id")
        if not isinstance(event.get("content"), str):
            raise LiveError("invalid_type", "'content' must be a string.", "content")
        if delegation_id is not None and (delegation_target(self.session) != "client" or
                                          delegation_id not in self.pending_client):
            raise LiveError("invalid_value", f"Unknown client delegation {delegation_id!r}.",
                            "delegation_id")
        at = int(max(self.clock_ms, self.track.emitted_ms))
        await self.send(self._ack(event, {"type": live.APPENDED_FOR[event["type"]],
                                          "start_ms": at, "end_ms": at}))
        if event["type"] == live.COMMENTARY_APPEND and delegation_id is not None:
            ctx = self.pending_client.pop(delegation_id)
            tool_ctx = TurnContext(turn=ctx.turn, user_text=ctx.user_text,
                                   tool_name=self._tools()[0]["name"],
                                   tool_output=event["content"], tools=ctx.tools)
            decision = self.director.decide(tool_ctx)
            self.speak(decision.reply or event["content"], at + decision.pacing.latency_ms)

    async def on_mute(self, event: dict[str, Any]) -> None:
        self.muted = event["type"] == live.INPUT_MUTE
        await self.send(self._ack(event, {"type": live.INPUT_MUTED if self.muted
                                          else live.INPUT_UNMUTED}))

    async def on_fixture(self, event: dict[str, Any]) -> None:
        data = decode_audio_b64(event["audio"])
        if data is None or len(data) > 30 * 48000:
            raise LiveError("invalid_value", "'audio' must be base64 PCM16 24 kHz, at most "
                            "30 s.", "audio")
        samples = decode_samples(data[: len(data) - len(data) % 2], PCM16)
        samples = resample(samples, PCM16.rate, self.fmt.rate)
        await self.send(self._ack(event, {"type": live.FIXTURE_PLAYING}))

        async def played() -> None:
            await self.send(self._ack(event, {"type": live.FIXTURE_PLAYED}))
        self.track.schedule(Segment(self.track.busy_until_ms, samples, [], played))

    async def on_dtmf(self, event: dict[str, Any]) -> None:
        raise LiveError("invalid_request", "transport.dtmf.send is supported only for SIP "
                        "calls.", None)

    HANDLERS: dict[str, Any] = {
        live.SESSION_START: on_start, live.SESSION_UPDATE: on_update,
        live.SESSION_CLOSE: on_close, live.INPUT_APPEND: on_append,
        live.INPUT_MUTE: on_mute, live.INPUT_UNMUTE: on_mute,
        live.INSTRUCTIONS_APPEND: on_context_append, live.THINKING_APPEND: on_context_append,
        live.COMMENTARY_APPEND: on_context_append, live.FIXTURE_PLAY: on_fixture,
        live.DECISION_CREATE: DelegationMixin.on_decision_create,
        live.DECISION_ITEM_CREATE: DelegationMixin.on_decision_item_create,
        live.DECISION_ITEM_DELETE: DelegationMixin.on_decision_item_delete,
        live.RESPONSE_ITEM_CREATE: DelegationMixin.on_response_item,
        live.RESPONSE_CREATE: DelegationMixin.on_response_create,
        live.DTMF_SEND: on_dtmf,
    }
