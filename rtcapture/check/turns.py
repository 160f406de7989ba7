"""Turn analysis: pure logic over a session's events in ``seq`` order (both dialects).

Built on the session-state tracker (:class:`~rtcapture.protocol.SessionState`), so the
formats used to turn audio bytes into milliseconds are the ones audio extraction and the
export use. It yields one :class:`Turn` per reply (linked to the user turn that
triggered it) and one per user turn that got no reply, plus the facts the rules of
``rtcapture check`` need (:class:`Observations`).

Clocks:

- *Session time* is ``t_ms`` of the recorded frames (the recorder's clock).
- *Input-audio time* is ms of audio the client appended since the session started (what
  ``audio_start_ms`` / ``audio_end_ms`` count). A position is mapped onto session time
  through the append that carried it, assuming the client sends each chunk when it has
  captured it: position ``p`` in an append sent at ``t`` that ends at ``e`` was captured
  at ``t - (e - p)``.
- The end of user speech is ``speech_stopped.audio_end_ms`` minus the VAD silence window
  in force (``audio_end_ms`` includes it); the start is ``audio_start_ms`` plus the
  prefix padding.

Playback model: the client plays assistant audio at real time on one player, each delta
from when it arrives or when the audio before it ends, whichever is later; a client
``conversation.item.truncate`` stops the player at once and drops what was queued. What
was *heard* is what played by then.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from ..protocol import (
    AUDIO_DELTA_TYPES,
    ERROR,
    FUNCTION_ARGS_DONE,
    INPUT_AUDIO_APPEND,
    INPUT_AUDIO_COMMIT,
    ITEM_CREATE,
    ITEM_TRUNCATE,
    RESPONSE_CANCEL,
    RESPONSE_CREATE,
    RESPONSE_CREATED,
    RESPONSE_DONE,
    SPEECH_STARTED,
    SPEECH_STOPPED,
    STATE_TYPES,
    TEXT_DELTA_TYPES,
    TRANSCRIPT_DELTA_TYPES,
    Direction,
    SessionState,
    decode_event,
    flavour_from_event,
)
from ..protocol.turns import timeline_turns
from ..store import EventRecord

if TYPE_CHECKING:
    from .timeline import TimelineTurns

FUNCTION_CALL_OUTPUT = "function_call_output"
MAX_APPENDS = 4096
"""Appends kept for mapping input-audio time (older ones are dropped, oldest first)."""

_CLIENT, _SERVER = str(Direction.CLIENT), str(Direction.SERVER)
_TEXT_DELTAS = TEXT_DELTA_TYPES | TRANSCRIPT_DELTA_TYPES
_DECODED: frozenset[tuple[str, str]] = frozenset(
    {(_SERVER, t) for t in (SPEECH_STARTED, SPEECH_STOPPED, RESPONSE_CREATED, RESPONSE_DONE,
                            ERROR)}
    | {(_CLIENT, t) for t in (ITEM_TRUNCATE, RESPONSE_CANCEL, ITEM_CREATE)}
)


class Batch(IntEnum):
    """How :class:`TurnAnalyzer` can take an event in bulk (see :func:`batch_of`)."""

    SKIP = 0
    """No type: :meth:`TurnAnalyzer.feed` ignores it."""
    FEED = 1
    """One at a time, through :meth:`TurnAnalyzer.feed`."""
    APPENDS = 2
    """:meth:`TurnAnalyzer.feed_appends`."""
    AUDIO_DELTAS = 3
    """:meth:`TurnAnalyzer.feed_audio_deltas`."""
    TEXT_DELTAS = 4
    """:meth:`TurnAnalyzer.feed_text_deltas`."""


def batch_of(direction: str | None, etype: str | None) -> Batch:
    """Which bulk call takes an event of this direction and type (as :meth:`TurnAnalyzer.feed`
    dispatches it). Events of the three bulk kinds never affect each other, only the ``FEED``
    events between them do."""
    if etype is None:
        return Batch.SKIP
    if direction == _SERVER:
        if etype in AUDIO_DELTA_TYPES:
            return Batch.AUDIO_DELTAS
        if etype in _TEXT_DELTAS:
            return Batch.TEXT_DELTAS
    elif etype == INPUT_AUDIO_APPEND:
        return Batch.APPENDS
    return Batch.FEED


def _ms(t_ns: int) -> float:
    return t_ns / 1e6


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass(slots=True)
class Heard:
    """One assistant audio item on the player: sent and heard audio."""

    item_id: str
    response_id: str | None
    segments: list[list[float]] = field(default_factory=list)  # [start, end] session ms
    sent_ms: float = 0.0
    delivered_ms: float = 0.0
    first_sent_t: float | None = None
    cut_t: float | None = None

    @property
    def first_heard_t(self) -> float | None:
        return self.segments[0][0] if self.segments else None

    def end_t(self) -> float | None:
        """When the item stops playing (at its cut, if the client truncated it)."""
        if not self.segments:
            return None
        end = self.segments[-1][1]
        return min(end, self.cut_t) if self.cut_t is not None else end

    def heard_ms_at(self, t: float) -> float:
        """Audio of this item played by session time ``t``."""
        if self.cut_t is not None:
            t = min(t, self.cut_t)
        return sum(max(0.0, min(end, t) - start) for start, end in self.segments if start < t)

    def playing_at(self, t: float) -> bool:
        end = self.end_t()
        first = self.first_heard_t
        return first is not None and end is not None and first <= t < end

    def overlap(self, lo: float, hi: float) -> float:
        """ms of heard audio inside [lo, hi]."""
        cut = self.cut_t if self.cut_t is not None else math.inf
        return sum(max(0.0, min(end, hi, cut) - max(start, lo)) for start, end in self.segments)


@dataclass(slots=True)
class UserTurn:
    """One user utterance as the server's VAD saw it (or a manual commit)."""

    item_id: str | None
    started_t: float | None = None
    speech_start_t: float | None = None
    stopped_t: float | None = None
    speech_end_t: float | None = None
    audio_end_ms: float | None = None
    committed_t: float | None = None
    replied: bool = False


