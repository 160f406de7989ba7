"""The store: a few typed calls over the database. Callers never build SQL."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Engine, case, func, insert, literal, or_, select, update
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)

from ..config import DEFAULT_DB_URL as DEFAULT_URL
from ..errors import StoreError, UsageError, first_line
from ..protocol import redact_url
from . import db
from .db import (
    current_revision,
    head_revision,
    make_engine,
    require_existing,
    sqlite_dir,
    unwritable_dir_hint,
    upgrade,
)
from .models import Event, Recorder, Session
from .records import SORT_COLUMNS, EventRecord, SessionQuery, SessionRecord, Status, utcnow

if TYPE_CHECKING:
    from .chunks import AudioCut, RawChunk
    from .columnar import ChunkReader

__all__ = ["DatabaseError", "DriverError", "FieldRule", "Store", "StoreUnavailable",
           "open_store", "session_field_rules"]

DatabaseError = SQLAlchemyError
"""Any failure of the database or of a statement (callers catch this, never SQLAlchemy's)."""
DriverError = DBAPIError
"""A failure the database driver reported (connection, lock, constraint)."""
STALE_AFTER_S = 15.0
"""A recorder silent for this long is presumed dead; its open sessions become incomplete."""

AMBIGUOUS_SHOWN = 5
"""An ambiguous session prefix lists at most this many of the ids it matches."""

_SESSION_COLUMNS = {
    "started": "started_at",
    "ended": "ended_at",
    "headers": "headers_json",
    "subprotocols": "subprotocols_json",
}
_EVENT_FIELDS = (
    "session_id", "seq", "direction", "t_ns", "wall_ns", "opcode", "data", "type", "event_id",
    "item_id", "response_id", "call_id", "parse_error", "delivered", "audio_bytes",
)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _session_values(rec: SessionRecord) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in SessionRecord.__slots__:
        value = getattr(rec, name)
        if name == "headers":
            value = json.dumps([list(h) for h in value])
        elif name == "subprotocols":
            value = json.dumps(list(value))
        values[_SESSION_COLUMNS.get(name, name)] = value
    return values


def _session_from_row(row: Any) -> SessionRecord:
    m = row._mapping
    return SessionRecord(
        id=m["id"],
        started=_aware(m["started_at"]),  # type: ignore[arg-type]
        ended=_aware(m["ended_at"]),
        status=m["status"],
        upstream_url=m["upstream_url"],
        path=m["path"],
        model=m["model"],
        client_addr=m["client_addr"],
        flavour=m["flavour"],
        headers=[(h[0], h[1]) for h in json.loads(m["headers_json"] or "[]")],
        subprotocols=list(json.loads(m["subprotocols_json"] or "[]")),
        subprotocol=m["subprotocol"],
        close_code=m["close_code"],
        close_reason=m["close_reason"],
        closed_by=m["closed_by"],
        status_reason=m["status_reason"],
        label=m["label"],
        replay_of=m["replay_of"],
        recorder_id=m["recorder_id"],
        client_events=m["client_events"],
        server_events=m["server_events"],
        client_bytes=m["client_bytes"],
        server_bytes=m["server_bytes"],
        input_audio_ms=m["input_audio_ms"],
        output_audio_ms=m["output_audio_ms"],
        lost_frames=m["lost_frames"],
        transport=m["transport"],
    )


def _event_from_row(row: Any) -> EventRecord:
    (sid, seq, direction, t_ns, wall_ns, opcode, data, etype, event_id, item_id, response_id,
     call_id, parse_error, delivered, audio_bytes) = row
    return EventRecord(sid, seq, direction, t_ns, wall_ns, opcode, bytes(data), etype, event_id,
                       item_id, response_id, call_id, parse_error, bool(delivered), audio_bytes)


_ROW_COLUMNS = (*_EVENT_FIELDS, "size_bytes")


def _row_tuple(ev: EventRecord) -> tuple[Any, ...]:
    return (ev.session_id, ev.seq, ev.direction, ev.t_ns, ev.wall_ns, ev.opcode, ev.data,
            ev.type, ev.event_id, ev.item_id, ev.response_id, ev.call_id, ev.parse_error,
            ev.delivered, ev.audio_bytes, len(ev.data))


@dataclass(frozen=True, slots=True)
class FieldRule:
    """What the sessions table accepts for one :class:`SessionRecord` field."""

    nullable: bool
    max_length: int | None
    """Longest string the column holds (None: unbounded or not a string)."""


def session_field_rules() -> dict[str, FieldRule]:
    """Per :class:`SessionRecord` field stored as a column of its own, what it accepts."""
    columns = {v: k for k, v in _SESSION_COLUMNS.items()}
    return {columns.get(c.name, c.name): FieldRule(bool(c.nullable),
                                                   getattr(c.type, "length", None))
            for c in Session.__table__.columns}


class StoreUnavailable(Exception):
    """The database itself failed (full, locked, down); ``remaining`` were not stored."""

    def __init__(self, reason: str, remaining: list[EventRecord]) -> None:
        super().__init__(reason)
        self.remaining = remaining


class Store:
    """Sessions and events in one database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def url(self) -> str:
        """The database URL with any password and key redacted."""
        return redact_url(self.engine.url.render_as_string(hide_password=True))

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self.engine.dispose()

    def sqlite_path(self) -> Path | None:
        """The SQLite database file (None for other databases, ``:memory:`` and URIs)."""
        if sqlite_dir(self.engine) is None:
            return None
        return Path(os.path.abspath(os.path.expanduser(str(self.engine.url.database))))

    def wal_full(self) -> bool:
        """Whether a SQLite database's write-ahead log has passed ``db.WAL_BOUND`` (a
        deferred checkpoint must not wait any longer); False for other databases."""
        path = self.sqlite_path()
        if path is None:
            return False
        try:
            return os.stat(f"{path}-wal").st_size > db.WAL_BOUND
        except OSError:
            return False

    def checkpoint(self) -> None:
        """Copy SQLite's write-ahead log into the database file without waiting for
        readers (PASSIVE); nothing for other databases."""
        if self.engine.dialect.name != "sqlite":
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def schema_revision(self) -> str | None:
        """The database's Alembic revision (None when empty)."""
        with self.engine.connect() as conn:
            return current_revision(conn)

    @staticmethod
    def head_revision() -> str | None:
        """The newest schema revision shipped with this version."""
        return head_revision()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ recorders

    def register_recorder(self, recorder_id: str) -> None:
        """Record that a recorder process is alive on this host (again, for a restarted
        writer: the row is refreshed)."""
        now = utcnow()
        values = dict(host=socket.gethostname(), pid=os.getpid(), heartbeat_at=now)
        with self.engine.begin() as conn:
            done = conn.execute(update(Recorder).where(Recorder.id == recorder_id).values(
                **values, stopped_at=None))
            if not done.rowcount:
                conn.execute(insert(Recorder).values(id=recorder_id, started_at=now, **values))

    def heartbeat(self, recorder_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(Recorder).where(Recorder.id == recorder_id)
                         .values(heartbeat_at=utcnow()))

    def stop_recorder(self, recorder_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(Recorder).where(Recorder.id == recorder_id)
                         .values(stopped_at=utcnow()))

    def mark_orphans_incomplete(self) -> int:
        """Mark open sessions of dead recorders ``incomplete``; returns how many.

        A recorder is alive while it has not stopped, its heartbeat is fresh and, on this
        host, its process exists; sessions of live recorders (another machine sharing a
        PostgreSQL database included) are left alone.
        """
        now, host = utcnow(), socket.gethostname()
        with self.engine.begin() as conn:
            owners = {r for (r,) in conn.execute(
                select(Session.recorder_id).where(Session.status == Status.OPEN).distinct())}
            if not owners:
                return 0
            alive: set[str] = set()
            for rid, rhost, pid, beat, stopped in conn.execute(
                    select(Recorder.id, Recorder.host, Recorder.pid, Recorder.heartbeat_at,
                           Recorder.stopped_at).where(Recorder.id.in_(owners - {None}))):
                fresh = now - (_aware(beat) or now) <= timedelta(seconds=STALE_AFTER_S)
                if stopped is None and fresh and (rhost != host or _pid_alive(pid)):
                    alive.add(rid)
            dead = owners - alive
            conds = [Session.recorder_id.in_(dead - {None})]
            if None in dead:
                conds.append(Session.recorder_id.is_(None))
            orphans = [sid for (sid,) in conn.execute(
                select(Session.id).where(Session.status == Status.OPEN, or_(*conds)))]
            counts = _stored_counts(conn, orphans)
            for sid in orphans:  # the counts of what is stored, not the last running totals
                conn.execute(update(Session).where(Session.id == sid).values(
                    status=Status.INCOMPLETE,
                    status_reason="recorder stopped before the session ended",
                    **counts.get(sid, dict.fromkeys(_COUNT_FIELDS, 0))))
            return len(orphans)

    def stored_counts(self, session_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Events and bytes stored per direction, by session id (SessionRecord names)."""
        with self.engine.connect() as conn:
            return _stored_counts(conn, session_ids)

    # ------------------------------------------------------------------ writing

    def create_session(self, rec: SessionRecord) -> None:
        """Insert a new session row."""
        with self.engine.begin() as conn:
            conn.execute(insert(Session).values(**_session_values(rec)))

    def update_session(self, session_id: str, **fields: Any) -> None:
        """Update some fields of a session (SessionRecord field names)."""
        values: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "headers":
                value = json.dumps([list(h) for h in value])
            elif name == "subprotocols":
                value = json.dumps(list(value))
            values[_SESSION_COLUMNS.get(name, name)] = value
        with self.engine.begin() as conn:
            conn.execute(update(Session).where(Session.id == session_id).values(**values))

    def _insert_sql(self) -> str:
        """The events INSERT in the driver's own parameter style (the writer's hot path)."""
        style = self.engine.dialect.paramstyle
        marks = ", ".join(["?"] * len(_ROW_COLUMNS)) if style == "qmark" else \
            ", ".join(["%s"] * len(_ROW_COLUMNS))
        return f"INSERT INTO events ({', '.join(_ROW_COLUMNS)}) VALUES ({marks})"

    def insert_events(self, events: Sequence[EventRecord]) -> list[EventRecord]:
        """Insert a batch of events; returns the rows that could not be stored.

        Plain tuples through the driver's ``executemany`` (no per-row ORM or Core
        processing). A batch refused for one of its rows is retried row by row so one bad row
        never loses its neighbours; a batch the database itself failed (down, locked, full)
        is not, since every row would fail again, each after the same wait (a lock's busy
        timeout, a connect timeout).
        """
        if not events:
            return []
        sql = self._insert_sql()
        rows = [_row_tuple(ev) for ev in events]
        try:
            with self.engine.begin() as conn:
                conn.exec_driver_sql(sql, rows)
            return []
        except (OperationalError, InterfaceError) as exc:  # the database, not a row
            raise StoreUnavailable(first_line(exc), list(events)) from exc
        except (SQLAlchemyError, UnicodeError, ValueError):
            pass
        failed: list[EventRecord] = []
        for i, (ev, row) in enumerate(zip(events, rows, strict=True)):
            try:
                with self.engine.begin() as conn:
                    conn.exec_driver_sql(sql, [row])
            except (OperationalError, InterfaceError) as exc:  # the database, not the row
                raise StoreUnavailable(str(getattr(exc, "orig", None) or exc),
                                       [*failed, *events[i:]]) from exc
            except (SQLAlchemyError, UnicodeError, ValueError):
                failed.append(ev)
        return failed

    def update_sessions(self, changes: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Update several sessions in one transaction (running totals)."""
        if not changes:
            return
        with self.engine.begin() as conn:
            for session_id, fields in changes:
                conn.execute(update(Session).where(Session.id == session_id).values(
                    **{_SESSION_COLUMNS.get(k, k): v for k, v in fields.items()}))

    def save_session(self, rec: SessionRecord, events: Iterable[EventRecord],
                     batch: int = 2000) -> None:
        """Insert a whole session and its events in one transaction (import)."""
        sql = self._insert_sql()
        with self.engine.begin() as conn:
            conn.execute(insert(Session).values(**_session_values(rec)))
            chunk: list[tuple[Any, ...]] = []
            for ev in events:
                chunk.append(_row_tuple(ev))
                if len(chunk) >= batch:
                    conn.exec_driver_sql(sql, chunk)
                    chunk = []
            if chunk:
                conn.exec_driver_sql(sql, chunk)

    def import_session(self, rec: SessionRecord, events: Iterable[EventRecord]) -> bool:
        """:meth:`save_session`, or False (nothing written) when a session with this id
        or one of these rows is already stored (imported concurrently by someone else)."""
        try:
            self.save_session(rec, events)
        except IntegrityError:
            return False
        return True

    # ------------------------------------------------------------------ reading

    def has_session(self, session_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(Session.id).where(Session.id == session_id)).first() \
                is not None

    def session(self, session_id: str) -> SessionRecord:
        """One session by exact id."""
        with self.engine.connect() as conn:
            row = conn.execute(select(Session.__table__).where(Session.id == session_id)).first()
        if row is None:
            raise UsageError(f"no session {session_id!r}")
        return _session_from_row(row)

    def sessions(self, label: str | None = None, limit: int | None = None,
                 since: datetime | None = None) -> list[SessionRecord]:
        """Sessions, newest first."""
        stmt = select(Session.__table__).order_by(Session.started_at.desc(), Session.id.desc())
        if label is not None:
            stmt = stmt.where(Session.label == label)
        if since is not None:
            stmt = stmt.where(Session.started_at >= since)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return [_session_from_row(r) for r in conn.execute(stmt)]

    def search_sessions(self, query: SessionQuery) -> tuple[list[SessionRecord], int]:
        """One page of sessions matching ``query``, and how many match in all."""
        cond: list[ColumnElement[bool]] = []
        if query.label:
            cond.append(Session.label.like(f"%{_like_escape(query.label)}%", escape="\\"))
        if query.model:
            cond.append(Session.model.like(f"%{_like_escape(query.model)}%", escape="\\"))
        if query.status:
            cond.append(Session.status == query.status)
        if query.since is not None:
            cond.append(Session.started_at >= query.since)
        if query.until is not None:
            cond.append(Session.started_at < query.until)
        column = getattr(Session, SORT_COLUMNS[query.sort])
        order = [column.desc() if query.descending else column.asc(),
                 Session.id.desc() if query.descending else Session.id.asc()]
        stmt = select(Session.__table__).where(*cond).order_by(*order) \
            .offset(query.offset).limit(query.limit)
        with self.engine.connect() as conn:
            rows = [_session_from_row(r) for r in conn.execute(stmt)]
            total = int(conn.execute(select(func.count()).select_from(Session)
                                     .where(*cond)).scalar_one())
        return rows, total

    def resolve(self, selector: str) -> str:
        """A SESSION argument (id, unique prefix, ``last``, ``@label``) to a session id."""
        with self.engine.connect() as conn:
            if selector == "last" or selector.startswith("@"):
                stmt = select(Session.id).order_by(Session.started_at.desc(), Session.id.desc())
                if selector.startswith("@"):
                    stmt = stmt.where(Session.label == selector[1:])
                row = conn.execute(stmt.limit(1)).first()
                if row is None:
                    what = "no sessions recorded" if selector == "last" else \
                        f"no session labelled {selector[1:]!r}"
                    raise UsageError(f"{what} in {self.url}")
                return str(row[0])
            if not selector:
                raise UsageError("empty session id")
            exact = conn.execute(select(Session.id).where(Session.id == selector)).first()
            if exact is not None:
                return str(exact[0])
            pattern = _like_escape(selector)
            matches = [r[0] for r in conn.execute(
                select(Session.id).where(Session.id.like(pattern + "%", escape="\\"))
                .order_by(Session.id).limit(AMBIGUOUS_SHOWN + 1))]
        if not matches:
            raise UsageError(f"no session matches {selector!r} in {self.url}")
        if len(matches) > 1:
            shown = ", ".join(matches[:AMBIGUOUS_SHOWN])
            more = " ..." if len(matches) > AMBIGUOUS_SHOWN else ""
            raise UsageError(f"session prefix {selector!r} is ambiguous: {shown}{more} "
                             "(give more characters)")
        return str(matches[0])

    def events(self, session_id: str, direction: str | None = None,
               types: Sequence[str] | None = None, chunk: int = 2000,
               without_data: Sequence[str] = (), last_seq: int | None = None
               ) -> Iterator[EventRecord]:
        """A session's events in ``seq`` order, streamed in chunks (bounded memory).

        Events of the types in ``without_data`` come with empty ``data`` (not read);
        ``last_seq`` stops there (a consistent prefix of a session still being recorded)."""
        cols = _event_columns(without_data)
        last = -1
        while True:
            stmt = select(*cols).where(Event.session_id == session_id, Event.seq > last)
            if direction is not None:
                stmt = stmt.where(Event.direction == direction)
            if types is not None:
                stmt = stmt.where(Event.type.in_(list(types)))
            if last_seq is not None:
                stmt = stmt.where(Event.seq <= last_seq)
            stmt = stmt.order_by(Event.seq).limit(chunk)
            with self.engine.connect() as conn:
                rows = conn.execute(stmt).all()
            for row in rows:
                yield _event_from_row(row)
            if len(rows) < chunk:
                return
            last = rows[-1][1]

    def events_in(self, session_ids: Sequence[str], without_data: Sequence[str] = ()
                  ) -> Iterator[EventRecord]:
        """The events of a few small sessions in one query: by session id, then ``seq``.

        For reading many short sessions without a query each; the caller bounds memory by
        the number of events it asks for at once (use :meth:`events` for a large session).
        Events of the types in ``without_data`` come with empty ``data`` (not read).
        """
        stmt = select(*_event_columns(without_data)).where(Event.session_id.in_(list(session_ids))) \
            .order_by(Event.session_id, Event.seq)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        for row in rows:
            yield _event_from_row(row)

    def count_events(self, session_id: str, last_seq: int | None = None) -> int:
        """How many events the session has (up to ``last_seq``, when given)."""
        stmt = select(func.count()).select_from(Event).where(Event.session_id == session_id)
        if last_seq is not None:
            stmt = stmt.where(Event.seq <= last_seq)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def seq_bounds(self, session_id: str) -> tuple[int, int]:
        """(first seq, last seq) of a session, from the index; (0, -1) when it has none."""
        from .columnar import seq_bounds

        with self.engine.connect() as conn:
            return seq_bounds(conn, session_id)

    # ------------------------------------------------------------------ bulk reading

    def chunk_ranges(self, session_id: str, *, avg_frame_bytes: float | None = None,
                     last_seq: int | None = None) -> list[tuple[int, int]]:
        """``[lo, hi)`` seq ranges covering a session, each about 8 MB of frames (by
        ``avg_frame_bytes``); ``last_seq`` stops there (a consistent prefix)."""
        from .columnar import chunk_ranges

        first, last = self.seq_bounds(session_id)
        if last_seq is not None:
            last = min(last, last_seq)
        return chunk_ranges(first, last, avg_frame_bytes)

    def read_chunks(self, session_id: str, *, cut: AudioCut | None = None,
                    last_seq: int | None = None, fast: bool = True,
                    avg_frame_bytes: float | None = None) -> Iterator[RawChunk]:
        """A session's events in ``seq`` order as columnar chunks of bounded size.

        ``cut`` lets the SQLite reader strip audio while reading (rows it could not handle
        come back as raw frames with ``stripped`` false); ``fast=False`` forces the generic
        reader (tests compare the two).
        """
        from .columnar import read_range

        ranges = self.chunk_ranges(session_id, avg_frame_bytes=avg_frame_bytes,
                                   last_seq=last_seq)
        if not ranges:
            return
        with self.engine.connect() as conn:
            for lo, hi in ranges:
                chunk = read_range(conn, session_id, lo, hi, cut, fast)
                if chunk is not None:
                    yield chunk

    def chunk_reader(self, *, cut: AudioCut | None = None, workers: int = 2,
                     ahead: int = 3, fast: bool = True) -> ChunkReader:
        """A reader of many chunk ranges on worker threads, yielding them in order."""
        from .columnar import ChunkReader

        return ChunkReader(self.engine, cut=cut, workers=workers, ahead=ahead, fast=fast)


