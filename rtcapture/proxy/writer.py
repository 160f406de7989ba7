"""The writer process: reads the record stream on stdin, parses frames, commits in batches.

It runs beside the relay so that parsing and database inserts never contend with the
relay's event loop (see PERFORMANCE notes in the README). It reports to the relay with
JSON lines on stdout. On EOF (the relay exited, even by ``kill -9``) it commits what it
has, marks the sessions still open ``incomplete`` and exits.

Run as ``python -m rtcapture.proxy.writer``; the first record is a ``config`` control.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import RtcaptureError, first_line
from ..protocol import ClosedBy, Direction, Opcode, flavour_from_path
from ..protocol.sniff import LARGE_FRAME
from ..protocol.webrtc import media_event
from ..store import (
    HEARTBEAT_S,
    DatabaseError,
    DriverError,
    Store,
    StoreUnavailable,
    open_store,
)
from ..store.records import EventRecord, SessionRecord, Status
from .controls import Begin, Config, Control, End, Media, Opened, Shutdown, Spill, SpillEnd
from .ingest import SessionTally
from .memory import release_large_buffers
from .source import RecordSource
from .stream import INCOMPLETE_MESSAGE, FrameMsg
from .writing import FLUSH_INTERVAL_S, Batch, Heartbeat, session_end

TOTALS_INTERVAL_S = 5.0
CHECKPOINT_QUIET_S = 1.0
"""The WAL is checkpointed once the record stream has been quiet this long (or past
``WAL_BOUND``): copying it into the database inside a burst delayed relaying (measured in
docs/performance.md)."""
RETRY_INTERVAL_S = 1.0
SPILL_REPORT_S = 0.1
"""How often the writer tells the recorder how far it has read a spill file."""
WRITER_NICENESS = 10
STORED_REPORT_S = 0.2
"""How often the writer tells the recorder how many rows it has committed (the summary)."""
IMMUNE_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
"""Ignored: the writer stops when its stdin ends, once everything before it is committed.
A terminal's Ctrl-C, a closed terminal and systemd's SIGTERM to every process of the
service reach it too; the recorder decides when the stream ends."""


class StoreGone(OSError):
    """The SQLite file the writer opened was deleted or replaced while it ran."""


@dataclass
class _Live:
    record: SessionRecord
    tally: SessionTally = field(default_factory=SessionTally)
    lost: int = 0
    stored: bool = False
    dirty: bool = False
    rows: int = 0
    """Events of this session committed."""


class Writer:
    """Turns the record stream into database rows."""

    def __init__(self, store: Store, recorder_id: str) -> None:
        self.store = store
        self.recorder_id = recorder_id
        self.live: dict[int, _Live] = {}
        self.pending: Batch[EventRecord] = Batch()
        self.failed_reason: str | None = None
        self.lost_total = 0
        self.next_retry = 0.0
        self.unsaved: dict[str, tuple[_Live, dict[str, Any]]] = {}
        """Session id -> a session end the store refused, to write once it recovers."""
        self.stored_total = 0
        self.stored_changed: dict[int, int] = {}
        """Session number -> rows committed, not yet reported."""
        self.last_stored_report = 0.0
        self.last_loss = 0.0
        """When frames were last lost to a store failure (monotonic)."""
        self.identity = _file_identity(store)
        self.unchecked = False
        """Commits since the last WAL checkpoint."""
        self.opus: dict[tuple[int, bool], Any] = {}
        """(session number, server side) -> the Opus decoder of that track."""

    # ---------------------------------------------------------------- reporting

    @staticmethod
    def report(obj: dict[str, Any]) -> None:
        try:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            pass

    def fail(self, exc: BaseException) -> None:
        text = first_line(exc)
        if self.failed_reason is None:
            self.report({"event": "store_failed", "reason": text})
        self.failed_reason = text
        self.next_retry = time.monotonic() + RETRY_INTERVAL_S

    def recovered(self, proof: bool = False) -> None:
        """The store works again: only a committed batch of events proves it while frames
        are being lost (a small write may succeed on a full disk; no flapping)."""
        if self.failed_reason is None:
            return
        if not proof and time.monotonic() - self.last_loss < 2 * RETRY_INTERVAL_S:
            return
        self.failed_reason = None
        self.report({"event": "store_ok"})

    def check_file(self) -> None:
        """Raise :class:`StoreGone` if the SQLite file was deleted or replaced."""
        if self.identity is None:
            return
        path, ident = self.identity
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise StoreGone(f"the database file {path} was deleted") from None
        if (st.st_dev, st.st_ino) != ident:
            raise StoreGone(f"the database file {path} was replaced")

    def report_stored(self, force: bool = False) -> None:
        """Tell the recorder what was committed (throttled)."""
        now = time.monotonic()
        if not self.stored_changed or (not force and
                                       now - self.last_stored_report < STORED_REPORT_S):
            return
        self.last_stored_report = now
        self.report({"event": "stored", "total": self.stored_total,
                     "sessions": {str(k): v for k, v in self.stored_changed.items()}})
        self.stored_changed.clear()

    # ---------------------------------------------------------------- records

    def handle(self, msg: FrameMsg | Control) -> None:
        """Act on one record of the stream (``config`` and ``shutdown`` are :func:`run`'s)."""
        match msg:
            case FrameMsg():
                self._frame(msg)
            case Media():
                self._media(msg)
            case Begin():
                self._begin(msg)
            case Opened():
                self._opened(msg)
            case End():
                self._end(msg)
            case Config() | Shutdown() | Spill() | SpillEnd():
                raise ValueError(f"unexpected {msg.OP} record")

    def _frame(self, msg: FrameMsg, opcode: Opcode | None = None) -> None:
        live = self.live.get(msg.session_no)
        if live is None:
            return
        ev = live.tally.build(live.record.id, msg.seq,
                              Direction.SERVER if msg.server else Direction.CLIENT,
                              msg.t_ns, msg.wall_ns,
                              opcode or (Opcode.BINARY if msg.binary else Opcode.TEXT),
                              msg.data, msg.delivered)
        if msg.incomplete:
            ev.parse_error = INCOMPLETE_MESSAGE
        live.dirty = True
        self.pending.add(ev, time.monotonic())
        if len(msg.data) >= LARGE_FRAME:
            self.flush()  # stored before the next record is decoded: one payload held

    def _media(self, msg: Media) -> None:
        """A WebRTC track's audio as its equivalent JSON event (opcode ``media``); relayed
        Opus is decoded here, in order, with one decoder per session and direction."""
        audio = msg.audio
        if msg.opus:
            key = (msg.no, msg.server)
            decoder = self.opus.get(key)
            if decoder is None:
                from ..opus import OpusToPcm  # PyAV: only for WebRTC sessions

                decoder = self.opus[key] = OpusToPcm()
            pcm = decoder.pcm([base64.b64decode(packet) for packet in msg.opus])
            audio = base64.b64encode(pcm).decode("ascii")
        data = media_event(msg.server, audio, msg.response_id, msg.item_id)
        self._frame(FrameMsg(msg.no, msg.seq, msg.server, False, msg.delivered, msg.t_ns,
                             msg.wall_ns, data), Opcode.MEDIA)

    def _begin(self, msg: Begin) -> None:
        fields = msg.session
        rec = SessionRecord(
            id=fields.id, started=fields.started, status=Status.OPEN,
            recorder_id=self.recorder_id, headers=list(fields.headers),
            upstream_url=fields.upstream_url, path=fields.path, model=fields.model,
            client_addr=fields.client_addr, label=fields.label, replay_of=fields.replay_of,
            subprotocols=list(fields.subprotocols), transport=fields.transport,
        )
        live = _Live(rec)
        if fields.flavour:
            live.tally.flavour.handshake = fields.flavour
        live.tally.flavour.path_hint = flavour_from_path(rec.path or "")
        rec.flavour = live.tally.flavour.flavour
        self.live[msg.no] = live
        self.flush()  # frames of earlier sessions first, then this row
        try:
            self.check_file()
            if msg.resume and self.store.has_session(rec.id):
                # a restarted writer: the row (and some events) came from its predecessor
                for key, value in self.store.stored_counts([rec.id]).get(rec.id, {}).items():
                    setattr(live.tally, key, value)
                live.rows = live.tally.client_events + live.tally.server_events
            else:
                _again_on_disconnect(self.store.create_session, rec)
            live.stored = True
            self.recovered()
        except (DatabaseError, OSError) as exc:
            self.fail(exc)

    def _opened(self, msg: Opened) -> None:
        live = self.live.get(msg.no)
        if live is not None:
            live.record.subprotocol = msg.subprotocol

    def _end(self, msg: End) -> None:
        if msg.no not in self.live:
            return
        self.flush()  # while the session is live, so that frames lost here count for it
        live = self.live.pop(msg.no)
        for server in (False, True):
            self.opus.pop((msg.no, server), None)
        rec = live.record
        dropped = msg.dropped  # by the relay while the store failed
        totals: dict[str, Any] = live.tally.totals()
        for key, count in dropped.items():
            totals[key] += count
        lost = live.lost + dropped.get("client_events", 0) + dropped.get("server_events", 0)
        if msg.relayed is not None:  # the recorder's count: frames lost on the way count too
            lost = max(lost, msg.relayed - live.rows)
        fields = session_end(
            totals, ended=msg.ended, lost=lost, status=msg.status,
            status_reason=msg.status_reason, close_code=msg.close_code,
            close_reason=msg.close_reason, closed_by=msg.closed_by,
            subprotocol=rec.subprotocol)
        self._update(live, fields)
        self.report_stored(force=True)
        self.report({"event": "session_closed", "id": rec.id, "no": msg.no,
                     "status": fields["status"], "status_reason": fields["status_reason"],
                     "close_code": msg.close_code, "lost": lost, "stored": live.rows, **totals})

    def _update(self, live: _Live, fields: dict[str, Any]) -> None:
        try:
            self.check_file()
            if not live.stored:
                _again_on_disconnect(self.store.create_session, live.record)
                live.stored = True
            _again_on_disconnect(self.store.update_session, live.record.id, **fields)
            self.unsaved.pop(live.record.id, None)
            self.recovered()
        except (DatabaseError, OSError) as exc:
            self.unsaved[live.record.id] = (live, fields)  # written once the store recovers
            self.fail(exc)

    def save_unsaved(self, *, try_now: bool = False) -> None:
        """Write the session ends the store refused while it was failing (oldest first);
        ``try_now`` tries once even if the store has not been seen to recover."""
        for live, fields in list(self.unsaved.values()):
            if self.failed_reason is not None and not try_now:
                return
            try_now = False
            self._update(live, fields)

    # ---------------------------------------------------------------- batching

    def flush(self) -> None:
        """Commit everything pending."""
        if not self.pending:
            return
        batch = self.pending.take()
        if self.failed_reason is not None and time.monotonic() < self.next_retry:
            self._lose(batch)
            return
        try:
            self.check_file()
            failed = _again_on_disconnect(self.store.insert_events, batch)
        except StoreUnavailable as exc:
            self.fail(exc)
            self._lose(exc.remaining)
            self._count_stored(_without(batch, exc.remaining))
            return
        except (DatabaseError, OSError) as exc:
            self.fail(exc)
            self._lose(batch)
            return
        self.recovered(proof=True)
        self.unchecked = True
        self._lose(failed)  # rows the database refused one by one (the store itself works)
        self._count_stored(_without(batch, failed))

    def _count_stored(self, events: list[EventRecord]) -> None:
        if not events:
            return
        by_id = {live.record.id: (no, live) for no, live in self.live.items()}
        for ev in events:
            entry = by_id.get(ev.session_id)
            if entry is not None:
                entry[1].rows += 1
                self.stored_changed[entry[0]] = entry[1].rows
        self.stored_total += len(events)
        self.report_stored()

    def _lose(self, events: list[EventRecord]) -> None:
        if not events:
            return
        by_id = {live.record.id: live for live in self.live.values()}
        for ev in events:
            live = by_id.get(ev.session_id)
            if live is not None:
                live.lost += 1
        self.lost_total += len(events)
        self.last_loss = time.monotonic()
        self.report({"event": "lost", "count": len(events), "total": self.lost_total})

    def refresh_totals(self) -> None:
        """Write running totals of open sessions (one transaction) so ``sessions`` shows
        progress."""
        changed = [live for live in self.live.values() if live.dirty and live.stored]
        try:
            self.check_file()
            _again_on_disconnect(self.store.update_sessions,
                                 [(live.record.id, live.tally.totals()) for live in changed])
        except (DatabaseError, OSError) as exc:
            self.fail(exc)
            return
        for live in changed:
            live.dirty = False

    def checkpoint_if_due(self, quiet_s: float) -> None:
        """Run the WAL checkpoint SQLite's commits no longer run, out of the busy window: once
        the stream has been quiet ``CHECKPOINT_QUIET_S``, or the WAL passed its bound."""
        if not self.unchecked or (quiet_s < CHECKPOINT_QUIET_S and not self.store.wal_full()):
            return
        try:
            self.check_file()
            self.store.checkpoint()
        except (DatabaseError, OSError) as exc:
            self.fail(exc)
            return
        self.unchecked = False

    def abandon(self, reason: str) -> None:
        """The relay is gone: mark every open session incomplete."""
        self.flush()
        self.save_unsaved(try_now=True)
        ended = datetime.now(UTC)
        for no in list(self.live):
            self._end(End(no, ended, Status.INCOMPLETE, reason, closed_by=ClosedBy.RECORDER))


def _again_on_disconnect(call: Any, *args: Any, **kwargs: Any) -> Any:
    """``call`` once more on a fresh connection if the first try found the server had
    dropped the connection (PostgreSQL restarted, ``pg_terminate_backend``): the pool
    discards a dead connection, so nothing is lost to a connection that merely went stale."""
    try:
        return call(*args, **kwargs)
    except (StoreUnavailable, DriverError) as exc:
        cause = exc.__cause__ if isinstance(exc, StoreUnavailable) else exc
        if not getattr(cause, "connection_invalidated", False):
            raise
    return call(*args, **kwargs)


def _without(events: list[EventRecord], gone: list[EventRecord]) -> list[EventRecord]:
    """``events`` less the records in ``gone`` (by identity)."""
    if not gone:
        return events
    skip = {id(ev) for ev in gone}
    return [ev for ev in events if id(ev) not in skip]


def _file_identity(store: Store) -> tuple[str, tuple[int, int]] | None:
    """The SQLite file's path and (device, inode), or None for other databases."""
    file = store.sqlite_path()
    if file is None:
        return None
    path = str(file)
    try:
        st = os.stat(path)
    except OSError:
        return None
    return path, (st.st_dev, st.st_ino)


def _open(config: Config) -> Writer | None:
    """Open the store and say ``ready``, or say why it cannot be opened (``open_failed``,
    the one-line error the recorder shows) and return None."""
    try:
        store = open_store(config.db_url, check_orphans=True, defer_checkpoints=True)
    except RtcaptureError as exc:
        Writer.report({"event": "open_failed", "reason": str(exc)})
        return None
    writer = Writer(store, config.recorder_id)
    store.register_recorder(config.recorder_id)
    writer.report({"event": "ready"})
    return writer


def run(stdin_fd: int = 0) -> int:
    """Main loop of the writer process."""
    release_large_buffers()  # a big frame's buffers are not kept after it
    for name in IMMUNE_SIGNALS:
        with contextlib.suppress(AttributeError, OSError, ValueError):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        # Recording yields the CPU to relaying: the relay's latency never waits on parsing
        # or inserts; a backlog waits in the pipe, then in a spill file.
        os.nice(WRITER_NICENESS)
    source = RecordSource(stdin_fd)
    writer: Writer | None = None
    clean = False
    beat = Heartbeat(time.monotonic())
    last_totals = time.monotonic()
    last_position = 0.0
    last_record = time.monotonic()
    while True:
        timeout = FLUSH_INTERVAL_S if writer is not None and (
            writer.pending or writer.failed_reason) else HEARTBEAT_S
        records = source.read(timeout)
        if records is None:
            break
        for msg in records:
            if isinstance(msg, Config):
                writer = _open(msg)
                if writer is None:
                    return 1
                if msg.spill_dir is not None:
                    source.leftovers = (Path(msg.spill_dir), msg.recorder_id)
                continue
            if isinstance(msg, Shutdown):
                clean = True
                continue
            assert writer is not None, "config must come first"
            writer.handle(msg)
            del msg  # a large payload is not held while the next record is decoded
        if writer is None:
            continue
        now = time.monotonic()
        if writer.pending.due(now) or (writer.pending and source.idle) or (
                source.done and writer.pending):
            writer.flush()
        if source.done and not writer.pending:
            source.forget_done()  # its records are committed
        if not source.idle:
            last_record = now
        if not writer.pending:
            writer.checkpoint_if_due(now - last_record)
        position = source.position
        if position is not None and now - last_position >= SPILL_REPORT_S:
            last_position = now
            writer.report({"event": "spill_read", "path": position[0], "offset": position[1]})
        probe = writer.failed_reason is not None and now >= writer.next_retry
        if beat.due(now) or probe:
            beat.last = now
            try:
                writer.check_file()
                _again_on_disconnect(writer.store.heartbeat, writer.recorder_id)
                writer.recovered()
                writer.save_unsaved()
            except (DatabaseError, OSError) as exc:
                writer.fail(exc)
        writer.report_stored()
        if now - last_totals >= TOTALS_INTERVAL_S:
            last_totals = now
            writer.refresh_totals()
    if writer is not None:
        writer.abandon("recorder stopped before the session ended" if not clean
                       else "recorder shut down")
        with contextlib.suppress(DatabaseError, OSError):
            writer.store.stop_recorder(writer.recorder_id)
        writer.report_stored(force=True)
        writer.report({"event": "exit", "lost": writer.lost_total,
                       "stored": writer.stored_total})
        writer.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(run())