@dataclass(slots=True)
class Reply:
    """One response and what the client heard of it."""

    response_id: str
    created_t: float
    user: UserTurn | None = None
    trigger: str | None = None
    trigger_t: float | None = None
    status: str | None = None
    done_t: float | None = None
    first_text_t: float | None = None
    items: list[Heard] = field(default_factory=list)
    interrupted_t: float | None = None
    interrupted_by: UserTurn | None = None
    yield_t: float | None = None
    yield_by: str | None = None
    call_ids: list[str] = field(default_factory=list)

    @property
    def first_sent_t(self) -> float | None:
        times = [h.first_sent_t for h in self.items if h.first_sent_t is not None]
        return min(times) if times else None

    @property
    def first_heard_t(self) -> float | None:
        times = [h.first_heard_t for h in self.items if h.first_heard_t is not None]
        return min(times) if times else None


@dataclass(frozen=True, slots=True)
class Truncate:
    """A client truncate, with what the player knew at that moment."""

    t_ms: float
    event_id: str | None
    item_id: str | None
    audio_end_ms: float | None
    delivered_ms: float | None
    heard_ms: float | None
    answers_speech_t: float | None


@dataclass(frozen=True, slots=True)
class ServerError:
    t_ms: float
    code: str | None
    message: str | None
    client_event_id: str | None
    client_event_type: str | None


@dataclass(frozen=True, slots=True)
class ToolCall:
    call_id: str | None
    response_id: str | None
    done_t: float
    output_t: float | None