def _event_columns(without_data: Sequence[str]) -> list[Any]:
    """The event columns to select; ``data`` left empty for the types in ``without_data``."""
    cols: list[Any] = [getattr(Event, name) for name in _EVENT_FIELDS]
    if without_data:
        i = _EVENT_FIELDS.index("data")
        cols[i] = case((Event.type.in_(list(without_data)), literal(b"")),
                       else_=Event.data).label("data")
    return cols


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_COUNT_FIELDS = ("client_events", "server_events", "client_bytes", "server_bytes")


def _stored_counts(conn: Any, session_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for start in range(0, len(session_ids), 500):
        chunk = list(session_ids[start:start + 500])
        for sid, direction, count, size in conn.execute(
                select(Event.session_id, Event.direction, func.count(),
                       func.coalesce(func.sum(Event.size_bytes), 0))
                .where(Event.session_id.in_(chunk))
                .group_by(Event.session_id, Event.direction)):
            entry = out.setdefault(sid, dict.fromkeys(_COUNT_FIELDS, 0))
            entry[f"{direction}_events"] = int(count)
            entry[f"{direction}_bytes"] = int(size)
    return out


def _pid_alive(pid: int) -> bool:
    """True if a process with this pid runs on this host (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")


def open_store(url: str | None = None, *, check_orphans: bool = True,
               create: bool = True, defer_checkpoints: bool = False) -> Store:
    """Open (and upgrade) the database at ``url``; mark dead recorders' sessions incomplete.

    With ``create=False`` (the commands that only read) a database that does not exist, or
    holds no rtcapture tables, is an error instead of being created. With
    ``defer_checkpoints`` (the recorder's writer) a SQLite commit never runs a WAL
    checkpoint: the caller runs :meth:`Store.checkpoint` when idle, or past ``WAL_BOUND``.
    """
    engine = make_engine(url or DEFAULT_URL, defer_checkpoints=defer_checkpoints)
    try:
        if not create:
            require_existing(engine, str(url or DEFAULT_URL))
        upgrade(engine)
        store = Store(engine)
        if check_orphans:
            store.mark_orphans_incomplete()
    except StoreError:
        engine.dispose()
        raise
    except (DBAPIError, SQLAlchemyError) as exc:
        engine.dispose()
        raise StoreError(f"cannot open database {redact_url(str(url or DEFAULT_URL))}: "
                         f"{first_line(exc)}{unwritable_dir_hint(engine)}") from exc
    return store
