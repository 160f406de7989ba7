"""The page's replies, user turns, tool calls and speech spans of a timeline dialect's session
(GPT-Live): from the turn analysis (:class:`rtcapture.check.timeline.TimelineTurns`), so the
page's latencies are ``rtcapture check``'s and the ``utterances`` table's.

A reply is an assistant utterance. Its row has the keys of a Realtime ``responses`` row the
page draws (``first_audio_latency_ms``: first audio sent minus the end of user speech, in
session time; ``cut_ms``: when the user stopped hearing an interrupted reply) plus
``latency_ms`` (timeline: the utterance's ``start_ms`` minus the user's ``end_ms``) and
``perceived_latency_ms`` (first audio heard minus the end of user speech).
"""

from __future__ import annotations

from typing import Any

from ..check.timeline import TimelineTurns, utterance_id
from .conversation import tool_entry


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def timeline_replies(tl: TimelineTurns) -> list[dict[str, Any]]:
    """One row per assistant utterance, in order."""
    out = []
    for reply in tl.replies:
        turn, utt = reply.turn, reply.utterance
        cut = reply.heard_end_t if turn.interrupted else None
        span = {"start_ms": _r(reply.sent_start_t), "sent_end_ms": _r(reply.sent_end_t),
                "cut_ms": _r(cut)}
        out.append({
            "response_id": utterance_id(reply.index), "status": turn.status,
            "status_reason": "the user talked over it" if turn.interrupted else None,
            "trigger": turn.trigger, "trigger_t_ms": turn.speech_end_t_ms,
            "created_t_ms": turn.first_text_t_ms, "first_text_t_ms": turn.first_text_t_ms,
            "first_audio_t_ms": turn.first_audio_sent_t_ms, "done_t_ms": _r(reply.done_t),
            "first_audio_latency_ms": _minus(turn.first_audio_sent_t_ms, turn.speech_end_t_ms),
            "first_text_latency_ms": turn.first_text_latency_ms,
            "perceived_latency_ms": turn.perceived_latency_ms,
            "latency_ms": _r(reply.latency_ms),
            "timeline_start_ms": utt.start_ms, "timeline_end_ms": utt.end_ms,
            "output_audio_ms": turn.audio_sent_ms, "transcript": utt.text,
            "tool_call_id": turn.tool_call_id,
            "items": [], "audio_spans": [span] if span["start_ms"] is not None else [],
            "seqs": reply.seqs, "cut_ms": span["cut_ms"], "start_ms": span["start_ms"],
            "truncated_audio_end_ms": None,
            "heard_ms": _minus(cut, turn.first_audio_heard_t_ms),
        })
    return out


def timeline_entries(tl: TimelineTurns, replies: list[dict[str, Any]]
                     ) -> list[dict[str, Any]]:
    """The conversation's user turns and tool calls (replies and errors come separately)."""
    entries: list[dict[str, Any]] = []
    for user in tl.users:
        utt = user.utterance
        t = user.start_t if user.start_t is not None else utt.start_ms
        entries.append({"kind": "user", "t_ms": round(t, 3), "seq": utt.first_seq,
                        "item_id": utterance_id(user.index), "text": utt.text,
                        "typed": False, "audio_ms": round(utt.end_ms - utt.start_ms, 1),
                        "transcription_failed": False})
    triggers = {r["tool_call_id"]: r["trigger_t_ms"] for r in replies if r["tool_call_id"]}
    for c in tl.calls:
        entries.append(tool_entry(c, triggers.get(c.call_id or "")))
    return entries


def timeline_speech(tl: TimelineTurns) -> list[list[float | None]]:
    """User speech spans in session time (the page's speech lane)."""
    return [[_r(u.start_t), _r(u.end_t)] for u in tl.users if u.start_t is not None]
