"""Server id translation for replays: learn recorded id -> new id, rewrite client frames.

Server-generated ids (items, responses, calls) differ on every run. Each server event
that carries ids is named by an :class:`~rtcapture.replay.plan.EventKey`; when the
recording's event and the replay's event with the same key are both known, the ids at
the same places in the two are paired. A client frame that references a recorded id is
then sent with the new one. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from ..protocol import ID_KEYS

IdPath = tuple[str | int, ...]
"""Where an id sits inside an event (keys and list indices)."""

_MAX_DEPTH = 32


def id_values(event: Any) -> dict[IdPath, str]:
    """Every id in an event: string values of ``id``/``item_id``/... keys, at any depth."""
    found: dict[IdPath, str] = {}
    stack: list[tuple[IdPath, Any]] = [((), event)]
    while stack:
        path, node = stack.pop()
        if len(path) > _MAX_DEPTH:
            continue
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str):
                    if key in ID_KEYS and value:
                        found[(*path, key)] = value
                elif isinstance(value, dict | list):
                    stack.append(((*path, key), value))
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node) if isinstance(v, dict | list))
    return found


class IdMap:
    """Recorded server ids -> the replay's ids, learnt from pairs of matching events.

    Either side of a pair may arrive first (the replay's server can run ahead of the
    recording); the first pairing of a recorded id wins.
    """

    def __init__(self) -> None:
        self._map: dict[str, str] = {}
        self._recorded: dict[Hashable, dict[IdPath, str]] = {}
        self._replayed: dict[Hashable, dict[IdPath, str]] = {}

    def recorded(self, key: Hashable, ids: Mapping[IdPath, str]) -> None:
        """The ids of the recording's event ``key``."""
        other = self._replayed.pop(key, None)
        if other is None:
            self._recorded[key] = dict(ids)
        else:
            self._pair(ids, other)

    def replayed(self, key: Hashable, ids: Mapping[IdPath, str]) -> None:
        """The ids of the replay's event ``key``."""
        other = self._recorded.pop(key, None)
        if other is None:
            self._replayed[key] = dict(ids)
        else:
            self._pair(other, ids)

    def _pair(self, old_ids: Mapping[IdPath, str], new_ids: Mapping[IdPath, str]) -> None:
        for path, old in old_ids.items():
            new = new_ids.get(path)
            if new is not None and old not in self._map:
                self._map[old] = new

    def get(self, old: str) -> str | None:
        """The replay's id for a recorded one, if learnt."""
        return self._map.get(old)

    @property
    def mapping(self) -> dict[str, str]:
        """Every pair learnt so far (recorded -> replay)."""
        return dict(self._map)


def rewrite_frame(data: bytes, refs: Iterable[str], idmap: IdMap) -> tuple[bytes, list[str]]:
    """A client frame with recorded ids replaced by the replay's; and the refs not yet learnt.

    Only ``refs`` (the recorded server ids the frame holds) are replaced, and only where
    they sit under an id key. The bytes are kept as recorded apart from the ids: the
    substitution is done in place when that is exact, else the frame is re-serialised in
    the recording's own JSON style (separators, ASCII escaping, key order).
    """
    wanted = {old: new for old in refs if (new := idmap.get(old)) is not None and new != old}
    unmapped = [old for old in refs if idmap.get(old) is None]
    if not wanted:
        return data, unmapped
    try:
        event = json.loads(data)
    except ValueError:
        return data, unmapped
    counts = _replace_ids(event, wanted)
    if not counts:
        return data, unmapped
    tokens = {_token(old): _token(wanted[old]) for old in counts}
    if all(data.count(_token(old)) == n for old, n in counts.items()):
        pattern = re.compile(b"|".join(re.escape(tok) for tok in tokens))
        return pattern.sub(lambda m: tokens[m.group(0)], data), unmapped
    return dumps_like(data, event), unmapped


def _token(value: str) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _replace_ids(event: Any, wanted: Mapping[str, str]) -> dict[str, int]:
    """Replace ids under id keys in place; counts replacements per old id."""
    counts: dict[str, int] = {}
    stack: list[tuple[int, Any]] = [(0, event)]
    while stack:
        depth, node = stack.pop()
        if depth > _MAX_DEPTH:
            continue
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str):
                    if key in ID_KEYS and value in wanted:
                        node[key] = wanted[value]
                        counts[value] = counts.get(value, 0) + 1
                elif isinstance(value, dict | list):
                    stack.append((depth + 1, value))
        elif isinstance(node, list):
            stack.extend((depth + 1, v) for v in node if isinstance(v, dict | list))
    return counts


_STYLES = (((", ", ": "), True), ((",", ":"), True), ((", ", ": "), False), ((",", ":"), False))


def dumps_like(original: bytes, obj: Any) -> bytes:
    """Serialise ``obj`` in the JSON style of ``original`` (the Python SDK's by default)."""
    try:
        before = json.loads(original)
    except ValueError:
        before = None
    for separators, ascii_only in _STYLES:
        if before is not None and json.dumps(before, separators=separators,
                                             ensure_ascii=ascii_only).encode() == original:
            return json.dumps(obj, separators=separators, ensure_ascii=ascii_only).encode()
    compact = b'": ' not in original and b'", "' not in original
    separators = (",", ":") if compact else (", ", ": ")
    return json.dumps(obj, separators=separators, ensure_ascii=False).encode()
