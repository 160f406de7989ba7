"""Diff and replay output: the terminal summary and the ``--report`` JSON document.

The summary is plain text with terminal styles (:mod:`rtcapture.style`; the CLI drops
the colours when stdout is not a terminal). Both outputs pass through secret redaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..protocol import ClosedBy, redact_text
from ..render import session_json
from ..style import style
from .diff import Difference, DiffOptions, DiffResult
from .digest import ResponseDigest, SessionDigest

REPORT_VERSION = 1
_VALUE_CHARS = 160


@dataclass
class ReplayInfo:
    """What the replay itself did (for the report header and ``--report``)."""

    session_id: str
    original_id: str
    target: str
    speed: float
    fast: bool
    frames_sent: int = 0
    frames_planned: int = 0
    server_events: int = 0
    send_error_ms: dict[str, float] = field(default_factory=dict)
    id_map: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    endpoint_error: str | None = None
    connected: bool = True
    close_code: int | None = None
    closed_by: ClosedBy | None = None

    @property
    def ids_translated(self) -> int:
        """Recorded ids that the replay's server gave a different value."""
        return sum(old != new for old, new in self.id_map.items())

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id, "original_id": self.original_id,
            "target": self.target, "speed": self.speed, "fast": self.fast,
            "client_frames_sent": self.frames_sent, "client_frames": self.frames_planned,
            "server_events": self.server_events, "send_error_ms": self.send_error_ms,
            "ids_translated": self.ids_translated, "id_map": self.id_map, "notes": self.notes,
            "endpoint_error": self.endpoint_error, "connected": self.connected,
            "close_code": self.close_code,
            "closed_by": self.closed_by,
        }


def response_row(resp: ResponseDigest | None) -> dict[str, Any] | None:
    """One side of the per-response side-by-side table."""
    if resp is None:
        return None
    tree = resp.tree()
    return {
        "status": tree["status"], "trigger": resp.trigger,
        "first_audio_ms": tree["latency"]["first_audio_ms"],
        "first_text_ms": tree["latency"]["first_text_ms"],
        "audio_ms": tree["audio_ms"], "output_text": tree["output_text"],
        "transcript": tree["transcript"],
        "output": [_item_label(item) for item in tree["output"]],
    }


