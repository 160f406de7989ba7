"""The page's data: header, conversation, timeline lanes, diff, as one JSON-able dict.

Everything here is derived from the scan (``scan``), the audio (``media``) and, for a
replay, ``replay.diff``; the browser script only draws it. ``violations`` are what
``rtcapture check`` finds with its built-in rules, shown in their own section and as a
timeline lane.
"""

from __future__ import annotations

import base64
from typing import Any

from ..check import RuleSet, Turn, TurnAnalyzer, evaluate
from ..check.run import analyse_session
from ..render import iso, session_json
from ..store import SessionRecord, Store
from .conversation import tool_entry
from .media import ENVELOPE_HZ, Media
from .scan import Scan, redacted
from .timeline import timeline_entries, timeline_replies, timeline_speech

MODEL_VERSION = 1


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def header(rec: SessionRecord, scan: Scan, media: Media) -> dict[str, Any]:
    """The header block: the session's fields (redacted), counts, audio, tokens."""
    info = session_json(rec)
    info.update({
        "dialect": rec.flavour, "started": iso(rec.started), "ended": iso(rec.ended),
        "events": scan.tables.events, "error_events": scan.tables.error_events,
        "parse_errors": scan.parse_errors, "responses": len(scan.tables.tracker.responses),
        "tokens": scan.tables.tracker.token_totals(),
        "types": dict(scan.types.most_common()),
        "conversation_ms": _round(media.duration_ms),
    })
    return redacted(info)


def _placements(media: Media) -> dict[str, list[dict[str, Any]]]:
    """Item id -> where its audio sat on the time line (as sent, as heard)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for p in media.placements:
        item = p.item[0] if isinstance(p.item, tuple) else str(p.item)
        out.setdefault(str(item), []).append(
            {"start_ms": _round(p.start_ms, 3), "sent_end_ms": _round(p.sent_end_ms, 3),
             "cut_ms": _round(p.cut_ms, 3)})
    return out


def replies(session_id: str, scan: Scan, media: Media) -> list[dict[str, Any]]:
    """The ``responses`` rows, each with its items' placement and where it was cut."""
    conv = scan.conversation
    placed = _placements(media)
    out = []
    for row in scan.responses(session_id):
        rid = row["response_id"]
        items = conv.response_items.get(rid, [])
        spans = [s for item in items for s in placed.get(item, [])]
        cuts = [s["cut_ms"] for s in spans if s["cut_ms"] is not None]
        truncated = [conv.truncations[i] for i in items if i in conv.truncations]
        reply = {k: v for k, v in row.items() if k not in ("session_id", "time")}
        reply.update({
            "items": items, "audio_spans": spans, "seqs": conv.response_seqs.get(rid, []),
            "cut_ms": min(cuts) if cuts else None,
            "start_ms": min((s["start_ms"] for s in spans), default=None),
            "truncated_audio_end_ms": min(truncated) if truncated else None,
        })
        if reply["cut_ms"] is not None and reply["start_ms"] is not None:
            reply["heard_ms"] = _round(reply["cut_ms"] - reply["start_ms"], 3)
        out.append(reply)
    return out


def conversation(scan: Scan, reply_rows: list[dict[str, Any]],
                 extra: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """User turns, replies, tool calls and errors in time order, each with its latency
    (``extra``: entries found elsewhere, e.g. a timeline dialect's user turns and tools)."""
    conv = scan.conversation
    triggers = {r["response_id"]: r["trigger_t_ms"] for r in reply_rows}
    entries: list[dict[str, Any]] = list(extra or [])
    for u in conv.users:
        entries.append({"kind": "user", "t_ms": u.t_ms, "seq": u.seq, "item_id": u.item_id,
                        "text": u.text, "typed": u.typed, "audio_ms": _round(u.audio_ms),
                        "transcription_failed": u.transcription_failed})
    for i, r in enumerate(reply_rows):
        entries.append({"kind": "reply", "index": i,
                        "t_ms": r["created_t_ms"] if r["created_t_ms"] is not None else 0.0,
                        "seq": r["seqs"][0] if r["seqs"] else None})
    for c in conv.tools:
        entries.append(tool_entry(c, triggers.get(c.response_id or "")))
    for e in conv.errors:
        entries.append({
            "kind": "error", "t_ms": e.t_ms, "seq": e.seq, "code": e.code,
            "message": e.message, "cause_seq": e.cause_seq,
            "latency_ms": _round(e.t_ms - e.cause_t_ms) if e.cause_t_ms is not None else None})
    entries.sort(key=lambda e: (e["t_ms"], e.get("seq") or 0))
    return redacted(entries)


def diff_against_original(store: Store, rec: SessionRecord) -> dict[str, Any] | None:
    """For a replay whose original is still stored: ``replay.diff``'s report of the two."""
    if not rec.replay_of or not store.has_session(rec.replay_of):
        return None
    from ..replay.diff import DiffOptions
    from ..replay.report import report_json
    from ..replay.run import diff_sessions

    options = DiffOptions()
    a, b, result = diff_sessions(store, rec.replay_of, rec.id, options)
    return report_json(a, b, result, options, None, 0 if result.equal else 1)


def violations(rec: SessionRecord, analysis: TurnAnalyzer, turns: list[Turn]
               ) -> list[dict[str, Any]]:
    """The session's ``rtcapture check`` violations (built-in rules), for the page."""
    return [{"rule": v.rule, "t_ms": v.t_ms if v.t_ms is not None else 0.0,
             "item_id": v.item_id, "response_id": v.response_id,
             "message": f"{v.observed} (expected {v.expected}); {v.hint}"}
            for v in evaluate(rec, turns, analysis.obs, RuleSet())]


def page_model(store: Store, rec: SessionRecord, scan: Scan, media: Media) -> dict[str, Any]:
    """Everything the page shows except the event log (written separately)."""
    analysis, turns, _ = analyse_session(store, rec)
    conv = scan.conversation
    timeline = analysis.timeline
    extra: list[dict[str, Any]] = []
    if timeline is not None:  # GPT-Live: utterances, not responses
        reply_rows = redacted(timeline_replies(timeline))
        extra = timeline_entries(timeline, reply_rows)
        speech = timeline_speech(timeline)
    else:
        reply_rows = redacted(replies(rec.id, scan, media))
        speech = conv.vad
    head = header(rec, scan, media)
    if timeline is not None:
        head["responses"] = len(reply_rows)
        head["usage_seconds"] = scan.tables.live.usage_seconds
    duration = max(media.duration_ms, scan.last_t_ms,
                   (rec.duration_s or 0.0) * 1000 if rec.status != "open" else 0.0)
    return {
        "version": MODEL_VERSION,
        "session": head,
        "duration_ms": _round(duration),
        "replies": reply_rows,
        "conversation": conversation(scan, reply_rows, extra),
        "vad": speech,
        "envelope_hz": ENVELOPE_HZ,
        "user_envelope": base64.b64encode(media.user_envelope).decode("ascii"),
        "assistant_envelope": base64.b64encode(media.assistant_envelope).decode("ascii"),
        "has_audio": media.audio is not None,
        "diff": diff_against_original(store, rec),
        "violations": redacted(violations(rec, analysis, turns)),
        "event_types": redacted(scan.type_names),
    }
