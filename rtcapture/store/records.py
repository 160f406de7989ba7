"""Plain records that cross module boundaries: sessions and frames as values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from ..protocol.events import ClosedBy, Direction, Flavour, Opcode, Transport

HEARTBEAT_S = 2.0
"""How often a live recorder refreshes its heartbeat."""


class Status(StrEnum):
    """Lifecycle of a recorded session."""

    OPEN = "open"
    CLOSED = "closed"
    INCOMPLETE = "incomplete"
    FAILED = "failed"


@dataclass(slots=True)
class SessionRecord:
    """A session's metadata, secrets already redacted.

    The closed sets are :class:`~enum.StrEnum` fields; a record read back from a database or
    a cassette may hold the stored strings instead, which compare equal to the members (so
    compare with ``==``, never ``is``)."""

    id: str
    started: datetime
    status: Status = Status.OPEN
    ended: datetime | None = None
    upstream_url: str | None = None
    path: str | None = None
    model: str | None = None
    client_addr: str | None = None
    flavour: Flavour = Flavour.GA
    headers: list[tuple[str, str]] = field(default_factory=list)
    subprotocols: list[str] = field(default_factory=list)
    subprotocol: str | None = None
    close_code: int | None = None
    close_reason: str | None = None
    closed_by: ClosedBy | None = None
    status_reason: str | None = None
    label: str | None = None
    replay_of: str | None = None
    recorder_id: str | None = None
    client_events: int = 0
    server_events: int = 0
    client_bytes: int = 0
    server_bytes: int = 0
    input_audio_ms: float = 0.0
    output_audio_ms: float = 0.0
    lost_frames: int = 0
    transport: Transport = Transport.WEBSOCKET

    @property
    def avg_frame_bytes(self) -> float | None:
        """Mean stored frame size by the running totals (None before the first frame)."""
        frames = self.client_events + self.server_events
        return (self.client_bytes + self.server_bytes) / frames if frames else None

    @property
    def duration_s(self) -> float | None:
        if self.ended is None:
            return None
        return (self.ended - self.started).total_seconds()


@dataclass(slots=True)
class EventRecord:
    """One stored frame: raw bytes plus what the parser found in it (``direction`` and
    ``opcode`` read back from a database are their strings, equal to the members)."""

    session_id: str
    seq: int
    direction: Direction
    t_ns: int
    wall_ns: int
    opcode: Opcode
    data: bytes
    type: str | None = None
    event_id: str | None = None
    item_id: str | None = None
    response_id: str | None = None
    call_id: str | None = None
    parse_error: str | None = None
    delivered: bool = True
    audio_bytes: int = 0

    @property
    def size_bytes(self) -> int:
        return len(self.data)

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.wall_ns / 1e9, tz=UTC)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


SORT_COLUMNS = {
    "started": "started_at", "ended": "ended_at", "model": "model", "status": "status",
    "label": "label", "client_events": "client_events", "server_events": "server_events",
    "input_audio_ms": "input_audio_ms", "output_audio_ms": "output_audio_ms",
}
"""Sort keys of :class:`SessionQuery` -> session columns."""


@dataclass(frozen=True, slots=True)
class SessionQuery:
    """A search over sessions: filters (substring for label and model), order, one page."""

    label: str | None = None
    model: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sort: str = "started"
    descending: bool = True
    offset: int = 0
    limit: int = 50