def _item_label(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    if item.get("type") == "function_call":
        return f"function_call {item.get('name')}"
    return " ".join(str(x) for x in (item.get("type"), item.get("role")) if x)


def report_json(a: SessionDigest, b: SessionDigest, result: DiffResult | None,
                options: DiffOptions | None, replay: ReplayInfo | None,
                exit_code: int) -> dict[str, Any]:
    """The ``--report`` document (stable keys; version in ``rtcapture_report``)."""
    count = max(len(a.responses), len(b.responses))
    doc: dict[str, Any] = {
        "rtcapture_report": REPORT_VERSION,
        "exit_code": exit_code,
        "equal": result.equal if result is not None else None,
        "a": session_json(a.session) if a.session else None,
        "b": session_json(b.session) if b.session else None,
        "options": options.to_json() if options else None,
        "differences": [d.to_json() for d in result.differences] if result else [],
        "suppressed": result.suppressed if result else {},
        "responses": [
            {"index": i,
             "a": response_row(a.responses[i] if i < len(a.responses) else None),
             "b": response_row(b.responses[i] if i < len(b.responses) else None)}
            for i in range(count)],
        "replay": replay.to_json() if replay else None,
    }
    if a.turns is not None and b.turns is not None:
        from .live import align

        doc["turns"] = [{"index": i, "a": ta.to_json() if ta else None,
                         "b": tb.to_json() if tb else None}
                        for i, (ta, tb) in enumerate(align(a.turns, b.turns))]
    return json.loads(redact_text(json.dumps(doc, default=str, ensure_ascii=False)))


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _VALUE_CHARS else text[:_VALUE_CHARS - 3] + "..."


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _side_by_side(i: int, ra: ResponseDigest | None, rb: ResponseDigest | None) -> str:
    a, b = response_row(ra), response_row(rb)

    def pair(key: str, fmt: Any = str) -> str:
        va = fmt(a[key]) if a else "(none)"
        vb = fmt(b[key]) if b else "(none)"
        return f"{va} -> {vb}"

    return (f"response[{i}]  {pair('status')}  first audio {pair('first_audio_ms', _ms)} ms"
            f"  first text {pair('first_text_ms', _ms)} ms"
            f"  audio {pair('audio_ms', lambda v: f'{v / 1000:.2f}')} s")


def _difference_lines(diff: Difference) -> list[str]:
    path = style(diff.path_text, fg="yellow", bold=True)
    note = f"  ({diff.note})" if diff.note else ""
    if diff.kind != "changed":
        sign, colour, value = ("-", "red", diff.old) if diff.kind == "removed" \
            else ("+", "green", diff.new)
        return [f"  {sign} {path}  {diff.kind}{note}",
                "      " + style(_value(value), fg=colour)]
    if diff.rule == "text":
        return [f"  ~ {path}{note}",
                "      " + style("- " + _value(diff.old), fg="red"),
                "      " + style("+ " + _value(diff.new), fg="green")]
    return [f"  ~ {path}  " + style(_value(diff.old), fg="red") + " -> "
            + style(_value(diff.new), fg="green") + note]


def summary_lines(a: SessionDigest, b: SessionDigest, result: DiffResult,
                  replay: ReplayInfo | None = None) -> list[str]:
    """The readable summary: per response what changed, then session events."""
    lines: list[str] = []
    if replay is not None:
        lines.extend(replay_lines(replay))
    ida = a.session.id if a.session else "A"
    idb = b.session.id if b.session else "B"
    lines.append(f"diff {ida} (A) -> {idb} (B)")
    if a.turns is not None and b.turns is not None:  # a GPT-Live session: by turn
        from .live import turn_lines

        fa = a.session.flavour if a.session else "?"
        fb = b.session.flavour if b.session else "?"
        lines.append(f"by turn (A: {fa}, B: {fb}; latency: end of user speech to first "
                     f"assistant audio)")
        lines.extend(turn_lines(a.turns, b.turns, result))
        for diff in result.differences:
            lines.extend(_difference_lines(diff))
        lines.append(verdict_line(result))
        return [redact_text(line) for line in lines]
    by_response: dict[int | None, list[Difference]] = {}
    for diff in result.differences:
        by_response.setdefault(diff.response, []).append(diff)
    for i in range(max(len(a.responses), len(b.responses))):
        ra = a.responses[i] if i < len(a.responses) else None
        rb = b.responses[i] if i < len(b.responses) else None
        found = by_response.get(i, [])
        verdict = style("same", fg="green") if not found else style(
            f"{len(found)} difference{'s' if len(found) != 1 else ''}", fg="red")
        lines.append(f"{_side_by_side(i, ra, rb)}  {verdict}")
        for diff in found:
            lines.extend(_difference_lines(diff))
    session_diffs = by_response.get(None, [])
    if session_diffs:
        lines.append(f"session events  {style(str(len(session_diffs)), fg='red')} "
                     f"difference{'s' if len(session_diffs) != 1 else ''}")
        for diff in session_diffs:
            lines.extend(_difference_lines(diff))
    lines.append(verdict_line(result))
    return [redact_text(line) for line in lines]


def verdict_line(result: DiffResult) -> str:
    """The last line: how many differences, how many suppressed."""
    hidden = sum(result.suppressed.values())
    extra = f" ({hidden} suppressed by --ignore)" if hidden else ""
    unused = [p for p, n in result.suppressed.items() if n == 0]
    if unused:
        extra += f"; --ignore matched nothing: {', '.join(unused)}"
    if result.equal:
        return style("no differences", fg="green", bold=True) + extra
    n = len(result.differences)
    return style(f"{n} difference{'s' if n != 1 else ''}", fg="red", bold=True) + extra


def replay_lines(info: ReplayInfo) -> list[str]:
    """What the replay did, in a few lines."""
    err = info.send_error_ms
    timing = (f"; send-time error p50 {err['p50']:.2f} ms, p99 {err['p99']:.2f} ms, "
              f"max {err['max']:.2f} ms" if err else "")
    lines = [f"replay {info.session_id} of {info.original_id} against {info.target}: "
             f"{info.frames_sent}/{info.frames_planned} client frames sent, "
             f"{info.server_events} server events, {info.ids_translated} ids translated{timing}"]
    lines.extend(f"  note: {note}" for note in info.notes)
    return [redact_text(line) for line in lines]
