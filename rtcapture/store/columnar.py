"""Reading a session's events in columnar chunks, fast enough for bulk exports.

``Store.events`` yields one record per row, which tops out near 100,000 rows/s. Bulk
readers get the same rows as :class:`RawChunk` s instead. On SQLite the rows are aggregated
inside SQLite (one result row per chunk: each column one string, the frames one blob, audio
already cut out when the caller passes an :class:`AudioCut`), so no Python object is made
per row; other databases stream rows through SQLAlchemy Core. Both paths give identical
chunks, and the SQLite path falls back to the generic one for a chunk it cannot vouch for.
"""

from __future__ import annotations

import json
import queue
import threading
from collections import deque
from collections.abc import Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, Engine, func, select

from .chunks import AudioCut, RawChunk, replace_rows
from .models import Event

T = TypeVar("T")

TARGET_CHUNK_BYTES = 8 << 20
"""Aim for chunks of about this many frame bytes (bounded memory, int32 Arrow offsets)."""
DEFAULT_FRAME_BYTES = 1024
MIN_CHUNK_ROWS = 64
MAX_CHUNK_ROWS = 16384

_INT_COLUMNS = ("seq", "t_ns", "wall_ns", "size_bytes", "audio_bytes", "delivered")
_STR_COLUMNS = ("direction", "type", "event_id", "item_id", "response_id", "call_id",
                "parse_error")


class ChunkMismatch(Exception):
    """The fast SQLite path produced something it cannot vouch for."""


def _ints(text: str | None, n: int) -> np.ndarray:
    if not text:
        raise ChunkMismatch("empty integer column")
    arr = np.fromstring(text, dtype=np.int64, sep=",")
    if len(arr) != n:
        raise ChunkMismatch("integer column length")
    return arr


def _strs(text: str, n: int) -> pa.Array:
    values = json.loads(text)
    if len(values) != n:
        raise ChunkMismatch("string column length")
    return pa.array(values, pa.string())


def _sqlite_query(cut: AudioCut | None) -> str:
    rows = f"CAST(group_concat({cut.sql}, char(30)) AS BLOB)" if cut is not None \
        else "CAST(group_concat(data, '') AS BLOB)"
    return ("SELECT count(*), " + rows + ", "
            + ", ".join(f"group_concat({c})" for c in _INT_COLUMNS) + ", "
            + ", ".join(f"json_group_array({c})" for c in _STR_COLUMNS)
            + " FROM events WHERE session_id = ? AND seq >= ? AND seq < ?")


_SQLITE_FRAMES = "SELECT seq, opcode, data FROM events WHERE session_id = ? AND seq = ?"


def _split_rows(blob: bytes, n: int) -> tuple[bytes, np.ndarray]:
    """Rows joined by the record separator (never raw in valid JSON) -> buffer and sizes."""
    seps = np.flatnonzero(np.frombuffer(blob, dtype=np.uint8) == 0x1E)
    if len(seps) != n - 1:
        raise ChunkMismatch("record separator inside a row")
    bounds = np.concatenate(([-1], seps, [len(blob)]))
    return blob.replace(b"\x1e", b""), np.diff(bounds) - 1


def _sqlite_chunk(cursor: Any, session_id: str, lo: int, hi: int, cut: AudioCut | None
                  ) -> RawChunk | None:
    row = cursor.execute(_sqlite_query(cut), (session_id, lo, hi)).fetchone()
    n = int(row[0])
    if n == 0:
        return None
    blob = row[1] or b""
    seq, t_ns, wall_ns, size_bytes, audio_bytes, delivered = (_ints(v, n) for v in row[2:8])
    strs = [_strs(v, n) for v in row[8:]]
    if n > 1 and not bool(np.all(np.diff(seq) > 0)):
        raise ChunkMismatch("rows out of order")
    errors = strs[-1].is_valid().to_numpy(zero_copy_only=False)
    missing = np.flatnonzero(errors)
    if cut is not None:  # the SQL cut audio rows short of their base64; error rows come empty
        data, sizes = _split_rows(blob, n)
        data, sizes, stripped = cut.finish(data, sizes, size_bytes, audio_bytes)
        stripped &= ~errors
    else:
        data, sizes = blob, size_bytes
        stripped = np.zeros(n, dtype=bool)
    if int(sizes.sum()) != len(data):
        raise ChunkMismatch("row bytes")
    direction, etype, event_id, item_id, response_id, call_id, parse_error = strs
    chunk = RawChunk(seq, t_ns, wall_ns, size_bytes, audio_bytes, delivered != 0, direction,
                     etype, event_id, item_id, response_id, call_id, parse_error,
                     data=data, sizes=sizes, stripped=stripped)
    if len(missing):
        frames: dict[int, bytes] = {}
        for i in missing.tolist():
            _, opcode, frame = cursor.execute(_SQLITE_FRAMES, (session_id, int(seq[i]))).fetchone()
            frames[i] = bytes(frame)
            if chunk.parse_error[i].is_valid:
                chunk.opcode_binary[i] = opcode == "binary"
        chunk.data, chunk.sizes = replace_rows(chunk.data, chunk.sizes, frames)
    return chunk