@dataclass
class Observations:
    """Facts the rules need beyond the turns table."""

    truncates: list[Truncate] = field(default_factory=list)
    errors: list[ServerError] = field(default_factory=list)
    tools: list[ToolCall] = field(default_factory=list)
    creates_while_active: list[tuple[float, str | None, str]] = field(default_factory=list)
    """(t_ms, client event id, id of the response still active)."""
    bad_appends: list[tuple[float, str | None, int]] = field(default_factory=list)
    """(t_ms, event id, decoded bytes) of appends that are not whole samples."""


@dataclass(frozen=True, slots=True)
class Turn:
    """One row of the ``turns`` table."""

    turn: int
    user_item_id: str | None
    response_id: str | None
    item_id: str | None
    trigger: str | None
    status: str | None
    speech_started_t_ms: float | None
    speech_end_t_ms: float | None
    speech_stopped_t_ms: float | None
    vad_wait_ms: float | None
    response_created_t_ms: float | None
    first_audio_sent_t_ms: float | None
    first_audio_heard_t_ms: float | None
    first_text_t_ms: float | None
    perceived_latency_ms: float | None
    first_text_latency_ms: float | None
    audio_sent_ms: float | None
    audio_heard_ms: float | None
    talk_over_ms: float | None
    interrupted: bool
    interrupted_t_ms: float | None
    yield_latency_ms: float | None
    yield_by: str | None
    tool_call_id: str | None
    tool_round_trip_ms: float | None


TURN_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Turn))


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


