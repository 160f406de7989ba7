"""Turn analysis of a dialect whose speech sits on a session timeline (GPT-Live).

There are no responses, VAD events or truncation: the turns are the *utterances* the
dialect's transcript fragments make (:meth:`TimelineTurnEvents.utterances`), each assistant
utterance a reply to the user utterance right before it. Which events to read comes from
:data:`rtcapture.protocol.turns.TIMELINE_TURNS`.

Clocks (see :mod:`rtcapture.check.turns` for session time and input-audio time):

- *Timeline ms* (``start_ms`` / ``end_ms`` of fragments) run with the input audio: a user
  fragment's position is mapped onto session time through the input clock, when the
  fragment arrives.
- The output is one continuous track from timeline zero: output position ``p`` ms is
  carried by the delta whose cumulative audio passes ``p``. It was *sent* when that delta
  arrived and *heard* when the player reached it: the player plays each delta at real time
  from its arrival or the end of the one before, whichever is later (undelivered deltas are
  not heard). An assistant utterance's first audio is the track at its ``start_ms``.
- A delegated backend response that ends ``failed`` / ``incomplete`` (inside the wrapper
  event) marks the turn of the user utterance before it: its reply, else the user row.
- Barge-in: a user utterance starting inside an assistant utterance interrupts it; the
  model stops by itself (``yield_by`` ``model``), and the yield latency is how long the
  user still heard the assistant after starting to speak (up to the track at the
  assistant's ``end_ms``).
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..protocol import STATE_TYPES, Direction, decode_event, error_code
from ..protocol.live import Utterance
from ..protocol.turns import TimelineTurnEvents
from ..store import EventRecord
from .turns import MAX_APPENDS, ServerError, ToolCall, Turn

if TYPE_CHECKING:
    from .turns import TurnAnalyzer

YIELD_BY_MODEL = "model"
"""``yield_by`` of a timeline turn: the model stopped talking by itself."""
TRIGGER_SPEECH = "speech"
_CLIENT = str(Direction.CLIENT)
_KEPT = ("type", "delta", "start_ms", "end_ms")


def utterance_id(index: int) -> str:
    """The id a timeline turn gives an utterance: ``utterance-N`` (the ``utterances``
    table's ``utterance`` number)."""
    return f"utterance-{index}"


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


@dataclass
class CallRecord:
    """A function call the model (or a delegated backend) made, and the output the client
    returned; the report's tool entries for both dialects."""

    t_ms: float
    seq: int
    call_id: str | None
    name: str | None
    arguments: str | None
    response_id: str | None
    output: str | None = None
    output_t_ms: float | None = None
    output_seq: int | None = None


@dataclass(frozen=True, slots=True)
class BackendFailure:
    """A delegated backend response that ended badly."""

    t_ms: float
    seq: int
    response_id: str | None
    status: str
    created_t_ms: float | None
    """When the backend response was created (its wrapped ``response.created``)."""


@dataclass
class TimelineReply:
    """One assistant utterance with its timing in session time."""

    index: int
    utterance: Utterance
    user: Utterance | None
    user_index: int | None
    turn: Turn
    sent_start_t: float | None
    sent_end_t: float | None
    heard_end_t: float | None
    done_t: float | None
    seqs: list[int] = field(default_factory=list)

    @property
    def latency_ms(self) -> float | None:
        """Timeline latency: the utterance's ``start_ms`` minus the user's ``end_ms``."""
        return None if self.user is None else self.utterance.start_ms - self.user.end_ms


@dataclass
class TimelineUser:
    """One user utterance with its span in session time."""

    index: int
    utterance: Utterance
    start_t: float | None
    end_t: float | None


class TimelineTurns:
    """Follows a timeline session's events for a :class:`TurnAnalyzer` (its input clock,
    session state and observations); :meth:`finish` gives the turns."""

    def __init__(self, analyzer: TurnAnalyzer, events: TimelineTurnEvents) -> None:
        self.an = analyzer
        self.events = events
        self._fragments: list[tuple[int | None, dict[str, Any]]] = []
        self._arrival: dict[int, float] = {}
        self._session_at: dict[float, float] = {}
        """Timeline ms of user fragment boundaries -> session ms (mapped on arrival)."""
        self._track_end = array("d")
        self._track_t = array("d")
        self._play_start = array("d")
        self._pos = 0.0
        self._player_end = -math.inf
        self._client_events: dict[str, tuple[str, float]] = {}
        self.calls: list[CallRecord] = []
        self._calls: dict[str, CallRecord] = {}
        self._backend: dict[str | None, tuple[str, float]] = {}
        """Delegation id -> its latest backend response (id, first seen)."""
        self.failures: list[BackendFailure] = []
        self.replies: list[TimelineReply] = []
        self.users: list[TimelineUser] = []

    # ------------------------------------------------------------------ feeding

    def feed(self, ev: EventRecord) -> None:
        """Take one recorded event (``ev.type`` is not None)."""
        etype = ev.type
        assert etype is not None
        t = ev.t_ns / 1e6
        ev_ = self.events
        if ev.direction == _CLIENT:
            if etype in ev_.input_audio:
                self.an.feed_appends((t,), (ev.audio_bytes,), (ev.event_id,))
                return
            if ev.event_id:
                self._client_events[ev.event_id] = (etype, t)
                if len(self._client_events) > MAX_APPENDS:
                    del self._client_events[next(iter(self._client_events))]
            if etype not in STATE_TYPES and etype != ev_.tool_output:
                return
        elif etype in ev_.output_audio:
            self._output(ev, t)
            return
        elif etype not in STATE_TYPES and etype not in ev_.decoded_server:
            return
        event = decode_event(ev.data)
        if event is not None:
            self.feed_decoded(ev, event)

    def feed_decoded(self, ev: EventRecord, event: Mapping[str, Any]) -> None:
        """Take one event whose payload is decoded."""
        etype = ev.type or ""
        t = ev.t_ns / 1e6
        ev_ = self.events
        if etype in STATE_TYPES:
            self.an.state.observe(ev.direction, etype, event)
        if ev.direction == _CLIENT:
            item = ev_.tool_output_item(event)
            call = self._calls.get(item["call_id"]) if item is not None else None
            if item is not None and call is not None and call.output_t_ms is None:
                out = item.get("output")
                call.output = out if isinstance(out, str) else None
                call.output_t_ms, call.output_seq = t, ev.seq
            return
        speaker = ev_.speaker_of.get(etype)
        if speaker is not None:
            self._fragment(ev, event, speaker, t)
        elif etype == ev_.error:
            self._error(event, t)
        else:
            response_id = self._backend_event(ev, event, t)
            item = ev_.tool_call(event)
            if item is not None and item["call_id"] not in self._calls:
                name, args = item.get("name"), item.get("arguments")
                call = CallRecord(t, ev.seq, item["call_id"],
                                  name if isinstance(name, str) else None,
                                  args if isinstance(args, str) else None,
                                  ev.response_id or response_id)
                self._calls[item["call_id"]] = call
                self.calls.append(call)

    def _backend_event(self, ev: EventRecord, event: Mapping[str, Any], t: float
                       ) -> str | None:
        """Follow a wrapped backend event; the backend response it belongs to (named in
        it, else the delegation's latest one)."""
        delegation = self.events.delegation_of(event)
        named = self.events.backend_response(event)
        known = self._backend.get(delegation)
        if named is not None and (known is None or known[0] != named):
            known = self._backend[delegation] = (named, t)
        response_id = named or (known[0] if known else None)
        status = self.events.backend_failure(event)
        if status is not None:
            created = known[1] if known is not None and known[0] == response_id else t
            self.failures.append(BackendFailure(t, ev.seq, response_id, status, created))
        return response_id

    def _fragment(self, ev: EventRecord, event: Mapping[str, Any], speaker: str,
                  t: float) -> None:
        span = self.events.span(event)
        if span is None:
            return
        self._fragments.append((ev.seq, {k: event[k] for k in _KEPT if k in event}))
        self._arrival[ev.seq] = t
        if speaker == "user":
            for ms in span:
                mapped = self.an.input_to_session(ms)
                if mapped is not None:
                    self._session_at.setdefault(ms, min(mapped, t))

    def _error(self, event: Mapping[str, Any], t: float) -> None:
        err = event.get("error")
        msg = err.get("message") if isinstance(err, dict) else None
        cause = self.events.error_cause(event)
        kind = self._client_events.get(cause or "", (None, 0.0))[0]
        self.an.obs.errors.append(ServerError(t, error_code(event),
                                              msg if isinstance(msg, str) else None,
                                              cause, kind))

    def _output(self, ev: EventRecord, t: float) -> None:
        ms = self.an.state.output.ms_of(ev.audio_bytes)
        self._pos += ms
        self._track_end.append(self._pos)
        self._track_t.append(t)
        if ev.delivered:
            start = max(t, self._player_end)
            self._player_end = start + ms
            self._play_start.append(start)
        else:
            self._play_start.append(math.nan)

    # ------------------------------------------------------------------ the track

    def _delta_at(self, pos: float, end: bool) -> int | None:
        """The delta carrying track position ``pos`` (``end``: the one it ends)."""
        ends = self._track_end
        i = (bisect.bisect_left if end else bisect.bisect_right)(ends, pos)
        return i if i < len(ends) else None

    def sent_at(self, pos: float, end: bool = False) -> float | None:
        """Session time the track's audio at ``pos`` arrived."""
        i = self._delta_at(pos, end)
        return None if i is None else self._track_t[i]

    def heard_at(self, pos: float, end: bool = False) -> float | None:
        """Session time the player played the track's audio at ``pos`` (None: never)."""
        i = self._delta_at(pos, end)
        if i is None or math.isnan(self._play_start[i]):
            return None
        return self._play_start[i] + pos - (self._track_end[i - 1] if i else 0.0)

    def heard_ms(self, lo: float, hi: float) -> float:
        """ms of the track between ``lo`` and ``hi`` that was delivered to the player."""
        ends, total = self._track_end, 0.0
        i = bisect.bisect_right(ends, lo)
        while i < len(ends):
            a = ends[i - 1] if i else 0.0
            if a >= hi:
                break
            if not math.isnan(self._play_start[i]):
                total += max(0.0, min(ends[i], hi) - max(a, lo))
            i += 1
        return total

    # ------------------------------------------------------------------ results

    def finish(self) -> list[Turn]:
        """The session's turns in order; fills the analyzer's observations."""
        utts = self.events.utterances(self._fragments)
        users = [(n, u) for n, u in enumerate(utts) if u.speaker == "user"]
        self.users = [TimelineUser(n, u, self._session_at.get(u.start_ms),
                                   self._session_at.get(u.end_ms)) for n, u in users]
        calls = sorted(self.calls, key=lambda c: c.t_ms)
        rows: list[Turn] = []
        replied: set[int] = set()
        for n, utt in enumerate(utts):
            if utt.speaker != "assistant":
                continue
            user_n = n - 1 if n and utts[n - 1].speaker == "user" else None
            if user_n is not None:
                replied.add(user_n)
            first_text = self._arrival.get(utt.first_seq) if utt.first_seq is not None \
                else None
            mine = [c for c in calls if first_text is not None and c.t_ms <= first_text]
            for c in mine:
                calls.remove(c)
            reply = self._reply(n, utt, user_n, utts, first_text, mine)
            self.replies.append(reply)
            rows.append(reply.turn)
        for user in self.users:
            if user.index not in replied:
                rows.append(self._user_row(user))
        rows = self._mark_failures(rows, utts)
        self.an.obs.tools = [ToolCall(c.call_id, c.response_id, c.t_ms, c.output_t_ms)
                             for c in self.calls]
        rows.sort(key=_sort_key)
        return [replace(r, turn=i) for i, r in enumerate(rows)]

    def _reply(self, n: int, utt: Utterance, user_n: int | None, utts: list[Utterance],
               first_text: float | None, calls: list[CallRecord]) -> TimelineReply:
        user = utts[user_n] if user_n is not None else None
        user_start = self._session_at.get(user.start_ms) if user else None
        user_end = self._session_at.get(user.end_ms) if user else None
        user_stopped = self._arrival.get(user.last_seq) \
            if user is not None and user.last_seq is not None else None
        over = next((u for u in utts[n + 1:] if u.speaker == "user"
                     and utt.start_ms <= u.start_ms < utt.end_ms), None)
        over_t = self._session_at.get(over.start_ms) if over is not None else None
        heard, sent = self.heard_at(utt.start_ms), self.sent_at(utt.start_ms)
        heard_end = self.heard_at(utt.end_ms, end=True)
        talk = sum(max(0.0, min(utt.end_ms, u.end_ms) - max(utt.start_ms, u.start_ms))
                   for u in utts if u.speaker == "user")
        call = calls[0] if calls else None
        turn = Turn(
            turn=0, user_item_id=utterance_id(user_n) if user_n is not None else None,
            response_id=call.response_id if call else None, item_id=utterance_id(n),
            trigger=TRIGGER_SPEECH if user is not None else None,
            status="interrupted" if over is not None else "completed",
            speech_started_t_ms=_round(user_start), speech_end_t_ms=_round(user_end),
            speech_stopped_t_ms=_round(user_stopped),
            vad_wait_ms=_round(_diff(user_stopped, user_end)),
            response_created_t_ms=_round(first_text), first_audio_sent_t_ms=_round(sent),
            first_audio_heard_t_ms=_round(heard), first_text_t_ms=_round(first_text),
            perceived_latency_ms=_round(_diff(heard, user_end)),
            first_text_latency_ms=_round(_diff(first_text, user_end)),
            audio_sent_ms=_round(utt.end_ms - utt.start_ms),
            audio_heard_ms=_round(self.heard_ms(utt.start_ms, utt.end_ms)),
            talk_over_ms=_round(talk), interrupted=over is not None,
            interrupted_t_ms=_round(over_t),
            yield_latency_ms=_round(_diff(heard_end, over_t)) if over is not None else None,
            yield_by=YIELD_BY_MODEL if over is not None else None,
            tool_call_id=call.call_id if call else None,
            tool_round_trip_ms=_round(_diff(call.output_t_ms, call.t_ms)) if call else None)
        seqs = [s for s in (utt.first_seq, utt.last_seq) if s is not None]
        last = self._arrival.get(utt.last_seq) if utt.last_seq is not None else None
        return TimelineReply(n, utt, user, user_n, turn, sent,
                             self.sent_at(utt.end_ms, end=True), heard_end,
                             heard_end if heard_end is not None else last, seqs)

    def _mark_failures(self, rows: list[Turn], utts: list[Utterance]) -> list[Turn]:
        """Each failed backend response marks the turn of the user utterance before it
        (its reply, else the user row; a row of its own when no one spoke before)."""
        for failure in self.failures:
            before = [n for n, u in enumerate(utts) if u.speaker == "user"
                      and u.last_seq is not None and u.last_seq < failure.seq]
            user_id = utterance_id(before[-1]) if before else None
            at = next((i for i, r in enumerate(rows) if user_id is not None
                       and r.user_item_id == user_id), None)
            if at is None:
                rows.append(replace(self._user_row(None), status=failure.status,
                                    response_id=failure.response_id,
                                    response_created_t_ms=_round(failure.created_t_ms)))
                continue
            row = rows[at]
            rows[at] = replace(
                row, status=failure.status, response_id=row.response_id or failure.response_id,
                response_created_t_ms=row.response_created_t_ms if row.item_id is not None
                else _round(failure.created_t_ms))
            for reply in self.replies:
                if reply.turn is row:
                    reply.turn = rows[at]
        return rows

    @staticmethod
    def _user_row(user: TimelineUser | None) -> Turn:
        return Turn(
            turn=0, user_item_id=utterance_id(user.index) if user else None, response_id=None,
            item_id=None, trigger=None, status=None,
            speech_started_t_ms=_round(user.start_t) if user else None,
            speech_end_t_ms=_round(user.end_t) if user else None, speech_stopped_t_ms=None,
            vad_wait_ms=None,
            response_created_t_ms=None, first_audio_sent_t_ms=None,
            first_audio_heard_t_ms=None, first_text_t_ms=None, perceived_latency_ms=None,
            first_text_latency_ms=None, audio_sent_ms=None, audio_heard_ms=None,
            talk_over_ms=None, interrupted=False, interrupted_t_ms=None, yield_latency_ms=None,
            yield_by=None, tool_call_id=None, tool_round_trip_ms=None)


def _sort_key(row: Turn) -> float:
    for v in (row.speech_started_t_ms, row.response_created_t_ms):
        if v is not None:
            return v
    return math.inf
