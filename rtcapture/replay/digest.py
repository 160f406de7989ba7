"""A session reduced to what the diff compares: responses and session-level events.

Streaming (bounded memory): audio deltas are counted from the stored ``audio_bytes``
column, text and transcript deltas are joined per content part, and audio inside other
events becomes a duration. Response ordinals come from the same
:class:`~rtcapture.replay.plan.EventKeyer` the replayer uses; triggers, latencies and
audio durations from the export's :class:`~rtcapture.export.responses.ResponseTracker`,
so a diff shows the same figures as the Parquet ``responses`` table.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..export.responses import RELEVANT_TYPES, TEXT_DELTAS, ResponseStats, ResponseTracker
from ..protocol import (
    BETA_NAMES,
    GA_NAMES,
    ITEM_CREATED_TYPES,
    ITEM_DONE,
    OUTPUT_ITEM_ADDED,
    OUTPUT_ITEM_DONE,
    RESPONSE_CREATED,
    RESPONSE_DONE,
    TEXT_DELTA_TYPES,
    TEXT_DONE_TYPES,
    TRANSCRIPT_DELTA_TYPES,
    TRANSCRIPT_DONE_TYPES,
    AudioFormat,
    Direction,
    b64_decoded_len,
    decode_event,
    is_audio_delta,
)
from ..store.records import EventRecord, SessionRecord
from .plan import EventKeyer, is_tracked

CANONICAL_TYPES: dict[str, str] = {
    getattr(BETA_NAMES, f): getattr(GA_NAMES, f) for f in (
        "text_delta", "text_done", "audio_delta", "audio_done", "transcript_delta",
        "transcript_done", "item_created")
}
"""Beta event names -> GA names, so sessions of either dialect compare."""

_PartKey = tuple[str, int, str]  # item id, content index, "text" | "transcript"


def _latency_ms(t_ns: int | None, trigger_ns: int | None) -> float | None:
    return None if t_ns is None or trigger_ns is None else round((t_ns - trigger_ns) / 1e6, 1)


@dataclass
class ResponseDigest:
    """One response, as the diff compares it."""

    index: int
    response_id: str | None = None
    created: dict[str, Any] | None = None
    final: dict[str, Any] | None = None
    items: dict[int, dict[str, Any]] = field(default_factory=dict)
    parts: dict[_PartKey, list[str]] = field(default_factory=dict)
    done_parts: dict[_PartKey, str] = field(default_factory=dict)
    stats: ResponseStats | None = None
    """Trigger, first-audio/text times and audio of the response (export analysis)."""

    @property
    def status(self) -> str | None:
        return self.final.get("status") if self.final else None

    @property
    def trigger(self) -> str | None:
        return self.stats.trigger if self.stats else None

    @property
    def audio_ms(self) -> float:
        if self.stats is None:
            return 0.0
        return round(self.stats.audio_format.ms_of(self.stats.audio_bytes), 1)

    def joined(self, kind: str) -> str:
        """All text (``"text"``) or transcript (``"transcript"``) of the response."""
        keys = dict.fromkeys(k for k in [*self.parts, *self.done_parts] if k[2] == kind)
        return "\n".join(self.done_parts.get(k, "".join(self.parts.get(k, []))) for k in keys)

    def latency(self) -> dict[str, float | None]:
        """Latency from the trigger to first audio / first text, in ms."""
        s = self.stats
        if s is None:
            return {"first_audio_ms": None, "first_text_ms": None}
        return {"first_audio_ms": _latency_ms(s.first_audio_t_ns, s.trigger_t_ns),
                "first_text_ms": _latency_ms(s.first_text_t_ns, s.trigger_t_ns)}

    def tree(self) -> dict[str, Any]:
        """The comparable form: status and response fields, output items, joined text,
        transcript, audio duration, usage, latency."""
        response = self.final or self.created or {}
        tree: dict[str, Any] = {"status": self.status}
        for key, value in response.items():
            if key not in ("output", "usage", "status", "id", "object"):
                tree[key] = value
        items = response.get("output") if self.final else None
        if not isinstance(items, list):
            items = [self.items[i] for i in sorted(self.items)]
        tree["output"] = [_item_tree(item) for item in items]
        tree["output_text"] = self.joined("text")
        tree["transcript"] = self.joined("transcript")
        tree["audio_ms"] = self.audio_ms
        tree["usage"] = response.get("usage") if self.final else None
        tree["latency"] = self.latency()
        return tree


def _item_tree(item: Any) -> Any:
    """An output item without its volatile or separately compared parts."""
    if not isinstance(item, dict):
        return item
    out = {k: v for k, v in item.items() if k not in ("content",)}
    if isinstance(out.get("arguments"), str):
        with contextlib.suppress(ValueError, RecursionError):
            out["arguments"] = json.loads(out["arguments"])
    content = item.get("content")
    if isinstance(content, list):
        out["content"] = [{k: v for k, v in part.items()
                           if k not in ("text", "transcript", "audio")}
                          if isinstance(part, dict) else part for part in content]
    return out


@dataclass
class SessionDigest:
    """A whole session, as the diff compares it."""

    session: SessionRecord | None
    responses: list[ResponseDigest] = field(default_factory=list)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Session-level server events by (GA) type, in arrival order."""
    turns: list[Any] | None = None
    """Set when a GPT-Live session is in the diff: its turns (``replay.live.Turn``)."""


