"""Replay pacing decisions: which server events each recorded client frame waits for.

Pure: fed a recording's events in ``seq`` order, a :class:`Planner` turns each client
frame into a :class:`PlannedFrame` naming the server events it depends on:

- the server events that introduced the ids it references (it cannot be sent with the
  replay's ids before they are known);
- the last item / response / session event before it in the recording, and the last
  event of the most recent response (the ``response.done`` before the next
  ``conversation.item.create``, the ``function_call_arguments.done`` before the
  ``function_call_output``).

Audio appends (Realtime's and GPT-Live's, and a WebRTC recording's input media rows)
depend on nothing: they stream on their own recorded clock, the media rows from the
first one on (a call's microphone starts with the call). Server events
are named by :class:`EventKey` (response, type, ordinal), which an :class:`EventKeyer`
computes the same way for the recording and for the replay, so the names survive
different ids, different delta counts and a different number of items elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..protocol import (
    CONVERSATION_CREATED,
    ERROR,
    INPUT_AUDIO_APPEND,
    ITEM_CREATED_TYPES,
    ITEM_DONE,
    OUTPUT_ITEM_ADDED,
    RATE_LIMITS_UPDATED,
    RESPONSE_CREATED,
    RESPONSE_DONE,
    TRANSCRIPTION_PREFIX,
    Direction,
    Opcode,
    decode_event,
    is_delta_type,
    live,
)
from ..store.records import EventRecord
from .idmap import IdPath, id_values

_UNTRACKED = frozenset({RATE_LIMITS_UPDATED, CONVERSATION_CREATED})


def is_tracked(event_type: str | None) -> bool:
    """Server events worth naming: all but deltas, ``rate_limits.updated`` and the
    optional ``conversation.created`` (counts and positions of those vary by run)."""
    return event_type is not None and not is_delta_type(event_type) \
        and event_type not in _UNTRACKED


def is_milestone(event_type: str | None) -> bool:
    """Tracked events a later client frame may wait for: not errors (outcomes, not
    preconditions) and not input transcriptions (they arrive at any point)."""
    return is_tracked(event_type) and event_type != ERROR \
        and not event_type.startswith(TRANSCRIPTION_PREFIX)  # type: ignore[union-attr]


@dataclass(frozen=True, slots=True)
class EventKey:
    """A server event's name that is the same in the recording and in its replay."""

    response: int | None
    """Ordinal of the response (in ``response.created`` order) the event belongs to."""
    type: str
    ordinal: int
    """Position among the events of this type in the same response (or session)."""

    def __str__(self) -> str:
        where = f" of response[{self.response}]" if self.response is not None else ""
        return f"{self.type} #{self.ordinal + 1}{where}"

    @property
    def ends_with_response(self) -> bool:
        """True if this event can only come before its response's ``response.done``
        (so a finished response proves it will never come)."""
        return self.response is not None and self.type != RESPONSE_DONE and (
            self.type.startswith("response.") or self.type in ITEM_CREATED_TYPES
            or self.type == ITEM_DONE)


@dataclass
class EventKeyer:
    """Names a session's server events, fed in arrival order."""

    _responses: dict[str, int] = field(default_factory=dict)
    _items: dict[str, int] = field(default_factory=dict)
    _counts: dict[tuple[int | None, str], int] = field(default_factory=dict)
    response_count: int = 0

    def key(self, event: Mapping[str, Any]) -> EventKey | None:
        """The key of a server event, or None for untracked ones."""
        etype = event.get("type")
        if not isinstance(etype, str) or not is_tracked(etype):
            return None
        scope = self.scope(etype, event)
        slot = (scope, etype)
        ordinal = self._counts.get(slot, 0)
        self._counts[slot] = ordinal + 1
        return EventKey(scope, etype, ordinal)

    def scope(self, etype: str, event: Mapping[str, Any]) -> int | None:
        """The response ordinal an event belongs to, registering new responses/items."""
        response = event.get("response")
        rid = event.get("response_id")
        if not isinstance(rid, str) and isinstance(response, dict):
            rid = response.get("id")
        rid = rid if isinstance(rid, str) else None
        if etype == RESPONSE_CREATED or (rid is not None and rid not in self._responses
                                         and etype.startswith("response.")):
            ordinal = self.response_count
            self.response_count += 1
            if rid is not None:
                self._responses.setdefault(rid, ordinal)
            return ordinal
        if rid is not None and rid in self._responses:
            scope = self._responses[rid]
            if etype == OUTPUT_ITEM_ADDED:
                item = event.get("item")
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    self._items[item["id"]] = scope
            return scope
        item_id = event.get("item_id")
        if not isinstance(item_id, str):
            item = event.get("item")
            item_id = item.get("id") if isinstance(item, dict) else None
        return self._items.get(item_id) if isinstance(item_id, str) else None


