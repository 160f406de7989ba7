"""Storing a replay as a new session while it runs, off the send path.

The replay's event loop only stamps and enqueues each frame (:meth:`ReplayRecorder.frame`);
one writer thread parses them through :class:`~rtcapture.proxy.ingest.SessionTally`, inserts in
batches and keeps a recorder heartbeat so other processes do not mark the open session
incomplete, by the recorder's own rules (:mod:`rtcapture.proxy.writing`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from ..ids import new_id
from ..protocol import Direction, Flavour, Opcode
from ..proxy.ingest import SessionTally
from ..proxy.writing import Batch, Heartbeat, session_end
from ..store import SessionRecord, Status, Store, utcnow

log = logging.getLogger(__name__)

_Row = tuple[int, Direction, int, int, Opcode, bytes]
"""seq, direction, t_ns, wall_ns, opcode, data."""


class ReplayRecorder:
    """Writes one replay session: a row created at start, events in batches, totals at end."""

    def __init__(self, store: Store, record: SessionRecord, flavour: Flavour | None = None
                 ) -> None:
        self.store = store
        self.record = record
        self.tally = SessionTally()
        self.tally.flavour.handshake = flavour
        self.lost = 0
        self._seq = 0
        self._queue: queue.SimpleQueue[_Row | None] = queue.SimpleQueue()
        """Frames to store; None: stop."""
        self._recorder_id = new_id()
        self._thread: threading.Thread | None = None

    @property
    def session_id(self) -> str:
        return self.record.id

    def start(self) -> None:
        """Create the session row and start the writer thread."""
        self.store.register_recorder(self._recorder_id)
        self.record.recorder_id = self._recorder_id
        self.store.create_session(self.record)
        self._thread = threading.Thread(target=self._run, name="rtcapture-replay-writer",
                                        daemon=True)
        self._thread.start()

    def reserve(self) -> int:
        """A ``seq`` for a frame stored later (a media row numbered at its first audio)."""
        seq = self._seq
        self._seq += 1
        return seq

    def frame(self, direction: Direction, t_ns: int, opcode: Opcode, data: bytes,
              seq: int | None = None) -> None:
        """Queue one frame (called on the event loop; never blocks); ``seq`` as reserved."""
        if seq is None:
            seq = self.reserve()
        self._queue.put((seq, direction, t_ns, time.time_ns(), opcode, data))

    def finish(self, status: Status = Status.CLOSED, status_reason: str | None = None,
               **fields: Any) -> None:
        """Flush everything, then store the session's end, totals and ``fields``."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self.store.update_session(self.record.id, **session_end(
            self.tally.totals(), ended=utcnow(), lost=self.lost, status=status,
            status_reason=status_reason, **fields))
        self.store.stop_recorder(self._recorder_id)

    def _run(self) -> None:
        batch: Batch[_Row] = Batch()
        beat = Heartbeat(time.monotonic())
        stopping = False
        while not stopping:
            try:
                item = self._queue.get(timeout=batch.wait(time.monotonic()))
                while True:  # everything queued now, but no more than a batch's rows
                    if item is None:
                        stopping = True
                        break
                    batch.add(item, time.monotonic())
                    if len(batch) >= batch.rows:
                        break
                    item = self._queue.get_nowait()
            except queue.Empty:
                pass
            now = time.monotonic()
            if batch.due(now) or (stopping and batch):
                self._write(batch.take())
            if beat.due(now):
                try:
                    self.store.heartbeat(self._recorder_id)
                except Exception as exc:  # noqa: BLE001 - the replay goes on
                    log.warning("replay recorder heartbeat failed: %s", exc)

    def _write(self, batch: list[_Row]) -> None:
        sid = self.record.id
        records = [self.tally.build(sid, *row) for row in batch]
        try:
            failed = self.store.insert_events(records)
        except Exception as exc:  # noqa: BLE001 - a store failure must not stop the replay
            log.warning("could not store %d replay frames: %s", len(records), exc)
            failed = records
        self.lost += len(failed)
