"""export --format parquet: schemas, row counts, partitions, DuckDB, refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from rtcapture.export.tables import RESPONSES_SCHEMA, SESSIONS_SCHEMA
from rtcapture.protocol import Flavour
from rtcapture.store import open_store
from rtcapture.store.models import Event
from tests.export.sessions import make_three_turns, run_cli
from tests.factories import make_session

SPEC_EVENTS = {
    "session_id": pa.string(), "seq": pa.int64(), "direction": pa.string(),
    "t_ms": pa.float64(), "time": pa.timestamp("us", tz="UTC"), "type": pa.string(),
    "event_id": pa.string(), "item_id": pa.string(), "response_id": pa.string(),
    "call_id": pa.string(), "size_bytes": pa.int64(), "audio_bytes": pa.int64(),
    "payload": pa.string(), "parse_error": pa.bool_(),
}


def _fill(url: str) -> list[str]:
    store = open_store(url)
    ids = [make_three_turns(store, Flavour.GA, label="a"),
           make_three_turns(store, Flavour.BETA, label="b"),
           make_session(store, [("client", b"\x00\x01", 0.0)], label="a")]
    store.update_session(ids[1], started=datetime(2026, 3, 1, 23, 59, tzinfo=UTC))
    store.close()
    return ids


def _db_counts(url: str) -> dict[str, int]:
    store = open_store(url)
    with store.engine.connect() as conn:
        rows = conn.execute(select(Event.session_id, func.count()).group_by(Event.session_id))
        counts = {sid: n for sid, n in rows}
    store.close()
    return counts


def test_tables_have_spec_columns_types_and_row_counts(db_url, tmp_path):
    """pd.read_parquet of each table: SPEC columns and dtypes, rows equal the database's."""
    ids = _fill(db_url)
    out = tmp_path / "ds"
    result = run_cli(db_url, "export", "--all", "--out", str(out))
    assert result.exit_code == 0, result.output
    events = pq.read_table(out / "events")
    assert {f.name: f.type for f in events.schema} == SPEC_EVENTS
    assert list(events.schema.names) == list(SPEC_EVENTS)
    df = pd.read_parquet(out / "events")
    assert str(df["time"].dtype) == "datetime64[us, UTC]"
    assert df["seq"].dtype == "int64" and df["parse_error"].dtype == bool
    assert pd.api.types.is_string_dtype(df["payload"])
    assert df.groupby("session_id").size().to_dict() == _db_counts(db_url)
    sessions = pd.read_parquet(out / "sessions")
    assert sorted(sessions["session_id"]) == sorted(ids)
    assert pq.read_schema(out / "sessions" / "part-00000.parquet").equals(SESSIONS_SCHEMA)
    assert set(sessions["transport"]) == {"websocket"}
    responses = pd.read_parquet(out / "responses")
    assert len(responses) == 6
    assert pq.read_schema(out / "responses" / "part-00000.parquet").equals(RESPONSES_SCHEMA)


def test_strings_are_dictionary_encoded_and_zstd(sqlite_url, tmp_path):
    """Repeating strings use dictionary pages; every column chunk is zstd."""
    _fill(sqlite_url)
    run_cli(sqlite_url, "export", "--all", "--out", str(tmp_path / "ds"))
    meta = pq.ParquetFile(tmp_path / "ds" / "events" / "part-00000.parquet").metadata
    group = meta.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    assert all(c.compression == "ZSTD" for c in columns.values())
    assert columns["type"].has_dictionary_page
    assert columns["session_id"].has_dictionary_page


def test_duckdb_over_date_partitions_counts_like_the_database(sqlite_url, tmp_path):
    """--partition-by date gives Hive folders DuckDB reads with the database's counts."""
    _fill(sqlite_url)
    out = tmp_path / "ds"
    assert run_cli(sqlite_url, "export", "--all", "--partition-by", "date",
                "--out", str(out)).exit_code == 0
    folders = sorted(p.name for p in (out / "events").iterdir())
    assert len(folders) == 2 and folders[0] == "date=2026-03-01"
    rows = duckdb.sql(
        f"SELECT session_id, count(*) FROM read_parquet('{out}/events/*/*.parquet', "
        "hive_partitioning = true) GROUP BY session_id").fetchall()
    assert dict(rows) == _db_counts(sqlite_url)
    latency = duckdb.sql(
        f"SELECT count(*), count(first_audio_latency_ms) FROM "
        f"read_parquet('{out}/responses/*/*.parquet', hive_partitioning = true)").fetchall()[0]
    assert latency == (6, 4)


def test_session_partitions_read_back_in_pandas(sqlite_url, tmp_path):
    """--partition-by session: one folder per session, session_id restored from the path."""
    ids = _fill(sqlite_url)
    out = tmp_path / "ds"
    assert run_cli(sqlite_url, "export", "--all", "--partition-by", "session",
                "--out", str(out)).exit_code == 0
    assert sorted(p.name for p in (out / "events").iterdir()) == sorted(
        f"session_id={i}" for i in ids)
    df = pd.read_parquet(out / "events")
    assert df["session_id"].astype(str).value_counts().to_dict() == _db_counts(sqlite_url)


