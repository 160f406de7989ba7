"""Server-style ids (``event_…``, ``item_…``, ``resp_…``) from a seed, one stream per kind.

Each id is a hash of (seed, kind, n-th id of that kind), so ids do not depend on the
interleaving of different kinds: the 3rd item of a connection always gets the same id.
The seed of a connection is :func:`connection_seed`: the mock's seed, scenario and the
connection's number, so no two connections (nor two scenarios) share ids.
"""

from __future__ import annotations

import hashlib

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

PREFIX_LENGTHS = {
    "event": 21, "item": 21, "resp": 21, "sess": 21, "conv": 21, "call": 16, "secret": 24,
}
"""Characters after the prefix, as in real captures (section 2 of the reference)."""


def _base62(digest: bytes, length: int) -> str:
    value = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 62)
        chars.append(_BASE62[rem])
    return "".join(chars)


def connection_seed(seed: int, scenario: str, connection: int) -> str:
    """The id seed of the ``connection``-th connection (0-based) of a mock running
    ``scenario`` with ``seed``: unique per connection, the same on every run."""
    return f"{seed}/{scenario}/{connection}"


class IdFactory:
    """Deterministic ids for one connection."""

    def __init__(self, seed: int | str = 0) -> None:
        self.seed = seed
        self._counts: dict[str, int] = {}

    def new(self, kind: str) -> str:
        """The next id of ``kind`` (``event``, ``item``, ``resp``, ``call``, …)."""
        n = self._counts.get(kind, 0)
        self._counts[kind] = n + 1
        digest = hashlib.sha256(f"{self.seed}/{kind}/{n}".encode()).digest()
        return f"{kind}_{_base62(digest, PREFIX_LENGTHS.get(kind, 21))}"

    def event(self) -> str:
        return self.new("event")

    def item(self) -> str:
        return self.new("item")

    def response(self) -> str:
        return self.new("resp")

    def call(self) -> str:
        return self.new("call")
