"""The one path grammar: where a diff reports a difference, and what ``--ignore`` matches.

A path is a chain of keys and list indices, printed the way it is typed::

    response[2].output_text
    response[0].output[1].arguments.city
    session.updated[0].session.instructions
    metadata."key with spaces"

Grammar (``--ignore`` patterns use the same one, plus two wildcards)::

    path    := segment ("." segment)*
    segment := (name | quoted) index*
    name    := [A-Za-z0-9_-]+        ("*" in a pattern: any one key)
    quoted  := a JSON string          (for keys with other characters)
    index   := "[" digits "]"        ("[*]" in a pattern: any index)

A pattern matches a path when it matches the path's beginning (so ``response[*].usage``
covers every usage figure), and a key without an index in a pattern matches that key
with any index (``session.updated.session.instructions`` covers
``session.updated[3].session.instructions``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import UsageError

Token = str | int
"""A path step: a key (str) or a list index (int)."""
Path = tuple[Token, ...]


class _Wildcard:
    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return self.label


ANY_KEY = _Wildcard("*")
"""Pattern step matching any one key."""
ANY_INDEX = _Wildcard("[*]")
"""Pattern step matching any list index."""

PatternToken = str | int | _Wildcard

_NAME_RE = re.compile(r"[A-Za-z0-9_\-]+")
_INDEX_RE = re.compile(r"\[(\d+|\*)\]")


class PathSyntaxError(ValueError):
    """A path or pattern that does not follow the grammar."""


def format_path(path: Sequence[Token]) -> str:
    """The printed form of a path (what reports show and ``--ignore`` accepts)."""
    out: list[str] = []
    for token in path:
        if isinstance(token, int):
            out.append(f"[{token}]")
            continue
        text = token if _NAME_RE.fullmatch(token) else json.dumps(token, ensure_ascii=False)
        out.append(f".{text}" if out else text)
    return "".join(out)


def parse_pattern(text: str) -> tuple[PatternToken, ...]:
    """Parse a path or an ``--ignore`` pattern; raises PathSyntaxError."""
    tokens: list[PatternToken] = []
    pos, n = 0, len(text)
    if not text.strip():
        raise PathSyntaxError("empty path")
    while True:
        if pos < n and text[pos] == '"':
            try:
                key, end = json.JSONDecoder().raw_decode(text, pos)
            except ValueError as exc:
                raise PathSyntaxError(f"unterminated quoted key at column {pos + 1}") from exc
            tokens.append(key)
            pos = end
        elif pos < n and text[pos] == "*" and (pos + 1 == n or text[pos + 1] in ".["):
            tokens.append(ANY_KEY)
            pos += 1
        else:
            match = _NAME_RE.match(text, pos)
            if match is None:
                raise PathSyntaxError(f"expected a key at column {pos + 1}")
            tokens.append(match.group(0))
            pos = match.end()
        while pos < n and text[pos] == "[":
            match = _INDEX_RE.match(text, pos)
            if match is None:
                raise PathSyntaxError(f"bad index at column {pos + 1} (use [N] or [*])")
            tokens.append(ANY_INDEX if match.group(1) == "*" else int(match.group(1)))
            pos = match.end()
        if pos == n:
            return tuple(tokens)
        if text[pos] != "." or pos + 1 == n:
            raise PathSyntaxError(f"unexpected {text[pos]!r} at column {pos + 1}")
        pos += 1


def parse_path(text: str) -> Path:
    """Parse a concrete path (no wildcards); raises PathSyntaxError."""
    tokens = parse_pattern(text)
    if any(isinstance(t, _Wildcard) for t in tokens):
        raise PathSyntaxError("wildcards are only allowed in patterns")
    return tokens  # type: ignore[return-value]


def matches(pattern: Sequence[PatternToken], path: Sequence[Token]) -> bool:
    """True if ``pattern`` matches ``path`` or one of its ancestors."""
    i = j = 0
    while i < len(pattern):
        if j >= len(path):
            return False
        want, have = pattern[i], path[j]
        if isinstance(have, int):
            if want is ANY_INDEX or (isinstance(want, int) and want == have):
                i += 1
            elif want is ANY_KEY or isinstance(want, str):
                pass  # a key in the pattern without an index: any index of the path matches
            else:
                return False
            j += 1
            continue
        if want is ANY_KEY or want == have:
            i += 1
            j += 1
            continue
        return False
    return True


@dataclass(frozen=True)
class IgnorePattern:
    """One ``--ignore`` argument, parsed."""

    text: str
    tokens: tuple[PatternToken, ...]

    def matches(self, path: Sequence[Token]) -> bool:
        return matches(self.tokens, path)


def parse_ignores(texts: Sequence[str]) -> tuple[IgnorePattern, ...]:
    """Parse ``--ignore`` arguments; a bad one is a usage error (exit 2)."""
    out = []
    for text in texts:
        try:
            out.append(IgnorePattern(text, parse_pattern(text.strip())))
        except PathSyntaxError as exc:
            raise UsageError(f"--ignore {text!r}: {exc}") from exc
    return tuple(out)