class TurnAnalyzer:
    """Follows one session's events; :meth:`finish` gives its turns and observations.

    ``flavour`` (the stored dialect) is optional: a session whose first configuring event
    reveals a timeline dialect (GPT-Live) is handed to :attr:`timeline` from there."""

    def __init__(self, state: SessionState | None = None, flavour: str | None = None
                 ) -> None:
        self.state = state or SessionState()
        self.timeline: TimelineTurns | None = None
        """The analysis of a timeline dialect's session (None: responses and VAD)."""
        self._dialect_known = False
        if flavour is not None:
            self._use_dialect(str(flavour))
        self.obs = Observations()
        self._input_ms = 0.0
        self._append_ends: list[float] = []
        self._append_ts: list[float] = []
        self._player_end = -math.inf
        self._items: dict[str, Heard] = {}
        self._last_heard: list[Heard] = []  # items on the player, in order
        self._user: UserTurn | None = None
        self._users: list[UserTurn] = []
        self._pending_trigger: tuple[str, float, UserTurn | None] | None = None
        self._replies: dict[str, Reply] = {}
        self._order: list[Reply] = []
        self._active: set[str] = set()
        self._client_events: dict[str, tuple[str, float]] = {}
        self._calls: dict[str, tuple[str | None, float]] = {}
        self._outputs: dict[str, float] = {}

    # ------------------------------------------------------------------ feeding

    def _use_dialect(self, flavour: str) -> None:
        self._dialect_known = True
        events = timeline_turns(flavour)
        if events is not None and self.timeline is None:
            from .timeline import TimelineTurns

            self.timeline = TimelineTurns(self, events)

    def feed_all(self, events: Iterable[EventRecord]) -> None:
        for ev in events:
            self.feed(ev)

    def feed(self, ev: EventRecord) -> None:
        """Take one recorded event."""
        etype = ev.type
        if etype is None:
            return
        if self.timeline is not None:
            self.timeline.feed(ev)
            return
        direction = ev.direction
        kind = batch_of(direction, etype)
        if kind is Batch.SKIP:
            return
        t = ev.t_ns / 1e6
        if kind is Batch.APPENDS:
            self.feed_appends((t,), (ev.audio_bytes,), (ev.event_id,))
            return
        if kind is Batch.AUDIO_DELTAS:
            self.feed_audio_deltas((t,), (ev.response_id,), (ev.item_id,), (ev.audio_bytes,),
                                   (ev.delivered,))
            return
        if kind is Batch.TEXT_DELTAS:
            self.feed_text_deltas((t,), (ev.response_id,))
            return
        if direction == _SERVER:
            if etype == FUNCTION_ARGS_DONE and ev.call_id:
                self._calls[ev.call_id] = (ev.response_id, t)
                reply = self._replies.get(ev.response_id or "")
                if reply is not None:
                    reply.call_ids.append(ev.call_id)
                return
        else:
            if ev.event_id:
                self._client_events[ev.event_id] = (etype, t)
                if len(self._client_events) > MAX_APPENDS:
                    del self._client_events[next(iter(self._client_events))]
            if etype == INPUT_AUDIO_COMMIT:
                self._commit(t)
                return
            if etype == RESPONSE_CREATE:
                self._create(ev, t)
                return
        if etype in STATE_TYPES or (direction, etype) in _DECODED:
            event = decode_event(ev.data)
            if event is None:
                return
            if not self._dialect_known and etype in STATE_TYPES:
                flavour = flavour_from_event(direction, event)
                if flavour is not None:
                    self._use_dialect(str(flavour))
                if self.timeline is not None:
                    self.timeline.feed_decoded(ev, event)
                    return
            if etype in STATE_TYPES:
                self.state.observe(direction, etype, event)
            handler = _HANDLERS.get((direction, etype))
            if handler is not None:
                handler(self, ev, event, t)

    # ------------------------------------------------------------------ input clock

    def feed_appends(self, t_ms: Sequence[float], nbytes: Sequence[int],
                     event_ids: Sequence[str | None]) -> None:
        """Client audio appends with no other event between them (session ms, audio bytes,
        event ids): what :meth:`feed` does with each, in one call."""
        fmt = self.state.input
        per_sample, per_ms = fmt.bytes_per_sample, fmt.bytes_per_ms  # ms_of, hoisted
        ends, ts = self._append_ends, self._append_ts
        input_ms = self._input_ms
        for i, (t, n) in enumerate(zip(t_ms, nbytes, strict=True)):
            if n % per_sample:
                self.obs.bad_appends.append((t, event_ids[i], n))
            input_ms += n / per_ms
            if ts and ts[-1] == t:
                ends[-1] = input_ms
                continue
            ends.append(input_ms)
            ts.append(t)
            if len(ends) > 2 * MAX_APPENDS:
                del ends[:MAX_APPENDS], ts[:MAX_APPENDS]
        self._input_ms = input_ms

    def input_to_session(self, audio_ms: float) -> float | None:
        """Session time at which input-audio position ``audio_ms`` was captured."""
        ends = self._append_ends
        if not ends:
            return None
        i = bisect.bisect_left(ends, audio_ms)
        if i >= len(ends):
            return self._append_ts[-1] + (audio_ms - ends[-1])
        return self._append_ts[i] - (ends[i] - audio_ms)

    # ------------------------------------------------------------------ user turns

    def _speech_started(self, ev: EventRecord, event: dict[str, Any], t: float) -> None:
        start = _num(event.get("audio_start_ms"))
        user = UserTurn(ev.item_id, started_t=t)
        if start is not None:
            pad = self.state.vad_settings.prefix_padding_ms or 0
            mapped = self.input_to_session(start + pad)
            user.speech_start_t = min(mapped, t) if mapped is not None else None
        self._user = user
        self._users.append(user)
        self._pending_trigger = None
        for heard in self._last_heard:
            reply = self._replies.get(heard.response_id or "")
            if reply is not None and reply.interrupted_t is None and heard.playing_at(t):
                reply.interrupted_t, reply.interrupted_by = t, user

    def _speech_stopped(self, ev: EventRecord, event: dict[str, Any], t: float) -> None:
        user = self._user
        if user is None or (ev.item_id and user.item_id and ev.item_id != user.item_id):
            user = UserTurn(ev.item_id)
            self._users.append(user)
        user.stopped_t = t
        end = _num(event.get("audio_end_ms"))
        if end is not None:
            user.audio_end_ms = end
            silence = self.state.vad_settings.silence_ms or 0
            mapped = self.input_to_session(max(0.0, end - silence))
            user.speech_end_t = min(mapped, t) if mapped is not None else None
        self._pending_trigger = ("speech_stopped", t, user)
        self._user = None

    def _commit(self, t: float) -> None:
        user = UserTurn(None, committed_t=t)
        self._users.append(user)
        self._pending_trigger = ("commit", t, user)

    # ------------------------------------------------------------------ responses

    def _create(self, ev: EventRecord, t: float) -> None:
        if self._active:
            self.obs.creates_while_active.append((t, ev.event_id, next(iter(self._active))))
        if self._pending_trigger is None:
            self._pending_trigger = ("response.create", t, None)

    def _created(self, ev: EventRecord, event: dict[str, Any], t: float) -> None:
        rid = ev.response_id
        if not rid:
            return
        reply = Reply(rid, t)
        if self._pending_trigger is not None:
            reply.trigger, reply.trigger_t, reply.user = self._pending_trigger
            if reply.user is not None:
                reply.user.replied = True
        self._pending_trigger = None
        self._replies[rid] = reply
        self._order.append(reply)
        self._active.add(rid)

    def _done(self, ev: EventRecord, event: dict[str, Any], t: float) -> None:
        rid = ev.response_id
        self._active.discard(rid or "")
        reply = self._replies.get(rid or "")
        if reply is None:
            return
        body = event.get("response")
        status = body.get("status") if isinstance(body, dict) else None
        reply.status = status if isinstance(status, str) else None
        reply.done_t = t

    def feed_text_deltas(self, t_ms: Sequence[float], response_ids: Sequence[str | None]
                         ) -> None:
        """Server text and transcript deltas with no other event between them."""
        replies = self._replies
        for t, rid in zip(t_ms, response_ids, strict=True):
            reply = replies.get(rid or "")
            if reply is not None and reply.first_text_t is None:
                reply.first_text_t = t

    def feed_audio_deltas(self, t_ms: Sequence[float], response_ids: Sequence[str | None],
                          item_ids: Sequence[str | None], nbytes: Sequence[int],
                          delivered: Sequence[bool]) -> None:
        """Server audio deltas with no other event between them: what :meth:`feed` does
        with each, in one call (the formats in force cannot change in between)."""
        per_ms: dict[str | None, float] = {}
        for t, rid, item, n, ok in zip(t_ms, response_ids, item_ids, nbytes, delivered,
                                       strict=True):
            key = item or f"{rid}:audio"
            heard = self._items.get(key)
            if heard is None:
                heard = self._items[key] = Heard(key, rid)
                reply = self._replies.get(rid or "")
                if reply is not None:
                    reply.items.append(heard)
                self._last_heard.append(heard)
                if len(self._last_heard) > 8:
                    del self._last_heard[0]
            rate = per_ms.get(rid)
            if rate is None:
                rate = per_ms[rid] = self.state.output_for(rid).bytes_per_ms
            ms = n / rate  # AudioFormat.ms_of
            heard.sent_ms += ms
            if heard.first_sent_t is None:
                heard.first_sent_t = t
            if not ok or heard.cut_t is not None:
                continue
            heard.delivered_ms += ms
            start = max(t, self._player_end)
            end = start + ms
            segs = heard.segments
            if segs and abs(segs[-1][1] - start) < 1e-6:
                segs[-1][1] = end
            else:
                segs.append([start, end])
            self._player_end = end

    def _truncate(self, ev: EventRecord, event: dict[str, Any], t: float) -> None:
        item_id = event.get("item_id") if isinstance(event.get("item_id"), str) else None
        heard = self._items.get(item_id or "")
        speech_t = None
        reply = self._replies.get(heard.response_id or "") if heard is not None else None
        if reply is not None and reply.interrupted_t is not None and reply.yield_t is None:
            reply.yield_t, reply.yield_by = t, "truncate"
            speech_t = reply.interrupted_t
        self.obs.truncates.append(Truncate(
            t, ev.event_id, item_id, _num(event.get("audio_end_ms")),
            heard.delivered_ms if heard is not None else None,
            heard.heard_ms_at(t) if heard is not None else None, speech_t))
        if heard is not None and heard.cut_t is None:
            heard.cut_t = t
        self._player_end = min(self._player_end, t)

    def _cancel(self, ev: EventRecord, event: dict[str, Any], t: float) -> None:
        rid = event.get("response_id") if isinstance(event.get("response_id"), str) else None
        targets = [self._replies[r] for r in ([rid] if rid else list(self._active))
                   if r in self._replies]
        for reply in targets:
            if reply.interrupted_t is not None and reply.yield_t is None and reply.done_t is None:
                reply.yield_t, reply.yield_by = t, "cancel"

    def _item_create(self, ev: EventRecord, event: dict[str, Any], t: float) -> None:
        item = event.get("item")
        if isinstance(item, dict) and item.get("type") == FUNCTION_CALL_OUTPUT:
            call = item.get("call_id")
            if isinstance(call, str) and call not in self._outputs:
                self._outputs[call] = t

    def _error(self, ev: EventRecord, event: dict[str, Any], t: float) -> None:
        err = raw if isinstance(raw := event.get("error"), dict) else {}
        code, msg, eid = err.get("code"), err.get("message"), err.get("event_id")
        eid = eid if isinstance(eid, str) else None
        etype = self._client_events.get(eid or "", (None, 0.0))[0]
        self.obs.errors.append(ServerError(t, code if isinstance(code, str) else None,
                                           msg if isinstance(msg, str) else None, eid, etype))

    # ------------------------------------------------------------------ results

    def finish(self) -> list[Turn]:
        """The session's turns in order; fills :attr:`obs` with tool calls."""
        if self.timeline is not None:
            return self.timeline.finish()
        self.obs.tools = [ToolCall(call, rid, t, self._outputs.get(call))
                          for call, (rid, t) in self._calls.items()]
        speech = [(u.speech_start_t if u.speech_start_t is not None else u.started_t,
                   u.speech_end_t if u.speech_end_t is not None else u.stopped_t)
                  for u in self._users if u.started_t is not None]
        rows: list[Turn] = []
        for reply in self._order:
            rows.append(self._row(len(rows), reply, speech))
        for user in self._users:
            if not user.replied:
                rows.append(self._user_row(len(rows), user))
        rows.sort(key=lambda r: _sort_key(r))
        return [_renumber(r, i) for i, r in enumerate(rows)]

    def _row(self, n: int, reply: Reply, speech: Sequence[tuple[float | None, float | None]]
             ) -> Turn:
        user = reply.user
        heard_t = reply.first_heard_t
        end_t = user.speech_end_t if user is not None else None
        talk = 0.0
        for item in reply.items:
            for lo, hi in speech:
                if lo is not None:
                    talk += item.overlap(lo, hi if hi is not None else math.inf)
        final = [h.end_t() for h in reply.items]
        call = reply.call_ids[0] if reply.call_ids else None
        out_t = self._outputs.get(call) if call else None
        done_t = self._calls[call][1] if call else None
        first_text_from = end_t if end_t is not None else reply.trigger_t
        return Turn(
            turn=n, user_item_id=user.item_id if user else None, response_id=reply.response_id,
            item_id=reply.items[0].item_id if reply.items else None, trigger=reply.trigger,
            status=reply.status,
            speech_started_t_ms=_round(user.speech_start_t if user else None),
            speech_end_t_ms=_round(end_t),
            speech_stopped_t_ms=_round(user.stopped_t if user else None),
            vad_wait_ms=_round(user.stopped_t - end_t if user and user.stopped_t is not None
                               and end_t is not None else None),
            response_created_t_ms=_round(reply.created_t),
            first_audio_sent_t_ms=_round(reply.first_sent_t),
            first_audio_heard_t_ms=_round(heard_t),
            first_text_t_ms=_round(reply.first_text_t),
            perceived_latency_ms=_round(heard_t - end_t if heard_t is not None
                                        and end_t is not None else None),
            first_text_latency_ms=_round(reply.first_text_t - first_text_from
                                         if reply.first_text_t is not None
                                         and first_text_from is not None else None),
            audio_sent_ms=_round(sum(h.sent_ms for h in reply.items)) if reply.items else None,
            audio_heard_ms=_round(sum(h.heard_ms_at(e) for h, e in zip(reply.items, final,
                                                                       strict=True)
                                      if e is not None)) if reply.items else None,
            talk_over_ms=_round(talk) if reply.items else None,
            interrupted=reply.interrupted_t is not None,
            interrupted_t_ms=_round(reply.interrupted_t),
            yield_latency_ms=_round(reply.yield_t - reply.interrupted_t
                                    if reply.yield_t is not None
                                    and reply.interrupted_t is not None else None),
            yield_by=reply.yield_by, tool_call_id=call,
            tool_round_trip_ms=_round(out_t - done_t if out_t is not None
                                      and done_t is not None else None),
        )

    @staticmethod
    def _user_row(n: int, user: UserTurn) -> Turn:
        return Turn(
            turn=n, user_item_id=user.item_id, response_id=None, item_id=None, trigger=None,
            status=None, speech_started_t_ms=_round(user.speech_start_t),
            speech_end_t_ms=_round(user.speech_end_t),
            speech_stopped_t_ms=_round(user.stopped_t),
            vad_wait_ms=_round(user.stopped_t - user.speech_end_t
                               if user.stopped_t is not None and user.speech_end_t is not None
                               else None),
            response_created_t_ms=None, first_audio_sent_t_ms=None,
            first_audio_heard_t_ms=None, first_text_t_ms=None, perceived_latency_ms=None,
            first_text_latency_ms=None, audio_sent_ms=None, audio_heard_ms=None,
            talk_over_ms=None, interrupted=False, interrupted_t_ms=None, yield_latency_ms=None,
            yield_by=None, tool_call_id=None, tool_round_trip_ms=None)

    @property
    def replies(self) -> list[Reply]:
        """The session's responses in order of creation."""
        return self._order

    def heard_item(self, item_id: str) -> Heard | None:
        return self._items.get(item_id)


