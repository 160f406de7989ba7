"""Parquet dataset export: ``events``, ``sessions``, ``responses`` and (GPT-Live)
``utterances`` and ``delegations`` tables (see :mod:`rtcapture.export.live`).

Layout (``OUT`` is the ``--out`` folder)::

    OUT/events/part-00000.parquet            unpartitioned
    OUT/events/date=2026-03-01/part-00000.parquet     --partition-by date (session start, UTC)
    OUT/events/session_id=01J.../part-00000.parquet   --partition-by session

``sessions`` and ``responses`` follow the same layout. With ``--partition-by session`` the
``session_id`` column lives in the folder name only (Hive convention; readers add it back).
Rows stream out in row groups: memory stays bounded whatever the database's size. The
tables are written into a hidden staging folder inside ``OUT`` and moved into place at the
end, so an interrupted export leaves no half-written table behind.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..paths import child
from ..protocol import Flavour
from ..store import RawChunk, SessionRecord, Store
from .live import DELEGATIONS_SCHEMA, UTTERANCES_SCHEMA, delegation_rows, utterance_rows
from .payload import audio_cut, build_payloads
from .tables import (
    DICTIONARY_COLUMNS,
    EVENTS_SCHEMA,
    RESPONSES_SCHEMA,
    SESSIONS_SCHEMA,
    TURNS_SCHEMA,
    SessionScan,
    events_batch,
    scan_chunk,
    session_row,
    table_of,
    turn_rows,
)

TABLES = ("events", "sessions", "responses", "turns")
LIVE_TABLES = ("utterances", "delegations")
"""Written when the export holds a GPT-Live session."""
PARTITIONS = ("date", "session")
ROW_GROUP_ROWS = 128 * 1024
ROW_GROUP_BYTES = 32 << 20
STAGING_PREFIX = ".rtcapture-export-"


@dataclass
class ParquetOptions:
    """What ``export --format parquet`` was asked for."""

    keep_audio: bool = False
    redact: bool = True
    partition_by: str | None = None
    row_group_rows: int = ROW_GROUP_ROWS
    row_group_bytes: int = ROW_GROUP_BYTES
    readers: int = 2
    """Threads reading the database (each with its own connection)."""


@dataclass
class ExportSummary:
    """What an export wrote."""

    sessions: int = 0
    events: int = 0
    responses: int = 0
    paths: list[Path] = field(default_factory=list)


class TableWriter:
    """One table: one Parquet file per partition, rows buffered into bounded row groups."""

    def __init__(self, root: Path, name: str, schema: pa.Schema, options: ParquetOptions,
                 drop: str | None = None) -> None:
        self.root, self.name, self.options = root / name, name, options
        self.schema = schema.remove(schema.get_field_index(drop)) if drop else schema
        self.drop = drop
        self.dictionary = [c for c in DICTIONARY_COLUMNS[name] if c != drop]
        self._partition: str | None = None
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._pending_bytes = 0
        self.files: list[Path] = []

    def write(self, partition: str | None, data: pa.RecordBatch | pa.Table) -> None:
        """Append rows to ``partition`` (a ``key=value`` folder name, or None)."""
        if self._writer is None or partition != self._partition:
            self._close_file()
            self._open(partition)
        if self.drop:
            data = data.drop_columns([self.drop])
        batches = data.to_batches() if isinstance(data, pa.Table) else [data]
        for batch in batches:
            self._pending.append(batch)
            self._pending_rows += batch.num_rows
            self._pending_bytes += batch.nbytes
        if (self._pending_rows >= self.options.row_group_rows
                or self._pending_bytes >= self.options.row_group_bytes):
            self._flush()

    def _open(self, partition: str | None) -> None:
        folder = child(self.root, partition) if partition else self.root
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{sum(1 for _ in folder.glob('part-*.parquet')):05d}.parquet"
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd",
                                        compression_level=1, use_dictionary=self.dictionary)
        self._partition = partition
        self.files.append(path)

    def _flush(self) -> None:
        if self._pending and self._writer is not None:
            table = pa.Table.from_batches(self._pending, schema=self.schema)
            self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self._pending, self._pending_rows, self._pending_bytes = [], 0, 0

    def _close_file(self) -> None:
        self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def abort(self) -> None:
        """Close the open file without writing what is pending (cleanup after an error)."""
        self._pending = []
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> None:
        """Finish the open file; a table with no rows still gets one (empty) file."""
        if not self.files:
            self._open(None)
        self._close_file()


def partition_of(rec: SessionRecord, partition_by: str | None) -> str | None:
    """The Hive folder of a session's rows."""
    if partition_by == "date":
        return f"date={rec.started.strftime('%Y-%m-%d')}"
    if partition_by == "session":
        return f"session_id={rec.id}"
    return None


