"""Checking stored sessions: stream each one's events through the turn analysis and rules."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..store import SessionRecord, Store
from .rules import RuleSet, SessionResult, evaluate
from .turns import Observations, Turn, TurnAnalyzer


def session_turns(store: Store, rec: SessionRecord) -> tuple[list[Turn], Observations, int]:
    """The turns and observations of one stored session, and how many events it has."""
    analyzer = TurnAnalyzer()
    n = 0
    for ev in store.events(rec.id):
        analyzer.feed(ev)
        n += 1
    return analyzer.finish(), analyzer.obs, n


def check_session(store: Store, rec: SessionRecord, rules: RuleSet | None = None
                  ) -> SessionResult:
    """One session checked against ``rules`` (the built-in defaults if None)."""
    turns, obs, n = session_turns(store, rec)
    return SessionResult(rec.id, n, evaluate(rec, turns, obs, rules or RuleSet()))


def check_records(store: Store, records: Iterable[SessionRecord], rules: RuleSet
                  ) -> Iterator[SessionResult]:
    """Sessions checked one at a time (memory bounded by the largest session)."""
    for rec in records:
        yield check_session(store, rec, rules)
