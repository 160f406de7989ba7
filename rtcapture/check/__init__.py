"""``rtcapture check``: turn analysis over recorded sessions and the rules it is held to.

Plain data API: :func:`check_session` returns a :class:`SessionResult` whose
``violations`` are :class:`Violation` dataclasses.
"""

from .rules import RULE_IDS, RuleSet, SessionResult, Thresholds, Violation, evaluate, load_rules
from .run import check_records, check_session, session_turns
from .turns import TURN_COLUMNS, Observations, Turn, TurnAnalyzer, analyse

__all__ = [
    "RULE_IDS", "TURN_COLUMNS", "Observations", "RuleSet", "SessionResult", "Thresholds",
    "Turn", "TurnAnalyzer", "Violation", "analyse", "check_records", "check_session",
    "evaluate", "load_rules", "session_turns",
]