def _generic_chunk(conn: Connection, session_id: str, lo: int, hi: int) -> RawChunk | None:
    cols = [Event.seq, Event.t_ns, Event.wall_ns, Event.audio_bytes, Event.direction,
            Event.type, Event.event_id, Event.item_id, Event.response_id, Event.call_id,
            Event.parse_error, Event.opcode, Event.data, Event.delivered]
    rows = conn.execute(select(*cols).where(
        Event.session_id == session_id, Event.seq >= lo, Event.seq < hi).order_by(Event.seq)
    ).all()
    if not rows:
        return None
    c = list(zip(*rows, strict=True))
    frames = [bytes(d) for d in c[12]]
    sizes = np.array([len(d) for d in frames], dtype=np.int64)
    chunk = RawChunk(
        seq=np.array(c[0], dtype=np.int64), t_ns=np.array(c[1], dtype=np.int64),
        wall_ns=np.array(c[2], dtype=np.int64), size_bytes=sizes,
        audio_bytes=np.array(c[3], dtype=np.int64), delivered=np.array(c[13], dtype=bool),
        direction=pa.array(c[4], pa.string()), type=pa.array(c[5], pa.string()),
        event_id=pa.array(c[6], pa.string()), item_id=pa.array(c[7], pa.string()),
        response_id=pa.array(c[8], pa.string()), call_id=pa.array(c[9], pa.string()),
        parse_error=pa.array(c[10], pa.string()), data=b"".join(frames), sizes=sizes.copy(),
        stripped=np.zeros(len(frames), dtype=bool),
    )
    for i, (err, opcode) in enumerate(zip(c[10], c[11], strict=True)):
        if err is not None:
            chunk.opcode_binary[i] = opcode == "binary"
    return chunk


def seq_bounds(conn: Connection, session_id: str) -> tuple[int, int]:
    """(first seq, last seq) of a session, from the index; (0, -1) when it has no events."""
    # Two scalar subqueries: SQLite answers a lone min() or max() from the index, but
    # scans every row of the session when one SELECT asks for both.
    where = Event.session_id == session_id
    first = select(func.min(Event.seq)).where(where).scalar_subquery()
    last = select(func.max(Event.seq)).where(where).scalar_subquery()
    lo, hi = conn.execute(select(first, last)).one()
    return (0, -1) if lo is None else (int(lo), int(hi))


def chunk_ranges(first: int, last: int, avg_frame_bytes: float | None
                 ) -> list[tuple[int, int]]:
    """``[lo, hi)`` seq ranges covering ``first..last``, each about ``TARGET_CHUNK_BYTES``."""
    if last < first:
        return []
    per_row = avg_frame_bytes if avg_frame_bytes and avg_frame_bytes > 0 else DEFAULT_FRAME_BYTES
    span = max(MIN_CHUNK_ROWS, min(MAX_CHUNK_ROWS, int(TARGET_CHUNK_BYTES / per_row)))
    return [(lo, min(lo + span, last + 1)) for lo in range(first, last + 1, span)]


def read_range(conn: Connection, session_id: str, lo: int, hi: int, cut: AudioCut | None,
               fast: bool) -> RawChunk | None:
    """One range: the SQLite aggregate reader when it can vouch for it, else the generic one."""
    if fast and conn.dialect.name == "sqlite":
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            return _sqlite_chunk(cursor, session_id, lo, hi, cut)
        except (ChunkMismatch, ValueError, UnicodeDecodeError):
            pass
        finally:
            cursor.close()
    return _generic_chunk(conn, session_id, lo, hi)


class ChunkReader:
    """Reads chunk ranges on worker threads (one connection each), yielding them in order.

    SQLite and the database drivers release the GIL while a query runs, so with a spare
    core the reading overlaps with encoding and writing the previous chunks.
    """

    def __init__(self, engine: Engine, *, cut: AudioCut | None, workers: int = 2,
                 ahead: int = 3, fast: bool = True) -> None:
        self.engine, self.cut, self.fast = engine, cut, fast
        self.workers, self.ahead = workers, max(ahead, workers)

    def map(self, tasks: Iterable[tuple[T, str, int, int]]
            ) -> Generator[tuple[T, RawChunk | None], None, None]:
        """``(key, session id, lo, hi)`` tasks -> ``(key, chunk or None)``, in task order."""
        idle: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        opened: list[Connection] = []
        lock = threading.Lock()

        def work(session_id: str, lo: int, hi: int) -> RawChunk | None:
            try:
                conn = idle.get_nowait()
            except queue.Empty:
                conn = self.engine.connect()
                with lock:
                    opened.append(conn)
            try:
                return read_range(conn, session_id, lo, hi, self.cut, self.fast) if hi > lo \
                    else None
            finally:
                idle.put(conn)

        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="rtcapture-export")
        pending: deque[tuple[T, Future[RawChunk | None]]] = deque()
        try:
            for key, session_id, lo, hi in tasks:
                pending.append((key, pool.submit(work, session_id, lo, hi)))
                if len(pending) >= self.ahead:
                    key, future = pending.popleft()
                    yield key, future.result()
            while pending:
                key, future = pending.popleft()
                yield key, future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            for conn in opened:
                conn.close()
