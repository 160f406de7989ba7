"""Turn-by-turn diff for GPT-Live sessions, and across APIs (Realtime vs Live).

A Live session has no responses to align; it is compared by turn: each user utterance and
the assistant's speech that follows it (utterances from
:func:`rtcapture.protocol.live.group_utterances`). A Realtime session gives the same view
from its digest: each response that spoke or wrote is one turn, its user text the n-th
input transcription. Per turn the diff compares assistant text (similarity), audio duration
and latency (end of user speech to first assistant audio), with the usual tolerances.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..export.responses import TRIGGER_COMMIT, TRIGGER_SPEECH_STOPPED, TRIGGER_TIMEOUT
from ..protocol import TRANSCRIPTION_COMPLETED, decode_event, live
from ..store import EventRecord
from ..style import style
from .diff import Difference, DiffOptions, DiffResult, apply_ignores, text_similarity
from .digest import SessionDigest

PAIR_THRESHOLD = 0.3
"""Turns whose text is less similar than this are not paired (one was added or removed)."""
VOICE_TRIGGERS = frozenset({TRIGGER_SPEECH_STOPPED, TRIGGER_COMMIT, TRIGGER_TIMEOUT})
"""Response triggers that mean the user spoke."""


@dataclass
class Turn:
    """One exchange: what the user said, what the assistant said, how long, how soon."""

    index: int
    user_text: str
    assistant_text: str
    audio_ms: float
    latency_ms: float | None

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "user_text": self.user_text,
                "assistant_text": self.assistant_text, "audio_ms": round(self.audio_ms, 1),
                "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1)}


def live_turns(events: Iterable[EventRecord]) -> list[Turn]:
    """The turns of a Live session, from its transcript fragments."""
    deltas = []
    for ev in events:
        if ev.type in live.SPEAKER_OF and ev.direction == "server":
            event = decode_event(ev.data)
            if event is not None:
                deltas.append((ev.seq, event))
    turns: list[Turn] = []
    user: live.Utterance | None = None
    for utt in live.group_utterances(deltas):
        if utt.speaker == "user":
            user = utt
            continue
        if turns and user is None:  # more speech in the same turn (after a delegation)
            last = turns[-1]
            last.assistant_text = f"{last.assistant_text} {utt.text}".strip()
            last.audio_ms += utt.end_ms - utt.start_ms
            continue
        turns.append(Turn(len(turns), user.text if user else "", utt.text,
                          utt.end_ms - utt.start_ms,
                          utt.start_ms - user.end_ms if user else None))
        user = None
    return turns


def realtime_turns(digest: SessionDigest) -> list[Turn]:
    """The turns of a Realtime session: responses that spoke or wrote, in order. A
    response triggered by user speech takes the next input transcription as its user text;
    one that only called a tool hands it on to the response that answers."""
    heard = iter(e.get("transcript") for e in digest.events.get(TRANSCRIPTION_COMPLETED, []))
    turns: list[Turn] = []
    user = ""
    for resp in digest.responses:
        if resp.trigger in VOICE_TRIGGERS:
            said = next(heard, "")
            user = said if isinstance(said, str) else ""
        text = resp.joined("transcript") or resp.joined("text")
        if not text and not resp.audio_ms:
            continue  # a function call: the spoken answer comes in a later response
        latency = resp.latency()
        turns.append(Turn(len(turns), user, text, resp.audio_ms,
                          latency["first_audio_ms"] if latency["first_audio_ms"] is not None
                          else latency["first_text_ms"]))
        user = ""
    return turns


def align(a: list[Turn], b: list[Turn]) -> list[tuple[Turn | None, Turn | None]]:
    """Pair the turns of two sessions in order (a global alignment on the similarity of
    user and assistant text), leaving a turn one side lacks unpaired."""
    def score(x: Turn, y: Turn) -> float:
        parts = [text_similarity(x.assistant_text, y.assistant_text)]
        if x.user_text and y.user_text:
            parts.append(text_similarity(x.user_text, y.user_text))
        return sum(parts) / len(parts) - PAIR_THRESHOLD
    n, m = len(a), len(b)
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            best[i][j] = max(best[i + 1][j], best[i][j + 1],
                             best[i + 1][j + 1] + score(a[i], b[j]))
    out: list[tuple[Turn | None, Turn | None]] = []
    i = j = 0
    while i < n and j < m:
        if best[i][j] == best[i + 1][j + 1] + score(a[i], b[j]):
            out.append((a[i], b[j]))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            out.append((a[i], None))
            i += 1
        else:
            out.append((None, b[j]))
            j += 1
    out.extend((t, None) for t in a[i:])
    out.extend((None, t) for t in b[j:])
    return out


def compare_turns(a: list[Turn], b: list[Turn], options: DiffOptions) -> DiffResult:
    """Differences turn by turn (A = old, B = new), after ``--ignore``."""
    found: list[Difference] = []
    for i, (ta, tb) in enumerate(align(a, b)):
        path = ("turn", i)
        if tb is None:
            found.append(Difference(path, "removed", "exact", ta.to_json() if ta else None,
                                    None))
            continue
        if ta is None:
            found.append(Difference(path, "added", "exact", None, tb.to_json()))
            continue
        similarity = text_similarity(ta.assistant_text, tb.assistant_text)
        if similarity < options.text_threshold:
            found.append(Difference((*path, "assistant_text"), "changed", "text",
                                    ta.assistant_text, tb.assistant_text,
                                    f"similarity {similarity:.2f}"))
        if abs(ta.audio_ms - tb.audio_ms) > options.audio_tolerance_ms:
            found.append(Difference((*path, "audio_ms"), "changed", "audio",
                                    round(ta.audio_ms, 1), round(tb.audio_ms, 1)))
        tol = options.latency_tolerance_ms
        if tol is not None and ta.latency_ms is not None and tb.latency_ms is not None \
                and abs(ta.latency_ms - tb.latency_ms) > tol:
            found.append(Difference((*path, "latency_ms"), "changed", "latency",
                                    round(ta.latency_ms, 1), round(tb.latency_ms, 1)))
    return apply_ignores(found, options.ignore)


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."


def turn_lines(a: list[Turn], b: list[Turn], result: DiffResult) -> list[str]:
    """Side by side per turn: the user's words, both answers, similarity, audio, latency."""
    by_turn: dict[int, int] = {}
    for diff in result.differences:
        if len(diff.path) >= 2 and isinstance(diff.path[1], int):
            by_turn[diff.path[1]] = by_turn.get(diff.path[1], 0) + 1
    lines = []
    for i, (ta, tb) in enumerate(align(a, b)):
        n = by_turn.get(i, 0)
        verdict = style("same", fg="green") if not n else style(
            f"{n} difference{'s' if n != 1 else ''}", fg="red")
        user = (ta or tb).user_text if (ta or tb) else ""  # type: ignore[union-attr]
        lines.append(f"turn[{i}]  user: {_short(user)!r}  {verdict}")
        sim = text_similarity(ta.assistant_text, tb.assistant_text) if ta and tb else 0.0

        def side(t: Turn | None) -> str:
            if t is None:
                return "(none)"
            lat = "-" if t.latency_ms is None else f"{t.latency_ms:,.0f}"
            return (f"{_short(t.assistant_text)!r}  audio {t.audio_ms / 1000:.2f} s  "
                    f"latency {lat} ms")
        lines.append(f"  A: {side(ta)}")
        lines.append(f"  B: {side(tb)}  (text similarity {sim:.2f})")
    return lines
