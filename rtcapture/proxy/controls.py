"""The control records the recorder sends the writer on the record stream, typed.

Each is a frozen dataclass; on the stream it is one JSON object whose ``op`` names the kind
(:func:`to_wire` / :func:`from_wire`, used by :mod:`.stream`). Datetimes travel as ISO-8601
strings, a session's headers as ``[name, value]`` pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar

from ..protocol.events import ClosedBy, Flavour, Transport
from ..store.records import Status


@dataclass(frozen=True, slots=True)
class Config:
    """The first record: where to store, and which recorder this is."""

    OP: ClassVar[str] = "config"
    db_url: str
    recorder_id: str
    spill_dir: str | None = None
    """Where the recorder spills when the writer is behind (read at the end if need be)."""


@dataclass(frozen=True, slots=True)
class Shutdown:
    """The last record of a clean stop (else the stream ending means the relay died)."""

    OP: ClassVar[str] = "shutdown"


@dataclass(frozen=True, slots=True)
class SessionFields:
    """What the recorder knows of a session when it begins (secrets already redacted)."""

    id: str
    started: datetime
    upstream_url: str | None = None
    path: str | None = None
    model: str | None = None
    client_addr: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    subprotocols: tuple[str, ...] = ()
    flavour: Flavour | None = None
    """The dialect the handshake names, if it names one."""
    label: str | None = None
    replay_of: str | None = None
    transport: Transport = Transport.WEBSOCKET


@dataclass(frozen=True, slots=True)
class Begin:
    """A session begins: the writer creates its row (``resume``: a restarted writer, whose
    predecessor may have created it already)."""

    OP: ClassVar[str] = "begin"
    no: int
    session: SessionFields
    resume: bool = False


@dataclass(frozen=True, slots=True)
class Opened:
    """Both legs are open (the subprotocol the upstream chose)."""

    OP: ClassVar[str] = "opened"
    no: int
    subprotocol: str | None = None


@dataclass(frozen=True, slots=True)
class Media:
    """A chunk of a WebRTC track's audio, stored as its equivalent JSON event (opcode
    ``media``): PCM16 at the media rate (``audio``, base64), or the Opus packets as relayed
    (``opus``, base64 each), which the writer decodes, in order, per session and direction."""

    OP: ClassVar[str] = "media"
    no: int
    seq: int
    server: bool
    t_ns: int
    wall_ns: int
    audio: str = ""
    opus: tuple[str, ...] = ()
    response_id: str | None = None
    item_id: str | None = None
    delivered: bool = True


@dataclass(frozen=True, slots=True)
class End:
    """A session ended: how, and what the relay knows the writer may have missed."""

    OP: ClassVar[str] = "end"
    no: int
    ended: datetime
    status: Status = Status.CLOSED
    status_reason: str | None = None
    close_code: int | None = None
    close_reason: str | None = None
    closed_by: ClosedBy | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    """Counts and bytes by direction the relay dropped while the store failed."""
    relayed: int | None = None
    """Frames the relay handed on (frames lost on the way count as lost)."""


@dataclass(frozen=True, slots=True)
class Spill:
    """What follows is in the spill file at ``path``, not on the pipe (until
    :class:`SpillEnd`)."""

    OP: ClassVar[str] = "spill"
    path: str


@dataclass(frozen=True, slots=True)
class SpillEnd:
    """The spill file ends after ``size`` bytes; what follows on the pipe comes after it."""

    OP: ClassVar[str] = "spill_end"
    path: str
    size: int


Control = Config | Shutdown | Begin | Opened | Media | End | Spill | SpillEnd
"""Any control record."""

_KINDS: dict[str, type[Control]] = {kind.OP: kind for kind in (
    Config, Shutdown, Begin, Opened, Media, End, Spill, SpillEnd)}


def to_wire(msg: Control) -> dict[str, Any]:
    """``msg`` as the JSON object of its control record."""
    return {"op": msg.OP} | {f.name: _plain(getattr(msg, f.name)) for f in fields(msg)}


def _plain(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, SessionFields):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def from_wire(obj: dict[str, Any]) -> Control:
    """The control record a JSON object stands for (``ValueError`` for an unknown ``op``)."""
    values = dict(obj)
    kind = _KINDS.get(values.pop("op", None))
    if kind is None:
        raise ValueError(f"unknown control record {obj.get('op')!r}")
    if kind is Begin:
        session = dict(values["session"])
        session["started"] = datetime.fromisoformat(session["started"])
        session["headers"] = tuple((str(h[0]), str(h[1])) for h in session.get("headers", ()))
        session["subprotocols"] = tuple(session.get("subprotocols", ()))
        if session.get("flavour") is not None:
            session["flavour"] = Flavour(session["flavour"])
        if "transport" in session:
            session["transport"] = Transport(session["transport"])
        values["session"] = SessionFields(**session)
    elif kind is Media:
        values["opus"] = tuple(values.get("opus", ()))
    elif kind is End:
        values["ended"] = datetime.fromisoformat(values["ended"])
        values["status"] = Status(values.get("status", Status.CLOSED))
        if values.get("closed_by") is not None:
            values["closed_by"] = ClosedBy(values["closed_by"])
    return kind(**values)
