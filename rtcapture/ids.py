"""Time-ordered, globally unique ids (ULID: 48-bit ms time + 80 random bits)."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
_lock = threading.Lock()
_last_ms = -1
_last_rand = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(now_ms: int | None = None) -> str:
    """A 26-character ULID, monotonic within this process."""
    global _last_ms, _last_rand
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    with _lock:
        if ms <= _last_ms:
            ms = _last_ms
            rand = _last_rand + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big")
        _last_ms, _last_rand = ms, rand
    return _encode(ms, 10) + _encode(rand & ((1 << 80) - 1), 16)


def derived_id(ms: int, digest: bytes) -> str:
    """A ULID-shaped id from a time and a content digest: the same inputs, the same id."""
    return _encode(ms, 10) + _encode(int.from_bytes(digest[:10], "big"), 16)


def id_time_ms(ulid: str) -> int:
    """The millisecond timestamp embedded in an id."""
    value = 0
    for ch in ulid[:10]:
        value = value * 32 + _ALPHABET.index(ch)
    return value


def is_id(value: object) -> bool:
    """True for an id as :func:`new_id` makes them: 26 characters of its alphabet."""
    return isinstance(value, str) and len(value) == 26 and value.isascii() and all(
        ch in _ALPHABET for ch in value)
