"""The diff engine: compare two session digests field by field, with per-field rules.

Responses are aligned by order of ``response.created`` (``response[N]``), session-level
server events by type and position (``session.updated[0]``). Rules, by field:

- ids, ``event_id``, ``expires_at``, ``obfuscation``, ``client_secret``: ignored
  (volatile); ``rate_limits.updated`` and deltas are not compared at all;
- ``output_text``, ``transcript``, ``text``: similarity (difflib ratio) against
  ``text_threshold``;
- ``audio_ms`` and ``audio_start_ms``/``audio_end_ms``: within ``audio_tolerance_ms``;
- anything under ``usage``: token counts within ``token_tolerance`` (a fraction);
- anything under ``latency``: within ``latency_tolerance_ms`` (None: shown, not compared);
- function ``arguments``: parsed as JSON and compared key by key;
- everything else exactly (server ids inside free text, e.g. error messages, masked);
- between a WebSocket and a WebRTC session, the events only WebRTC has
  (``output_audio_buffer.*``) are not compared.

Pure: no I/O. Paths use :mod:`~rtcapture.replay.paths`, so any reported path can be
passed to ``--ignore``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..protocol import SERVER_ID_RE, VOLATILE_KEYS
from .digest import SessionDigest
from .paths import IgnorePattern, Token, format_path

TEXT_KEYS = frozenset({"output_text", "transcript", "text"})
AUDIO_KEYS = frozenset({"audio_ms", "audio_start_ms", "audio_end_ms"})
WEBRTC_ONLY_PREFIX = "output_audio_buffer."
"""Server events only a WebRTC session has (what its audio track played)."""


@dataclass(frozen=True)
class DiffOptions:
    """What counts as a difference."""

    ignore: tuple[IgnorePattern, ...] = ()
    text_threshold: float = 0.9
    audio_tolerance_ms: float = 200.0
    token_tolerance: float = 0.1
    latency_tolerance_ms: float | None = 500.0

    def to_json(self) -> dict[str, Any]:
        return {"ignore": [p.text for p in self.ignore], "text_threshold": self.text_threshold,
                "audio_tolerance_ms": self.audio_tolerance_ms,
                "token_tolerance": self.token_tolerance,
                "latency_tolerance_ms": self.latency_tolerance_ms}


@dataclass(frozen=True)
class Difference:
    """One field that differs: where, how, old and new values."""

    path: tuple[Token, ...]
    kind: str
    """``changed``, ``added`` (only in B) or ``removed`` (only in A)."""
    rule: str
    """``exact``, ``text``, ``audio``, ``tokens`` or ``latency``."""
    old: Any
    new: Any
    note: str | None = None

    @property
    def path_text(self) -> str:
        return format_path(self.path)

    @property
    def response(self) -> int | None:
        """The response this difference belongs to, if any."""
        if len(self.path) >= 2 and self.path[0] == "response" and isinstance(self.path[1], int):
            return self.path[1]
        return None

    def to_json(self) -> dict[str, Any]:
        out = {"path": self.path_text, "kind": self.kind, "rule": self.rule,
               "old": self.old, "new": self.new}
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class DiffResult:
    """All differences after ``--ignore``, and how many each pattern suppressed."""

    differences: list[Difference]
    suppressed: dict[str, int] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return not self.differences


def text_similarity(a: str, b: str) -> float:
    """difflib's ratio of two texts (1.0 when equal)."""
    if a == b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=len(a) + len(b) > 4000).ratio()


def _mask_ids(value: str) -> str:
    return SERVER_ID_RE.sub("<id>", value)