def _tasks(store: Store, sessions: list[SessionRecord]
           ) -> Iterator[tuple[tuple[SessionRecord, bool], str, int, int]]:
    """Every session's chunk ranges in turn; the key says which session and whether the
    range is its last (a session without events gets one empty range)."""
    for rec in sessions:
        ranges = store.chunk_ranges(rec.id, avg_frame_bytes=rec.avg_frame_bytes) or [(0, 0)]
        for i, (lo, hi) in enumerate(ranges):
            yield (rec, i == len(ranges) - 1), rec.id, lo, hi


def write_dataset(store: Store, sessions: list[SessionRecord], out: Path,
                  options: ParquetOptions, progress: Callable[[int], None] | None = None
                  ) -> ExportSummary:
    """Write the dataset for ``sessions`` into ``out`` (replacing its tables)."""
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
    drop = "session_id" if options.partition_by == "session" else None
    writers = {
        "events": TableWriter(staging, "events", EVENTS_SCHEMA, options, drop),
        "sessions": TableWriter(staging, "sessions", SESSIONS_SCHEMA, options, drop),
        "responses": TableWriter(staging, "responses", RESPONSES_SCHEMA, options, drop),
        "turns": TableWriter(staging, "turns", TURNS_SCHEMA, options, drop),
    }
    if any(rec.flavour == Flavour.LIVE for rec in sessions):
        writers["utterances"] = TableWriter(staging, "utterances", UTTERANCES_SCHEMA,
                                            options, drop)
        writers["delegations"] = TableWriter(staging, "delegations", DELEGATIONS_SCHEMA,
                                             options, drop)
    summary = ExportSummary()
    ordered = sorted(sessions, key=lambda r: (r.started, r.id))
    stack = ExitStack()
    try:
        reader = store.chunk_reader(cut=None if options.keep_audio else audio_cut(),
                                    workers=options.readers)
        stream = stack.enter_context(closing(reader.map(_tasks(store, ordered))))
        for rec, scan in _sessions(stream, options, writers["events"], progress):
            part = partition_of(rec, options.partition_by)
            rows = scan.tracker.rows(rec.id)
            writers["responses"].write(part, table_of(rows, RESPONSES_SCHEMA))
            if "utterances" in writers:
                writers["utterances"].write(part, table_of(
                    utterance_rows(rec.id, scan.live), UTTERANCES_SCHEMA))
                writers["delegations"].write(part, table_of(
                    delegation_rows(rec.id, scan.live), DELEGATIONS_SCHEMA))
            turns = scan.finish_turns()
            writers["turns"].write(part, table_of(turn_rows(rec.id, turns), TURNS_SCHEMA))
            writers["sessions"].write(
                part, table_of([session_row(rec, scan)], SESSIONS_SCHEMA))
            summary.sessions += 1
            summary.events += scan.events
            summary.responses += len(rows)
        for writer in writers.values():
            writer.close()
        for name in (*TABLES, *LIVE_TABLES):
            target = out / name
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            if name in writers:
                (staging / name).replace(target)
                summary.paths.append(target)
    finally:
        stack.close()  # stops the reader threads first
        for writer in writers.values():
            writer.abort()
        shutil.rmtree(staging, ignore_errors=True)
    return summary


def _sessions(stream: Iterator[tuple[tuple[SessionRecord, bool], RawChunk | None]],
              options: ParquetOptions, events: TableWriter,
              progress: Callable[[int], None] | None
              ) -> Iterator[tuple[SessionRecord, SessionScan]]:
    """Write each session's events as they stream by; yield it with its scan when done."""
    scan = SessionScan.with_turns()
    for (rec, last), chunk in stream:
        if chunk is not None:
            payloads = build_payloads(chunk, keep_audio=options.keep_audio,
                                      redact=options.redact)
            scan_chunk(scan, chunk, payloads)
            events.write(partition_of(rec, options.partition_by),
                         events_batch(rec.id, chunk, payloads))
            if progress is not None:
                progress(len(chunk))
        if last:
            yield rec, scan
            scan = SessionScan.with_turns()
