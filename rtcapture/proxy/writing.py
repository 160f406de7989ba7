"""The rules of writing a session while it runs, free of I/O.

Shared by the recorder's writer process (:mod:`.writer`) and the replay's writer thread
(:mod:`rtcapture.replay.recording`), so that both commit in the same batches, keep the
recorder's heartbeat the same way and end a session that lost frames the same way. The
callers bring the clock (``time.monotonic()``) and do the database work.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

from ..store.records import HEARTBEAT_S, Status

FLUSH_INTERVAL_S = 0.08
"""Commit at least this often while frames are pending (the recorder is at most ~100 ms behind)."""
FLUSH_ROWS = 2000
"""Commit at once when this many frames are pending."""

T = TypeVar("T")


class Batch(Generic[T]):
    """Rows waiting for one commit: due at ``rows`` rows or ``interval`` seconds after the
    oldest of them arrived."""

    def __init__(self, rows: int = FLUSH_ROWS, interval: float = FLUSH_INTERVAL_S) -> None:
        self.rows = rows
        self.interval = interval
        self.items: list[T] = []
        self.since = 0.0
        """When the oldest pending row arrived."""

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item: T, now: float) -> None:
        """One more row (arrived at ``now``)."""
        if not self.items:
            self.since = now
        self.items.append(item)

    def due(self, now: float) -> bool:
        """Whether the pending rows should be committed now."""
        return bool(self.items) and (
            len(self.items) >= self.rows or now - self.since >= self.interval)

    def wait(self, now: float) -> float:
        """Seconds until the batch is due (``interval`` while it is empty)."""
        if not self.items:
            return self.interval
        return max(0.0, self.since + self.interval - now)

    def take(self) -> list[T]:
        """The pending rows, oldest first; the batch is empty afterwards."""
        items, self.items = self.items, []
        return items


class Heartbeat:
    """When a recorder's heartbeat is due (others mark the open sessions of a recorder
    whose heartbeat is long past ``incomplete``)."""

    def __init__(self, now: float, interval: float = HEARTBEAT_S) -> None:
        self.interval = interval
        self.last = now

    def due(self, now: float) -> bool:
        """True (and the beat counted as done) once ``interval`` has passed since the last."""
        if now - self.last < self.interval:
            return False
        self.last = now
        return True


def lost_reason(lost: int) -> str:
    """The status reason of a session that lost ``lost`` frames."""
    return f"{lost} frames could not be stored"


def session_end(totals: Mapping[str, object], *, ended: datetime, lost: int,
                status: Status = Status.CLOSED, status_reason: str | None = None,
                **fields: Any) -> dict[str, Any]:
    """The session fields to store when it ends: its totals, ``fields``, and its status. A
    session that closed but lost frames is ``incomplete``, saying how many."""
    if lost and status == Status.CLOSED:
        status, status_reason = Status.INCOMPLETE, lost_reason(lost)
    return {**totals, **fields, "ended": ended, "status": status,
            "status_reason": status_reason, "lost_frames": lost}