class _Comparer:
    def __init__(self, options: DiffOptions) -> None:
        self.options = options
        self.found: list[Difference] = []

    def add(self, path: tuple[Token, ...], kind: str, rule: str, old: Any, new: Any,
            note: str | None = None) -> None:
        self.found.append(Difference(path, kind, rule, old, new, note))

    def compare(self, old: Any, new: Any, path: tuple[Token, ...], rule: str = "exact") -> None:
        if isinstance(old, dict) and isinstance(new, dict):
            for key in [*old, *(k for k in new if k not in old)]:
                if key in VOLATILE_KEYS:
                    continue
                sub = (*path, key)
                if key not in new:
                    self.add(sub, "removed", rule, old[key], None)
                elif key not in old:
                    self.add(sub, "added", rule, None, new[key])
                else:
                    self.compare(old[key], new[key], sub, self._rule_for(key, rule))
            return
        if isinstance(old, list) and isinstance(new, list):
            for i in range(max(len(old), len(new))):
                if i >= len(new):
                    self.add((*path, i), "removed", rule, old[i], None)
                elif i >= len(old):
                    self.add((*path, i), "added", rule, None, new[i])
                else:
                    self.compare(old[i], new[i], (*path, i), rule)
            return
        self._scalar(old, new, path, rule)

    @staticmethod
    def _rule_for(key: str, rule: str) -> str:
        if rule != "exact":
            return rule
        if key == "usage":
            return "tokens"
        if key == "latency":
            return "latency"
        if key in TEXT_KEYS:
            return "text"
        if key in AUDIO_KEYS:
            return "audio"
        return rule

    def _scalar(self, old: Any, new: Any, path: tuple[Token, ...], rule: str) -> None:
        opts = self.options
        numbers = _is_number(old) and _is_number(new)
        if rule == "text" and isinstance(old, str) and isinstance(new, str):
            score = text_similarity(old, new)
            if score < opts.text_threshold:
                self.add(path, "changed", rule, old, new,
                         f"similarity {score:.2f} < {opts.text_threshold:.2f}")
        elif rule == "audio" and numbers:
            if abs(new - old) > opts.audio_tolerance_ms:
                self.add(path, "changed", rule, old, new,
                         f"differs by {abs(new - old):.0f} ms > {opts.audio_tolerance_ms:g} ms")
        elif rule == "tokens" and numbers:
            allowed = opts.token_tolerance * max(abs(old), abs(new))
            if abs(new - old) > allowed:
                self.add(path, "changed", rule, old, new,
                         f"differs by more than {opts.token_tolerance:.0%}"
                         if opts.token_tolerance else None)
        elif rule == "latency":
            if opts.latency_tolerance_ms is None:
                return
            if numbers:
                if abs(new - old) > opts.latency_tolerance_ms:
                    self.add(path, "changed", rule, old, new,
                             f"{new - old:+.0f} ms (tolerance {opts.latency_tolerance_ms:g} ms)")
            elif old != new:
                self.add(path, "changed", rule, old, new)
        elif not _same(old, new):
            self.add(path, "changed", "exact", old, new)


def compare_values(old: Any, new: Any, path: tuple[Token, ...] = (),
                   options: DiffOptions | None = None) -> list[Difference]:
    """Every difference between two JSON values under the diff's rules (volatile keys
    ignored, ids masked, text by similarity, audio durations within the tolerance)."""
    comparer = _Comparer(options or DiffOptions())
    comparer.compare(old, new, path)
    return comparer.found


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, str) and isinstance(new, str):
        return old == new or _mask_ids(old) == _mask_ids(new)
    if type(old) is not type(new) and not (_is_number(old) and _is_number(new)):
        return False
    return bool(old == new)


def _type_path(etype: str) -> tuple[Token, ...]:
    return tuple(etype.split("."))


def compare_digests(a: SessionDigest, b: SessionDigest, options: DiffOptions) -> DiffResult:
    """Every difference between two sessions (A = old, B = new), after ``--ignore``."""
    comparer = _Comparer(options)
    for i in range(max(len(a.responses), len(b.responses))):
        path: tuple[Token, ...] = ("response", i)
        if i >= len(b.responses):
            comparer.add(path, "removed", "exact", summary(a.responses[i].tree()), None)
        elif i >= len(a.responses):
            comparer.add(path, "added", "exact", None, summary(b.responses[i].tree()))
        else:
            comparer.compare(a.responses[i].tree(), b.responses[i].tree(), path)
    crossed = transport_of(a) != transport_of(b)
    for etype in [*a.events, *(t for t in b.events if t not in a.events)]:
        if crossed and etype.startswith(WEBRTC_ONLY_PREFIX):
            continue
        old, new = a.events.get(etype, []), b.events.get(etype, [])
        comparer.compare(old, new, _type_path(etype))
    return apply_ignores(comparer.found, options.ignore)


def transport_of(digest: SessionDigest) -> str:
    """``websocket`` or ``webrtc`` (a digest without its session: ``websocket``)."""
    return digest.session.transport if digest.session is not None else "websocket"


def apply_ignores(found: Sequence[Difference], patterns: Sequence[IgnorePattern]
                  ) -> DiffResult:
    """Drop differences matched by an ``--ignore`` pattern, counting per pattern."""
    suppressed = {p.text: 0 for p in patterns}
    kept = []
    for diff in found:
        hit = next((p for p in patterns if p.matches(diff.path)), None)
        if hit is None:
            kept.append(diff)
        else:
            suppressed[hit.text] += 1
    return DiffResult(kept, suppressed)


def summary(tree: dict[str, Any]) -> dict[str, Any]:
    """A short form of a response tree for added/removed responses."""
    out = {k: tree.get(k) for k in ("status", "output_text", "transcript", "audio_ms")}
    out["output"] = [{k: v for k, v in item.items() if k in ("type", "name", "arguments")}
                     for item in tree.get("output", []) if isinstance(item, dict)]
    return json.loads(json.dumps(out, default=str))