class Digester:
    """Builds a :class:`SessionDigest` from a session's events, fed in ``seq`` order."""

    def __init__(self, session: SessionRecord | None = None) -> None:
        self.digest = SessionDigest(session)
        self.tracker = ResponseTracker()
        self._keyer = EventKeyer()

    def feed(self, ev: EventRecord) -> None:
        etype = ev.type
        if etype is None:
            return
        server = ev.direction == Direction.SERVER
        if server and ev.response_id is not None:
            if is_audio_delta(etype):  # the bulk of a session: never decoded
                self.tracker.add_audio(ev.response_id, ev.audio_bytes, ev.t_ns)
                self._response(self._keyer.scope(etype, {"response_id": ev.response_id}))
                return
            if etype in TEXT_DELTAS:
                self.tracker.add_text_delta(ev.response_id, ev.item_id, ev.t_ns,
                                            ev.data.decode("utf-8", "replace"))
        event = decode_event(ev.data) if server or etype in RELEVANT_TYPES else None
        if etype in RELEVANT_TYPES:
            self.tracker.observe(ev.direction, etype, ev.t_ns, ev.wall_ns, ev.response_id,
                                 event)
        if server and event is not None:
            self._server(etype, event, ev.response_id)

    def finish(self) -> SessionDigest:
        """The digest, with each response's figures from the tracker."""
        for resp in self.digest.responses:
            if resp.response_id is not None:
                resp.stats = self.tracker.responses.get(resp.response_id)
        return self.digest

    def _response(self, index: int | None) -> ResponseDigest | None:
        if index is None:
            return None
        responses = self.digest.responses
        while len(responses) <= index:
            responses.append(ResponseDigest(len(responses)))
        return responses[index]

    def _server(self, etype: str, event: dict[str, Any], response_id: str | None) -> None:
        key = self._keyer.key(event) if is_tracked(etype) else None
        scope = key.response if key is not None else self._keyer.scope(etype, event)
        resp = self._response(scope)
        if resp is not None and (etype.startswith("response.") or (
                etype in ITEM_CREATED_TYPES or etype == ITEM_DONE)):
            resp.response_id = resp.response_id or response_id
            self._response_event(resp, etype, event)
        elif key is not None:
            canonical = CANONICAL_TYPES.get(etype, etype)
            self.digest.events.setdefault(canonical, []).append(self._strip(event))

    @staticmethod
    def _response_event(resp: ResponseDigest, etype: str, event: dict[str, Any]) -> None:
        body = event.get("response")
        if etype == RESPONSE_CREATED:
            resp.created = body if isinstance(body, dict) else None
        elif etype == RESPONSE_DONE:
            resp.final = body if isinstance(body, dict) else {}
        elif etype in (OUTPUT_ITEM_ADDED, OUTPUT_ITEM_DONE):
            index = event.get("output_index")
            if isinstance(index, int) and isinstance(event.get("item"), dict):
                resp.items[index] = event["item"]
        elif etype in TEXT_DELTA_TYPES or etype in TRANSCRIPT_DELTA_TYPES:
            delta = event.get("delta")
            if isinstance(delta, str):
                kind = "text" if etype in TEXT_DELTA_TYPES else "transcript"
                resp.parts.setdefault(_part_key(event, kind), []).append(delta)
        elif etype in TEXT_DONE_TYPES or etype in TRANSCRIPT_DONE_TYPES:
            kind = "text" if etype in TEXT_DONE_TYPES else "transcript"
            value = event.get(kind)
            if isinstance(value, str):
                resp.done_parts[_part_key(event, kind)] = value

    def _strip(self, event: dict[str, Any]) -> dict[str, Any]:
        """An event without ``type``, with embedded base64 audio replaced by its duration."""
        out = {k: v for k, v in event.items() if k != "type"}
        return _audio_to_ms(out, self.tracker.state.input)


def _part_key(event: dict[str, Any], kind: str) -> _PartKey:
    item_id = event.get("item_id")
    index = event.get("content_index")
    return (item_id if isinstance(item_id, str) else "", index if isinstance(index, int) else 0,
            kind)


def audio_to_ms(node: Any, fmt: AudioFormat) -> Any:
    """A JSON value with every base64 ``audio`` string replaced by ``audio_ms``, its
    duration in ``fmt`` (what the diff compares instead of the samples)."""
    return _audio_to_ms(node, fmt)


def _audio_to_ms(node: Any, fmt: AudioFormat, depth: int = 0) -> Any:
    if depth > 32:
        return node
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "audio" and isinstance(value, str):
                n = b64_decoded_len(value)
                out["audio_ms"] = round(fmt.ms_of(n), 1) if n is not None else None
            else:
                out[key] = _audio_to_ms(value, fmt, depth + 1)
        return out
    if isinstance(node, list):
        return [_audio_to_ms(v, fmt, depth + 1) for v in node]
    return node


def digest_events(events: Iterable[EventRecord], session: SessionRecord | None = None
                  ) -> SessionDigest:
    """Digest a session's events (in ``seq`` order)."""
    digester = Digester(session)
    for ev in events:
        digester.feed(ev)
    return digester.finish()
