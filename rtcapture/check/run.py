"""Checking stored sessions: stream each one's events through the turn analysis and rules."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import groupby
from operator import attrgetter

from ..protocol import AUDIO_DELTA_TYPES, INPUT_AUDIO_APPEND
from ..protocol.turns import TIMELINE_UNREAD
from ..store import EventRecord, SessionRecord, Store
from .rules import RuleSet, SessionResult, evaluate
from .turns import Observations, Turn, TurnAnalyzer


def analyse_session(store: Store, rec: SessionRecord
                    ) -> tuple[TurnAnalyzer, list[Turn], int]:
    """One stored session's finished analyzer (for its details), its turns and how many
    events it has."""
    analyzer = TurnAnalyzer(flavour=rec.flavour)
    n = 0
    for ev in store.events(rec.id, without_data=UNREAD_TYPES):
        analyzer.feed(ev)
        n += 1
    return analyzer, analyzer.finish(), n


def session_turns(store: Store, rec: SessionRecord) -> tuple[list[Turn], Observations, int]:
    """The turns and observations of one stored session, and how many events it has."""
    analyzer, turns, n = analyse_session(store, rec)
    return turns, analyzer.obs, n


def check_session(store: Store, rec: SessionRecord, rules: RuleSet | None = None
                  ) -> SessionResult:
    """One session checked against ``rules`` (the built-in defaults if None)."""
    turns, obs, n = session_turns(store, rec)
    return SessionResult(rec.id, n, evaluate(rec, turns, obs, rules or RuleSet()))


UNREAD_TYPES: tuple[str, ...] = tuple(sorted(AUDIO_DELTA_TYPES | {INPUT_AUDIO_APPEND}
                                             | TIMELINE_UNREAD))
"""Events the turn analysis reads without their payload (their audio_bytes suffice)."""
BATCH_EVENTS = 20_000
"""Short sessions are read together, up to about this many events per query."""


def _evaluate(rec: SessionRecord, events: Iterable[EventRecord], rules: RuleSet
              ) -> SessionResult:
    analyzer = TurnAnalyzer(flavour=rec.flavour)
    n = 0
    for ev in events:
        analyzer.feed(ev)
        n += 1
    return SessionResult(rec.id, n, evaluate(rec, analyzer.finish(), analyzer.obs, rules))


def _check_batch(store: Store, batch: list[SessionRecord], rules: RuleSet
                 ) -> Iterator[SessionResult]:
    by_id = {rec.id: rec for rec in batch}
    done: set[str] = set()
    rows = store.events_in(list(by_id), without_data=UNREAD_TYPES)
    for sid, events in groupby(rows, key=attrgetter("session_id")):
        done.add(sid)
        yield _evaluate(by_id[sid], events, rules)
    for rec in batch:
        if rec.id not in done:
            yield _evaluate(rec, (), rules)


def check_records(store: Store, records: Iterable[SessionRecord], rules: RuleSet
                  ) -> Iterator[SessionResult]:
    """Sessions checked one at a time; short ones are read in batches (memory bounded by
    :data:`BATCH_EVENTS` or the largest session). Results come in the order given."""
    batch: list[SessionRecord] = []
    size = 0
    for rec in records:
        n = rec.client_events + rec.server_events
        if n >= BATCH_EVENTS:
            yield from _ordered(store, batch, rules)
            batch, size = [], 0
            yield check_session(store, rec, rules)
            continue
        if size + n > BATCH_EVENTS and batch:
            yield from _ordered(store, batch, rules)
            batch, size = [], 0
        batch.append(rec)
        size += n
    yield from _ordered(store, batch, rules)


def _ordered(store: Store, batch: list[SessionRecord], rules: RuleSet
             ) -> Iterator[SessionResult]:
    if not batch:
        return
    results = {r.session_id: r for r in _check_batch(store, batch, rules)}
    for rec in batch:
        yield results[rec.id]