def test_selection_by_session_label_and_since(sqlite_url, tmp_path):
    """SESSION arguments, --label and --since pick the exported sessions."""
    ids = _fill(sqlite_url)
    run_cli(sqlite_url, "export", ids[1][:12], "--out", str(tmp_path / "one"))
    assert set(pd.read_parquet(tmp_path / "one" / "sessions")["session_id"]) == {ids[1]}
    run_cli(sqlite_url, "export", "--label", "a", "--out", str(tmp_path / "a"))
    assert set(pd.read_parquet(tmp_path / "a" / "sessions")["session_id"]) == {ids[0], ids[2]}
    run_cli(sqlite_url, "export", "--since", "2000-01-01T00:00", "--out", str(tmp_path / "all"))
    assert len(pd.read_parquet(tmp_path / "all" / "sessions")) == len(ids)
    result = run_cli(sqlite_url, "export", "--since", "2999-01-01", "--out", str(tmp_path / "z"))
    assert result.exit_code == 0
    assert pd.read_parquet(tmp_path / "z" / "events").empty


@pytest.mark.parametrize("args", [
    ["--out", "{out}"],
    ["--all", "last", "--out", "{out}"],
    ["--all", "--since", "yesterday", "--out", "{out}"],
    ["--all", "--format", "jsonl", "--partition-by", "date", "--out", "{out}"],
    ["nosuchsession", "--out", "{out}"],
])
def test_usage_errors_exit_2_without_traceback(sqlite_url, tmp_path, args):
    """Bad selections and option mixes exit 2 with one line."""
    _fill(sqlite_url)
    result = run_cli(sqlite_url, "export", *[a.format(out=tmp_path / "o") for a in args])
    assert result.exit_code == 2
    assert not (tmp_path / "o").exists()


def test_existing_output_is_refused_unless_forced(sqlite_url, tmp_path):
    """A non-empty --out is refused (exit 2); --force replaces the tables only."""
    _fill(sqlite_url)
    out = tmp_path / "ds"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = run_cli(sqlite_url, "export", "--all", "--out", str(out))
    assert result.exit_code == 2 and "--force" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert run_cli(sqlite_url, "export", "--all", "--out", str(out), "--force").exit_code == 0
    assert run_cli(sqlite_url, "export", "--label", "b", "--out", str(out), "--force").exit_code == 0
    assert len(pd.read_parquet(out / "sessions")) == 1
    assert sorted(p.name for p in out.iterdir()) == ["events", "notes.txt", "responses",
                                                     "sessions", "turns"]


def test_keep_audio_and_no_progress_bar_off_a_terminal(sqlite_url, tmp_path):
    """--keep-audio keeps base64 in payload; no progress bar when stderr is not a TTY."""
    _fill(sqlite_url)
    result = run_cli(sqlite_url, "export", "--all", "--keep-audio", "--out", str(tmp_path / "k"))
    assert "exporting" not in result.output
    payloads = pd.read_parquet(tmp_path / "k" / "events")["payload"].dropna()
    assert payloads.str.contains("<audio ").sum() == 0
    run_cli(sqlite_url, "export", "--all", "--out", str(tmp_path / "s"))
    stripped = pd.read_parquet(tmp_path / "s" / "events")["payload"].dropna()
    assert stripped.str.contains("<audio ").sum() == 12


def test_unwritable_output_exits_2(sqlite_url, tmp_path):
    """An --out that cannot be created is one line, exit 2."""
    _fill(sqlite_url)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli(sqlite_url, "export", "--all", "--out", str(blocker / "sub"))
    assert result.exit_code == 2
    assert "cannot write" in result.output


def test_failed_export_leaves_no_tables_behind(sqlite_url, tmp_path, monkeypatch):
    """An export that fails midway leaves neither tables nor its staging folder."""
    from rtcapture.export import parquet

    _fill(sqlite_url)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    real = parquet.build_payloads
    monkeypatch.setattr(parquet, "build_payloads", failing)
    out = tmp_path / "ds"
    result = run_cli(sqlite_url, "export", "--all", "--out", str(out))
    assert result.exit_code == 2 and "No space left" in result.output
    assert list(out.iterdir()) == []


def _stderr_on_a_terminal(url: str, *args: str) -> str:
    """Run the CLI in a child process whose stderr is a pseudo-terminal; what it printed."""
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    with subprocess.Popen([sys.executable, "-m", "rtcapture", "--db", url, *args],
                          stdout=subprocess.DEVNULL, stderr=follower) as proc:
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=60) == 0
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_unless_quiet(sqlite_url, tmp_path):
    """On a terminal the export draws a progress bar on stderr; -q turns it off."""
    _fill(sqlite_url)
    shown = _stderr_on_a_terminal(sqlite_url, "export", "--all", "--out", str(tmp_path / "a"))
    assert "exporting" in shown and "100%" in shown
    quiet = _stderr_on_a_terminal(sqlite_url, "-q", "export", "--all", "--out",
                                  str(tmp_path / "b"))
    assert "exporting" not in quiet
    assert pq.read_table(tmp_path / "b" / "events").num_rows == \
        pq.read_table(tmp_path / "a" / "events").num_rows > 0
