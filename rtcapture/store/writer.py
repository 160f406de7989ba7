"""The writer process: reads the record stream on stdin, parses frames, commits in batches.

It runs beside the relay so that parsing and database inserts never contend with the
relay's event loop (see PERFORMANCE notes in the README). It reports to the relay with
JSON lines on stdout. On EOF (the relay exited, even by ``kill -9``) it commits what it
has, marks the sessions still open ``incomplete`` and exits.

Run as ``python -m rtcapture.store.writer``; the first record is a ``config`` control.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ..errors import first_line
from ..ingest import SessionTally
from ..protocol import Flavour, Opcode, flavour_from_path
from .records import EventRecord, SessionRecord, Status
from .store import HEARTBEAT_S, Store, StoreUnavailable, open_store
from .stream import FrameMsg, StreamDecoder

FLUSH_INTERVAL_S = 0.08
"""Commit at least this often while frames are pending (the recorder is at most ~100 ms behind)."""
FLUSH_ROWS = 2000
TOTALS_INTERVAL_S = 5.0
RETRY_INTERVAL_S = 1.0
READ_PAUSE_S = 0.01
"""After draining the pipe, let frames gather this long before reading again: waking for
every batch the relay writes (thousands a second) cost more CPU than parsing them (the
pipe holds 1 MiB; the relay never waits on it)."""
READ_SIZE = 1 << 20
WRITER_NICENESS = 10


@dataclass
class _Live:
    record: SessionRecord
    tally: SessionTally = field(default_factory=SessionTally)
    lost: int = 0
    stored: bool = False
    dirty: bool = False


class Writer:
    """Turns the record stream into database rows."""

    def __init__(self, store: Store, recorder_id: str) -> None:
        self.store = store
        self.recorder_id = recorder_id
        self.live: dict[int, _Live] = {}
        self.pending: list[EventRecord] = []
        self.pending_since = 0.0
        self.failed_reason: str | None = None
        self.lost_total = 0
        self.next_retry = 0.0
        self.unsaved: dict[str, tuple[_Live, dict[str, Any]]] = {}
        """Session id -> a session end the store refused, to write once it recovers."""

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

    def recovered(self) -> None:
        if self.failed_reason is not None:
            self.failed_reason = None
            self.report({"event": "store_ok"})

    # ---------------------------------------------------------------- records

    def handle(self, msg: FrameMsg | dict[str, Any]) -> None:
        if isinstance(msg, FrameMsg):
            self._frame(msg)
        else:
            getattr(self, "_ctl_" + msg["op"])(msg)

    def _frame(self, msg: FrameMsg, opcode: str | None = None) -> None:
        live = self.live.get(msg.session_no)
        if live is None:
            return
        ev = live.tally.build(live.record.id, msg.seq, "server" if msg.server else "client",
                              msg.t_ns, msg.wall_ns,
                              opcode or ("binary" if msg.binary else "text"),
                              msg.data, msg.delivered)
        live.dirty = True
        if not self.pending:
            self.pending_since = time.monotonic()
        self.pending.append(ev)

    def _ctl_media(self, msg: dict[str, Any]) -> None:
        """A WebRTC track's audio as its equivalent JSON event (opcode ``media``)."""
        self._frame(FrameMsg(msg["no"], msg["seq"], bool(msg["server"]), False,
                             bool(msg.get("delivered", True)), msg["t_ns"], msg["wall_ns"],
                             msg["data"].encode("utf-8")), Opcode.MEDIA)

    def _ctl_begin(self, msg: dict[str, Any]) -> None:
        fields = msg["session"]
        rec = SessionRecord(
            id=fields["id"], started=datetime.fromisoformat(fields["started"]),
            status=Status.OPEN, recorder_id=self.recorder_id,
            headers=[(h[0], h[1]) for h in fields.get("headers", [])],
            **{k: v for k, v in fields.items()
               if k in ("upstream_url", "path", "model", "client_addr", "label", "replay_of",
                        "subprotocols", "transport")},
        )
        live = _Live(rec)
        hint = fields.get("flavour")
        if hint:
            live.tally.flavour.handshake = Flavour(hint)
        live.tally.flavour.path_hint = flavour_from_path(rec.path or "")
        rec.flavour = str(live.tally.flavour.flavour)
        self.live[msg["no"]] = live
        self.flush()  # frames of earlier sessions first, then this row
        try:
            self.store.create_session(rec)
            live.stored = True
            self.recovered()
        except (SQLAlchemyError, OSError) as exc:
            self.fail(exc)

    def _ctl_opened(self, msg: dict[str, Any]) -> None:
        live = self.live.get(msg["no"])
        if live is not None:
            live.record.subprotocol = msg.get("subprotocol")

    def _ctl_end(self, msg: dict[str, Any]) -> None:
        if msg["no"] not in self.live:
            return
        self.flush()  # while the session is live, so that frames lost here count for it
        live = self.live.pop(msg["no"])
        rec = live.record
        dropped: dict[str, int] = msg.get("dropped") or {}  # by the relay, store failed
        totals = live.tally.totals()
        for key, count in dropped.items():
            totals[key] = int(totals[key]) + count  # type: ignore[call-overload]
        lost = live.lost + dropped.get("client_events", 0) + dropped.get("server_events", 0)
        status = msg.get("status", Status.CLOSED)
        reason = msg.get("status_reason")
        if lost and status == Status.CLOSED:
            status, reason = Status.INCOMPLETE, f"{lost} frames could not be stored"
        fields: dict[str, Any] = dict(
            ended=datetime.fromisoformat(msg["ended"]), status=status, status_reason=reason,
            close_code=msg.get("close_code"), close_reason=msg.get("close_reason"),
            closed_by=msg.get("closed_by"), subprotocol=rec.subprotocol, lost_frames=lost,
            **totals)
        self._update(live, fields)
        self.report({"event": "session_closed", "id": rec.id, "status": status,
                     "lost": lost, **totals})

    def _update(self, live: _Live, fields: dict[str, Any]) -> None:
        try:
            if not live.stored:
                self.store.create_session(live.record)
                live.stored = True
            self.store.update_session(live.record.id, **fields)
            self.unsaved.pop(live.record.id, None)
            self.recovered()
        except (SQLAlchemyError, OSError) as exc:
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

    def due(self, now: float) -> bool:
        return bool(self.pending) and (
            len(self.pending) >= FLUSH_ROWS or now - self.pending_since >= FLUSH_INTERVAL_S)

    def flush(self) -> None:
        """Commit everything pending."""
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        if self.failed_reason is not None and time.monotonic() < self.next_retry:
            self._lose(batch)
            return
        try:
            failed = self.store.insert_events(batch)
        except StoreUnavailable as exc:
            self.fail(exc)
            self._lose(exc.remaining)
            return
        except (SQLAlchemyError, OSError) as exc:
            self.fail(exc)
            self._lose(batch)
            return
        self.recovered()
        self._lose(failed)  # rows the database refused one by one (the store itself works)

    def _lose(self, events: list[EventRecord]) -> None:
        if not events:
            return
        by_id = {live.record.id: live for live in self.live.values()}
        for ev in events:
            live = by_id.get(ev.session_id)
            if live is not None:
                live.lost += 1
        self.lost_total += len(events)
        self.report({"event": "lost", "count": len(events), "total": self.lost_total})

    def refresh_totals(self) -> None:
        """Write running totals of open sessions (one transaction) so ``sessions`` shows
        progress."""
        changed = [live for live in self.live.values() if live.dirty and live.stored]
        try:
            self.store.update_sessions([(live.record.id, live.tally.totals())
                                        for live in changed])
        except (SQLAlchemyError, OSError) as exc:
            self.fail(exc)
            return
        for live in changed:
            live.dirty = False

    def abandon(self, reason: str) -> None:
        """The relay is gone: mark every open session incomplete."""
        self.flush()
        self.save_unsaved(try_now=True)
        ended = datetime.now(UTC)
        for no in list(self.live):
            self._ctl_end({"no": no, "ended": ended.isoformat(), "status": Status.INCOMPLETE,
                           "status_reason": reason, "closed_by": "recorder"})


