"""The notebook API: recordings as pandas DataFrames.

    import rtcapture
    rec = rtcapture.open("sqlite:///rtcapture.db")
    rec.sessions()                    # one row per session
    rec.events("last")                # one row per frame of a session
    rec.responses()                   # one row per response, every session

The columns are those of the Parquet export's ``sessions``, ``events`` and ``responses``
tables (see the analysis docs). pandas is an optional extra (``analysis``; ``pip install pandas`` is enough).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from .config import DEFAULT_DB_URL as DEFAULT_URL
from .export.payload import audio_cut
from .export.tables import (
    EVENTS_SCHEMA,
    RESPONSES_SCHEMA,
    SESSIONS_SCHEMA,
    TURNS_SCHEMA,
    SessionScan,
    scan_session,
    session_row,
    table_of,
    turn_rows,
)
from .store import SessionRecord, Store, open_store

if TYPE_CHECKING:
    import pandas as pd

PANDAS_MISSING = ("rtcapture's notebook API needs pandas, which is not installed: "
                  "pip install pandas (the 'analysis' extra)")


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """The table as a DataFrame; integer and boolean columns get pandas' nullable dtypes
    (``Int64``, ``boolean``), so a null ``close_code`` stays an integer column with
    ``<NA>`` instead of turning the column into float64."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(PANDAS_MISSING) from exc
    nullable = {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(),
                pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(),
                pa.bool_(): pd.BooleanDtype()}
    return table.to_pandas(types_mapper=nullable.get)


class Recordings:
    """A recordings database, read as DataFrames. Close it (or use ``with``) when done."""

    def __init__(self, store: Store, *, redact: bool = True, keep_audio: bool = False) -> None:
        self.store = store
        self.redact = redact
        self.keep_audio = keep_audio

    def __enter__(self) -> Recordings:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the database connection."""
        self.store.close()

    def _records(self, session: str | Iterable[str] | None, label: str | None,
                 since: datetime | None, limit: int | None) -> list[SessionRecord]:
        if session is None:
            return self.store.sessions(label=label, since=since, limit=limit)
        selectors = [session] if isinstance(session, str) else list(session)
        ids = list(dict.fromkeys(self.store.resolve(s) for s in selectors))
        return [self.store.session(i) for i in ids]

    def _scan(self, rec: SessionRecord, keep: bool = False, turns: bool = False
              ) -> tuple[list[pa.RecordBatch], SessionScan]:
        """One pass over a session's events: its ``events`` batches (if ``keep``) and scan
        (with its turns, if ``turns``)."""
        scan = SessionScan.with_turns() if turns else SessionScan()
        chunks = self.store.read_chunks(rec.id, cut=None if self.keep_audio else audio_cut(),
                                        avg_frame_bytes=rec.avg_frame_bytes)
        batches = []
        for batch in scan_session(chunks, rec.id, keep_audio=self.keep_audio,
                                  redact=self.redact, scan=scan):
            if keep:
                batches.append(batch)
        if turns:
            scan.finish_turns()
        return batches, scan

    def sessions(self, *, label: str | None = None, since: datetime | None = None,
                 limit: int | None = None) -> pd.DataFrame:
        """One row per session, newest first (the ``sessions`` table)."""
        rows = []
        for rec in self.store.sessions(label=label, since=since, limit=limit):
            _, scan = self._scan(rec, turns=True)
            rows.append(session_row(rec, scan))
        return _to_pandas(table_of(rows, SESSIONS_SCHEMA))

    def events(self, session: str, *, types: Iterable[str] | None = None,
               direction: str | None = None) -> pd.DataFrame:
        """One row per frame of a session (id, prefix, ``last`` or ``@label``), seq order."""
        rec = self._records(session, None, None, None)[0]
        batches, _ = self._scan(rec, keep=True)
        table = pa.Table.from_batches(batches, schema=EVENTS_SCHEMA)
        if types is not None:
            table = table.filter(pc.is_in(table["type"], pa.array(list(types))))
        if direction is not None:
            table = table.filter(pc.equal(table["direction"], direction))
        return _to_pandas(table)

    def responses(self, session: str | Iterable[str] | None = None, *,
                  label: str | None = None, since: datetime | None = None) -> pd.DataFrame:
        """One row per response: of one session, of several, or of every session."""
        rows: list[dict[str, Any]] = []
        for rec in self._records(session, label, since, None):
            _, scan = self._scan(rec)
            rows.extend(scan.tracker.rows(rec.id))
        return _to_pandas(table_of(rows, RESPONSES_SCHEMA))

    def turns(self, session: str | Iterable[str] | None = None, *,
              label: str | None = None, since: datetime | None = None) -> pd.DataFrame:
        """One row per reply and per unanswered user turn (the ``turns`` table)."""
        rows: list[dict[str, Any]] = []
        for rec in self._records(session, label, since, None):
            rows.extend(turn_rows(rec.id, self._scan(rec, turns=True)[1].turns or []))
        return _to_pandas(table_of(rows, TURNS_SCHEMA))


def open(db_url: str | None = None, *, redact: bool = True,  # noqa: A001 - rtcapture.open
         keep_audio: bool = False) -> Recordings:
    """Open a recordings database: any SQLAlchemy URL (default: ``$RTCAPTURE_DB``, else
    ``sqlite:///rtcapture.db``).

    Payloads are redacted of ``sk-``/``ek_`` keys and stripped of audio base64 unless
    ``redact=False`` / ``keep_audio=True``.
    """
    url = db_url or os.environ.get("RTCAPTURE_DB") or DEFAULT_URL
    return Recordings(open_store(url, check_orphans=False, create=False), redact=redact,
                      keep_audio=keep_audio)