def _sort_key(row: Turn) -> float:
    for v in (row.speech_stopped_t_ms, row.response_created_t_ms, row.speech_started_t_ms):
        if v is not None:
            return v
    return math.inf


def _renumber(row: Turn, n: int) -> Turn:
    return replace(row, turn=n)


_HANDLERS: dict[tuple[str, str], Any] = {
    (_SERVER, SPEECH_STARTED): TurnAnalyzer._speech_started,
    (_SERVER, SPEECH_STOPPED): TurnAnalyzer._speech_stopped,
    (_SERVER, RESPONSE_CREATED): TurnAnalyzer._created,
    (_SERVER, RESPONSE_DONE): TurnAnalyzer._done,
    (_SERVER, ERROR): TurnAnalyzer._error,
    (_CLIENT, ITEM_TRUNCATE): TurnAnalyzer._truncate,
    (_CLIENT, RESPONSE_CANCEL): TurnAnalyzer._cancel,
    (_CLIENT, ITEM_CREATE): TurnAnalyzer._item_create,
}


def analyse(events: Iterable[EventRecord]) -> tuple[list[Turn], Observations, TurnAnalyzer]:
    """Turns and observations of one session's events (in ``seq`` order)."""
    analyzer = TurnAnalyzer()
    analyzer.feed_all(events)
    turns = analyzer.finish()
    return turns, analyzer.obs, analyzer