def run(stdin_fd: int = 0) -> int:
    """Main loop of the writer process."""
    with contextlib.suppress(OSError, AttributeError):
        # Recording yields the CPU to relaying: the relay's latency never waits on parsing
        # or inserts; a backlog waits in the pipe (bounded, then backpressure).
        os.nice(WRITER_NICENESS)
    decoder = StreamDecoder()
    writer: Writer | None = None
    clean = False
    last_beat = last_totals = time.monotonic()
    try:
        import fcntl

        fcntl.fcntl(stdin_fd, 1031, 1 << 20)  # F_SETPIPE_SZ: fewer wake-ups of the relay
    except (ImportError, OSError):
        pass
    while True:
        now = time.monotonic()
        timeout = FLUSH_INTERVAL_S if writer is not None and (
            writer.pending or writer.failed_reason) else HEARTBEAT_S
        ready, _, _ = select.select([stdin_fd], [], [], timeout)
        chunk = os.read(stdin_fd, READ_SIZE) if ready else None
        if chunk == b"":
            break
        if chunk is not None and len(chunk) < READ_SIZE:
            time.sleep(READ_PAUSE_S)  # batching reads, not synchronisation
        for msg in decoder.feed(chunk or b""):
            if isinstance(msg, dict) and msg.get("op") == "config":
                store = open_store(msg["db_url"], check_orphans=True)
                writer = Writer(store, msg["recorder_id"])
                store.register_recorder(msg["recorder_id"])
                writer.report({"event": "ready"})
                continue
            if isinstance(msg, dict) and msg.get("op") == "shutdown":
                clean = True
                continue
            assert writer is not None, "config must come first"
            writer.handle(msg)
        if writer is None:
            continue
        now = time.monotonic()
        if writer.due(now) or (writer.pending and not ready):
            writer.flush()
        probe = writer.failed_reason is not None and now >= writer.next_retry
        if now - last_beat >= HEARTBEAT_S or probe:
            last_beat = now
            try:
                writer.store.heartbeat(writer.recorder_id)
                writer.recovered()
                writer.save_unsaved()
            except (SQLAlchemyError, OSError) as exc:
                writer.fail(exc)
        if now - last_totals >= TOTALS_INTERVAL_S:
            last_totals = now
            writer.refresh_totals()
    if writer is not None:
        writer.abandon("recorder stopped before the session ended" if not clean
                       else "recorder shut down")
        with contextlib.suppress(SQLAlchemyError, OSError):
            writer.store.stop_recorder(writer.recorder_id)
        writer.report({"event": "exit", "lost": writer.lost_total})
        writer.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(run())
