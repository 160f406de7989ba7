"""One mock connection: sends ``session.created``, then answers each client event.

Handlers follow section 3 of the reference; anything refused becomes an ``error`` event
and the connection stays open. Response and audio-turn handling live in ``turns.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ..protocol import (
    CONVERSATION_CREATED,
    ERROR,
    INPUT_AUDIO_APPEND,
    INPUT_AUDIO_CLEAR,
    INPUT_AUDIO_CLEARED,
    INPUT_AUDIO_COMMIT,
    ITEM_CREATE,
    ITEM_DELETE,
    ITEM_DELETED,
    ITEM_RETRIEVE,
    ITEM_RETRIEVED,
    ITEM_TRUNCATE,
    ITEM_TRUNCATED,
    OUTPUT_AUDIO_BUFFER_CLEAR,
    RESPONSE_CANCEL,
    RESPONSE_CREATE,
    SESSION_CREATED,
    SESSION_UPDATE,
    SESSION_UPDATED,
    TRANSCRIPTION_SESSION_UPDATE,
    TRANSCRIPTION_SESSION_UPDATED,
    EventNames,
    Flavour,
    flavour_from_event,
    names_for,
)
from . import errors as E
from . import validate as V
from .audio_input import InputAudio
from .director import Director
from .errors import MockError
from .ids import IdFactory, connection_seed
from .scenario import Scenario
from .session import SessionState
from .state import ROOT, Conversation
from .turns import TurnsMixin
from .usage import Usage

log = logging.getLogger("rtcapture.mock")


def dumps(event: dict[str, Any]) -> bytes:
    """Compact JSON as the service sends it; escapes only what UTF-8 cannot carry."""
    text = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates echoed from a client
        return json.dumps(event, separators=(",", ":")).encode("ascii")


def _reject_constant(name: str) -> None:
    """NaN and Infinity are not JSON; the service refuses them like any other bad JSON."""
    raise ValueError(f"{name} is not valid JSON")


class MockConnection(TurnsMixin):
    """State and handlers of one client connection."""

    def __init__(self, ws: ServerConnection | None, *, scenario: Scenario, seed: int,
                 fast: bool, flavour: Flavour | None, model: str | None,
                 connection: int = 0) -> None:
        self.ws = ws
        self.seed = seed
        self.fast = fast
        self.flavour_fixed = flavour is not None
        self.flavour = flavour or Flavour.GA
        self.model = model
        self.ids = IdFactory(connection_seed(seed, scenario.name, connection))
        self.session_id = self.ids.new("sess")
        self.session = SessionState(self.flavour, model, self.session_id)
        self.conversation = Conversation(self.flavour, self.ids.new("conv"))
        self.director = Director(scenario, fast=fast)
        self.usage = Usage()
        self.audio = InputAudio()
        self.audio.configure(self.session.input_format, self.session.turn_detection)
        self.init_turns()
        self._send_lock = asyncio.Lock()
        self.sent: list[bytes] = []
        """Every frame sent, in order (kept for tests and determinism checks)."""
        self.keep_sent = False

    @property
    def names(self) -> EventNames:
        return names_for(self.flavour)

    # ------------------------------------------------------------------ sending

    async def send(self, event: dict[str, Any]) -> None:
        """Stamp an ``event_id`` and send one event as a text frame."""
        async with self._send_lock:
            framed = {"type": event["type"], "event_id": self.ids.event()}
            framed.update((k, v) for k, v in event.items() if k != "type")
            data = dumps(framed)
            if self.keep_sent:
                self.sent.append(data)
            if self.ws is not None:
                await self.ws.send(data, text=True)

    async def send_error(self, error: MockError, client_event_id: str | None) -> None:
        await self.send({"type": ERROR, "error": error.body(client_event_id)})

    async def start(self) -> None:
        """The unprompted opening events."""
        await self.send({"type": SESSION_CREATED, "session": self.session.render()})
        if self.flavour is Flavour.BETA:
            await self.send({"type": CONVERSATION_CREATED, "conversation": {
                "id": self.conversation.conversation_id, "object": "realtime.conversation"}})

    async def run(self) -> None:
        """Serve the connection until the client goes away."""
        assert self.ws is not None
        try:
            await self.start()
            async for message in self.ws:
                await self.on_frame(message)
        except ConnectionClosed:
            pass
        finally:
            await self.shutdown()

    # ------------------------------------------------------------------ dispatch

    async def on_frame(self, message: str | bytes) -> None:
        """Handle one client frame; never raises for bad input."""
        event_id: str | None = None
        try:
            if isinstance(message, bytes):
                raise MockError("invalid_json", "Binary frames are not supported; send each "
                                "event as a JSON text frame.", None)
            try:
                event = json.loads(message, parse_constant=_reject_constant)
            except (ValueError, RecursionError):
                raise MockError("invalid_json", "The server could not parse the event as "
                                "JSON.", None) from None
            if not isinstance(event, dict):
                raise MockError("invalid_json", "An event must be a JSON object.", None)
            if isinstance(event.get("event_id"), str):
                event_id = event["event_id"]
            self._maybe_switch_dialect(event)
            kind = V.check_envelope(event, self.flavour)
            await self.HANDLERS[kind](self, event)
        except MockError as exc:
            await self.send_error(exc, event_id)
        except ConnectionClosed:
            raise
        except Exception:  # noqa: BLE001 - a mock bug must not drop the connection
            log.exception("mock handler failed")
            await self.send_error(MockError(None, "The server had an error while processing "
                                            "your request.", None, E.SERVER_ERROR), event_id)

    def _maybe_switch_dialect(self, event: dict[str, Any]) -> None:
        """A beta-shaped first ``session.update`` on an unmarked connection means beta."""
        if self.flavour_fixed:
            return
        self.flavour_fixed = True
        if (event.get("type") == SESSION_UPDATE and self.conversation.items == [] and
                flavour_from_event("client", event) is Flavour.BETA):
            self.flavour = Flavour.BETA
            self.session = SessionState(Flavour.BETA, self.model, self.session_id)
            self.conversation.flavour = Flavour.BETA
            self.audio.configure(self.session.input_format, self.session.turn_detection)

    # ------------------------------------------------------------------ session

    async def on_session_update(self, event: dict[str, Any]) -> None:
        E.want_obj(event, "session", "session", required=True)
        self.session.update(event["session"])
        self.audio.configure(self.session.input_format, self.session.turn_detection)
        await self.send({"type": SESSION_UPDATED, "session": self.session.render()})

    async def on_transcription_session_update(self, event: dict[str, Any]) -> None:
        E.want_obj(event, "session", "session", required=True)
        self.session.update_beta_transcription(event["session"])
        self.audio.configure(self.session.input_format, self.session.turn_detection)
        secret = "mock_secret_" + self.ids.new("secret").split("_", 1)[1]
        await self.send({"type": TRANSCRIPTION_SESSION_UPDATED,
                         "session": self.session.render_beta_transcription(secret)})

    # ------------------------------------------------------------------ audio buffer

    async def on_append(self, event: dict[str, Any]) -> None:
        data = V.check_audio(event)
        for vad_event in self.audio.append(data):
            await self.on_vad(vad_event)
        await self.check_idle()

    async def on_commit(self, event: dict[str, Any]) -> None:
        ms = self.audio.buffered_ms
        if ms < 100:
            raise MockError("input_audio_buffer_commit_empty", "Error committing input audio "
                            "buffer: buffer too small. Expected at least 100ms of audio, but "
                            f"buffer only has {ms:.2f}ms of audio.", None)
        item_id = self.audio.speech_item_id or self.ids.item()
        data = self.audio.take_all()
        await self.commit_user_audio(item_id, data, create_response=False)

    async def on_clear(self, event: dict[str, Any]) -> None:
        self.audio.clear()
        await self.send({"type": INPUT_AUDIO_CLEARED})

    # ------------------------------------------------------------------ items

    async def on_item_create(self, event: dict[str, Any]) -> None:
        new = V.check_item(E.want_obj(event, "item", "item", required=True), self.flavour)
        previous = E.want_str(event, "previous_item_id", "previous_item_id", nullable=True)
        if previous not in (None, ROOT) and self.conversation.get(previous) is None:
            raise MockError("invalid_value", f"Error adding item: the previous item with id "
                            f"'{previous}' does not exist.", "previous_item_id")
        if new.client_id is not None and self.conversation.get(new.client_id) is not None:
            raise MockError("invalid_value", f"Item with id '{new.client_id}' already exists.",
                            "item.id")
        item = new.item
        item["id"] = new.client_id or self.ids.item()
        before = self.conversation.insert(item, previous)
        for index, data in new.audio.items():
            self.conversation.set_audio(item["id"], index, data, self.session.input_format)
        await self.send_item_events(item, before)

    async def send_item_events(self, item: dict[str, Any], previous: str | None) -> None:
        """``conversation.item.created`` (beta) or ``.added`` + ``.done`` (GA)."""
        rendered = self.conversation.render(item)
        await self.send({"type": self.names.item_created, "previous_item_id": previous,
                         "item": rendered})
        if self.names.item_done is not None:
            await self.send({"type": self.names.item_done, "previous_item_id": previous,
                             "item": rendered})

    async def on_item_truncate(self, event: dict[str, Any]) -> None:
        item_id = E.want_str(event, "item_id", "item_id", required=True)
        index = E.want_int(event, "content_index", "content_index", required=True, minimum=0)
        end = E.want_int(event, "audio_end_ms", "audio_end_ms", required=True, minimum=0)
        assert item_id is not None and index is not None and end is not None
        self.conversation.truncate(item_id, index, end)
        await self.send({"type": ITEM_TRUNCATED, "item_id": item_id, "content_index": index,
                         "audio_end_ms": end})

    async def on_item_delete(self, event: dict[str, Any]) -> None:
        item_id = E.want_str(event, "item_id", "item_id", required=True)
        assert item_id is not None
        self.conversation.delete(item_id)
        await self.send({"type": ITEM_DELETED, "item_id": item_id})

    async def on_item_retrieve(self, event: dict[str, Any]) -> None:
        item_id = E.want_str(event, "item_id", "item_id", required=True)
        assert item_id is not None
        item = self.conversation.require(item_id)
        await self.send({"type": ITEM_RETRIEVED,
                         "item": self.conversation.render(item, with_audio=True)})

    async def on_output_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        raise MockError("invalid_value", "output_audio_buffer.clear is only supported for "
                        "WebRTC and SIP sessions.", "type")

    HANDLERS: ClassVar[dict[str, Callable[[Any, dict[str, Any]], Awaitable[None]]]] = {
        SESSION_UPDATE: on_session_update,
        TRANSCRIPTION_SESSION_UPDATE: on_transcription_session_update,
        INPUT_AUDIO_APPEND: on_append,
        INPUT_AUDIO_COMMIT: on_commit,
        INPUT_AUDIO_CLEAR: on_clear,
        ITEM_CREATE: on_item_create,
        ITEM_TRUNCATE: on_item_truncate,
        ITEM_DELETE: on_item_delete,
        ITEM_RETRIEVE: on_item_retrieve,
        RESPONSE_CREATE: TurnsMixin.on_response_create,
        RESPONSE_CANCEL: TurnsMixin.on_response_cancel,
        OUTPUT_AUDIO_BUFFER_CLEAR: on_output_audio_buffer_clear,
    }