@dataclass(frozen=True, slots=True)
class PlannedFrame:
    """A recorded client frame and what must happen before it is sent again."""

    seq: int
    t_ns: int
    opcode: Opcode
    data: bytes
    type: str | None
    deps: tuple[EventKey, ...]
    """Server events the replay must have received first."""
    anchor: EventKey | None
    """The dependency that came last in the recording; the gap runs from it."""
    anchor_gap_ns: int
    prev_gap_ns: int
    """Recorded time since the previous client frame (since the start for the first)."""
    refs: tuple[str, ...]
    """Recorded server ids this frame references (translated when sent)."""


@dataclass(frozen=True, slots=True)
class RecordedIds:
    """The ids one recorded server event carries, for :class:`~.idmap.IdMap`."""

    key: EventKey
    ids: dict[IdPath, str]


@dataclass(frozen=True, slots=True)
class PlanEnd:
    """What the replay waits for after its last client frame."""

    deps: tuple[EventKey, ...]
    expected: frozenset[EventKey]
    """Every tracked server event of the recording (the replay waits, bounded, for all)."""
    server_frames: int = 0
    """Server frames in the recording, untracked ones (deltas) included."""
    tail_ns: int = 0
    """Recorded time from the last tracked server event to the last server frame."""


PlanItem = PlannedFrame | RecordedIds | PlanEnd
_AUDIO_APPENDS = frozenset({INPUT_AUDIO_APPEND, live.INPUT_APPEND})
"""Client frames that stream on their own clock (Realtime's and GPT-Live's appends)."""


@dataclass
class Planner:
    """Turns a recording's events (in ``seq`` order) into plan items, incrementally."""

    keyer: EventKeyer = field(default_factory=EventKeyer)
    absent: tuple[str, ...] = ()
    """Prefixes of server event types the replay's transport does not carry (a WebRTC
    recording's ``output_audio_buffer.*`` over a WebSocket): never waited for."""
    _media_started: bool = False
    _last: tuple[EventKey, int] | None = None
    _response_last: dict[int, tuple[EventKey, int]] = field(default_factory=dict)
    _introduced: dict[str, tuple[EventKey, int]] = field(default_factory=dict)
    _expected: set[EventKey] = field(default_factory=set)
    _prev_client_ns: int = 0
    _server_frames: int = 0
    _last_server_ns: int = 0
    _last_tracked_ns: int = 0

    def feed(self, ev: EventRecord) -> PlanItem | None:
        """The plan item for one recorded event, if any."""
        if ev.direction == Direction.SERVER:
            self._server_frames += 1
            self._last_server_ns = max(self._last_server_ns, ev.t_ns)
            return self._server(ev)
        if not ev.delivered:  # never reached the server in the recording
            return None
        return self._client(ev)

    def _server(self, ev: EventRecord) -> RecordedIds | None:
        if not is_tracked(ev.type) or (self.absent and ev.type.startswith(self.absent)):  # type: ignore[union-attr]
            return None
        event = decode_event(ev.data)
        key = self.keyer.key(event) if event is not None else None
        if key is None or event is None:
            return None
        self._expected.add(key)
        self._last_tracked_ns = max(self._last_tracked_ns, ev.t_ns)
        if is_milestone(key.type):
            self._last = (key, ev.t_ns)
            if key.response is not None:
                self._response_last[key.response] = (key, ev.t_ns)
        ids = id_values(event)
        for value in ids.values():
            self._introduced.setdefault(value, (key, ev.t_ns))
        return RecordedIds(key, ids) if ids else None

    def _core_deps(self) -> dict[EventKey, int]:
        deps: dict[EventKey, int] = {}
        if self._last is not None:
            deps[self._last[0]] = self._last[1]
        latest = self.keyer.response_count - 1
        if latest in self._response_last:
            key, t_ns = self._response_last[latest]
            deps[key] = t_ns
        return deps

    def _client(self, ev: EventRecord) -> PlannedFrame:
        prev_gap = max(0, ev.t_ns - self._prev_client_ns)
        self._prev_client_ns = max(self._prev_client_ns, ev.t_ns)
        if ev.opcode == Opcode.MEDIA and not self._media_started:
            prev_gap = 0  # the microphone started with the call, as in the recording
            self._media_started = True
        deps: dict[EventKey, int] = {}
        refs: list[str] = []
        if ev.type not in _AUDIO_APPENDS:
            deps = self._core_deps()
            event = decode_event(ev.data) if ev.parse_error is None else None
            for value in dict.fromkeys(id_values(event).values()) if event else ():
                if value in self._introduced:
                    refs.append(value)
                    key, t_ns = self._introduced[value]
                    deps[key] = t_ns
        anchor = max(deps, key=lambda k: deps[k]) if deps else None
        return PlannedFrame(
            seq=ev.seq, t_ns=ev.t_ns, opcode=ev.opcode, data=ev.data, type=ev.type,
            deps=tuple(deps), anchor=anchor,
            anchor_gap_ns=max(0, ev.t_ns - deps[anchor]) if anchor is not None else 0,
            prev_gap_ns=prev_gap, refs=tuple(refs))

    def finish(self) -> PlanEnd:
        """The end of the recording: wait for its last events."""
        return PlanEnd(deps=tuple(self._core_deps()), expected=frozenset(self._expected),
                       server_frames=self._server_frames,
                       tail_ns=max(0, self._last_server_ns - self._last_tracked_ns))
