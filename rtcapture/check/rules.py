"""The built-in rules of ``rtcapture check``, their thresholds, and the rules file.

Every rule looks at one session's turn analysis (:mod:`rtcapture.check.turns`) and its
session record and returns :class:`Violation` values (a plain data API).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..protocol import ITEM_TRUNCATE
from ..store import SessionRecord, Status
from .timeline import YIELD_BY_MODEL
from .turns import Observations, Turn

RULE_IDS: tuple[str, ...] = (
    "barge-in.missing-truncate", "barge-in.late-truncate", "barge-in.beyond-delivered",
    "barge-in.short-of-heard", "barge-in.truncate-error", "barge-in.late-yield",
    "latency.perceived", "latency.perceived-p95", "latency.first-text", "latency.tool-round-trip",
    "errors.server-error", "errors.response-failed", "errors.session-incomplete",
    "errors.abnormal-close",
    "hygiene.rejected-event", "hygiene.audio-format", "hygiene.create-while-active",
)


@dataclass(frozen=True)
class Thresholds:
    """Limits of the built-in rules (the ``[thresholds]`` table of a rules file)."""

    truncate_within_ms: float = 500.0
    audio_end_tolerance_ms: float = 200.0
    perceived_latency_ms: float = 2000.0
    perceived_latency_p95_ms: float = 1500.0
    first_text_latency_ms: float = 2000.0
    tool_round_trip_ms: float = 5000.0
    yield_within_ms: float = 1000.0
    """GPT-Live: assistant audio the user may still hear after starting to talk over it."""


@dataclass(frozen=True)
class RuleSet:
    """Thresholds, the error codes allowed, normal close codes and disabled rules."""

    thresholds: Thresholds = Thresholds()
    allow_error_codes: frozenset[str] = frozenset()
    normal_close_codes: frozenset[int] = frozenset({1000, 1001, 1005})
    disabled: frozenset[str] = frozenset()

    def enabled(self) -> tuple[str, ...]:
        return tuple(r for r in RULE_IDS if r not in self.disabled)


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule."""

    rule: str
    session_id: str
    t_ms: float | None
    item_id: str | None
    response_id: str | None
    expected: str
    observed: str
    hint: str

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def load_rules(path: Path | None) -> RuleSet:
    """A rule set from a TOML rules file (None: the built-in defaults)."""
    if path is None:
        return RuleSet()
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read rules file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"rules file {path}: {exc}") from None
    unknown = set(doc) - {"thresholds", "allow_error_codes", "normal_close_codes", "disable"}
    if unknown:
        raise UsageError(f"rules file {path}: unknown key {sorted(unknown)[0]!r}")
    names = {f.name for f in fields(Thresholds)}
    raw = doc.get("thresholds", {})
    if not isinstance(raw, dict):
        raise UsageError(f"rules file {path}: [thresholds] must be a table")
    values: dict[str, float] = {}
    for key, value in raw.items():
        if key not in names:
            raise UsageError(f"rules file {path}: unknown threshold {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise UsageError(f"rules file {path}: threshold {key} must be a number >= 0")
        values[key] = float(value)
    disabled = _strings(doc.get("disable", []), path, "disable")
    bad = disabled - set(RULE_IDS)
    if bad:
        raise UsageError(f"rules file {path}: unknown rule {sorted(bad)[0]!r}")
    closes = doc.get("normal_close_codes", [1000, 1001, 1005])
    if not isinstance(closes, list) or not all(isinstance(c, int) and not isinstance(c, bool)
                                               for c in closes):
        raise UsageError(f"rules file {path}: normal_close_codes must be a list of integers")
    return RuleSet(replace(Thresholds(), **values),
                   _strings(doc.get("allow_error_codes", []), path, "allow_error_codes"),
                   frozenset(closes), disabled)


def _strings(value: Any, path: Path, key: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"rules file {path}: {key} must be a list of strings")
    return frozenset(value)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def evaluate(rec: SessionRecord, turns: list[Turn], obs: Observations, rules: RuleSet
             ) -> list[Violation]:
    """Every violation of one session, in time order."""
    th = rules.thresholds
    sid = rec.id
    out: list[Violation] = []

    def add(rule: str, t: float | None, item: str | None, resp: str | None, expected: str,
            observed: str, hint: str) -> None:
        if rule not in rules.disabled:
            out.append(Violation(rule, sid, None if t is None else round(t, 3), item, resp,
                                 expected, observed, hint))

    truncated_errors = {e.client_event_id for e in obs.errors
                        if e.client_event_type == ITEM_TRUNCATE}
    for turn in turns:
        if turn.yield_by == YIELD_BY_MODEL:  # GPT-Live: the model stops by itself
            if turn.yield_latency_ms is not None \
                    and turn.yield_latency_ms > th.yield_within_ms:
                add("barge-in.late-yield", turn.interrupted_t_ms, turn.item_id,
                    turn.response_id, f"<= {th.yield_within_ms:g} ms of assistant audio "
                    "heard after the user began to speak",
                    f"{turn.yield_latency_ms:g} ms", "keep streaming input audio while the "
                    "assistant talks (never mute it) and play output as it arrives, without "
                    "a deep buffer")
        elif turn.interrupted and turn.yield_latency_ms is None:
            add("barge-in.missing-truncate", turn.interrupted_t_ms, turn.item_id,
                turn.response_id, "a truncate (or cancel) after speech_started",
                "none: the assistant kept talking", "on speech_started, stop playback and "
                "send conversation.item.truncate with the ms played")
        elif turn.yield_latency_ms is not None and turn.yield_latency_ms > th.truncate_within_ms:
            add("barge-in.late-truncate", (turn.interrupted_t_ms or 0) + turn.yield_latency_ms,
                turn.item_id, turn.response_id, f"<= {th.truncate_within_ms:g} ms",
                f"{turn.yield_latency_ms:g} ms", "truncate as soon as speech_started arrives")
        if turn.perceived_latency_ms is not None \
                and turn.perceived_latency_ms > th.perceived_latency_ms:
            add("latency.perceived", turn.first_audio_heard_t_ms, turn.item_id, turn.response_id,
                f"<= {th.perceived_latency_ms:g} ms", f"{turn.perceived_latency_ms:g} ms",
                "the user waited this long after speaking for the first audio")
        if turn.first_text_latency_ms is not None \
                and turn.first_text_latency_ms > th.first_text_latency_ms:
            add("latency.first-text", turn.first_text_t_ms, turn.item_id, turn.response_id,
                f"<= {th.first_text_latency_ms:g} ms", f"{turn.first_text_latency_ms:g} ms",
                "the first text or transcript delta came late")
        if turn.status in ("failed", "incomplete"):
            add("errors.response-failed", turn.response_created_t_ms, turn.item_id,
                turn.response_id, "status completed or cancelled", f"status {turn.status}",
                "see the response.done status_details")
    perceived = [t.perceived_latency_ms for t in turns if t.perceived_latency_ms is not None]
    if perceived and _p95(perceived) > th.perceived_latency_p95_ms:
        add("latency.perceived-p95", None, None, None, f"<= {th.perceived_latency_p95_ms:g} ms",
            f"{_p95(perceived):g} ms over {len(perceived)} turns",
            "most turns answer too slowly")
    for tr in obs.truncates:
        if tr.audio_end_ms is None:
            continue
        if tr.delivered_ms is not None and tr.audio_end_ms > tr.delivered_ms + 1:
            add("barge-in.beyond-delivered", tr.t_ms, tr.item_id, None,
                f"audio_end_ms <= {tr.delivered_ms:g} (delivered)",
                f"audio_end_ms {tr.audio_end_ms:g}",
                "count only audio received and played, not the response's full length")
        elif tr.heard_ms is not None \
                and tr.audio_end_ms < tr.heard_ms - th.audio_end_tolerance_ms:
            add("barge-in.short-of-heard", tr.t_ms, tr.item_id, None,
                f"audio_end_ms >= {tr.heard_ms - th.audio_end_tolerance_ms:g} "
                f"(heard {tr.heard_ms:g})", f"audio_end_ms {tr.audio_end_ms:g}",
                "the model will think the user heard less than they did")
    for err in obs.errors:
        code = err.code or "?"
        if err.client_event_id in truncated_errors:
            add("barge-in.truncate-error", err.t_ms, None, None, "truncate accepted",
                f"error {code}: {err.message or ''}"[:200], "fix the truncate's item id or "
                "audio_end_ms")
        elif err.code in rules.allow_error_codes:
            continue
        elif err.client_event_type is not None:
            add("hygiene.rejected-event", err.t_ms, None, None,
                f"{err.client_event_type} accepted", f"error {code}: {err.message or ''}"[:200],
                "the server refused a client event")
        else:
            add("errors.server-error", err.t_ms, None, None, "no error events",
                f"error {code}: {err.message or ''}"[:200],
                "allow the code in the rules file if it is expected")
    for tool in obs.tools:
        rtt = None if tool.output_t is None else tool.output_t - tool.done_t
        if rtt is not None and rtt > th.tool_round_trip_ms:
            add("latency.tool-round-trip", tool.output_t, None, tool.response_id,
                f"<= {th.tool_round_trip_ms:g} ms", f"{rtt:g} ms (call {tool.call_id})",
                "the tool answered slowly")
    for t, eid, active in obs.creates_while_active:
        add("hygiene.create-while-active", t, None, active, "no response active",
            f"response.create{f' {eid}' if eid else ''} while {active} was active",
            "wait for response.done or cancel first")
    for t, _eid, nbytes in obs.bad_appends:
        add("hygiene.audio-format", t, None, None, "whole samples of the session's input format",
            f"{nbytes} bytes appended", "append audio in the format session.update set")
    if rec.status == Status.INCOMPLETE:
        add("errors.session-incomplete", None, None, None, "a complete recording",
            f"status incomplete{f' ({rec.status_reason})' if rec.status_reason else ''}",
            "frames were lost or the recorder stopped")
    if rec.close_code is not None and rec.close_code not in rules.normal_close_codes:
        add("errors.abnormal-close", None, None, None,
            f"close code in {sorted(rules.normal_close_codes)}",
            f"close code {rec.close_code}{f' {rec.close_reason}' if rec.close_reason else ''}",
            "the connection ended abnormally")
    out.sort(key=lambda v: (v.t_ms is None, v.t_ms or 0.0))
    return out


@dataclass
class SessionResult:
    """One checked session: its id, events read and violations."""

    session_id: str
    events: int
    violations: list[Violation] = field(default_factory=list)
