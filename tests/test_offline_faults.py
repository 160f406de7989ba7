"""Offline commands on a damaged SQLite database: the right answer or one line, exit 2.

A recorded-like database is copied and damaged (cut in half, pages overwritten, emptied,
replaced by text); every reading command runs on each copy through click's CliRunner.
Each either prints what it prints on the intact database, or stops with a single
``Error:`` line and exit code 2 (SPEC: usage or input error), never a traceback.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from rtcapture.cli import cli
from rtcapture.errors import EXIT_USAGE
from rtcapture.protocol import Flavour
from rtcapture.store import open_store
from tests.export.sessions import PCM_100MS, make_three_turns
from tests.factories import b64, make_session

PAGE = 4096
GARBAGE = b"\xde\xad\xbe\xef" * (PAGE // 4)
"""An impossible b-tree page (type byte 0xde): SQLite must notice it whenever it reads one."""

COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "sessions": lambda out: ["sessions"],
    "sessions --json": lambda out: ["sessions", "--json"],
    "show": lambda out: ["show", "last"],
    "show --jsonl": lambda out: ["show", "last", "--jsonl"],
    "audio": lambda out: ["audio", "last", "--out", str(out / "wav")],
    "export parquet": lambda out: ["export", "--all", "--out", str(out / "dataset")],
    "export jsonl": lambda out: ["export", "last", "--format", "jsonl",
                                 "--out", str(out / "last.jsonl")],
    "db current": lambda out: ["db", "current"],
}
"""Each offline command under test, given the folder its files go to."""


@dataclass
class Outcome:
    """What one command did: exit code, output with the paths made neutral, files written."""

    exit_code: int
    lines: list[str]
    files: dict[str, bytes]


def _normalise(text: str, folder: Path) -> list[str]:
    """Lines with the output folder, elapsed times and column padding made neutral."""
    text = text.replace(str(folder), "<DIR>")
    return [re.sub(r" in \d+\.\d+ s$", " in <T> s", " ".join(line.split()))
            for line in text.splitlines()]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith("x.db")}


def _run(db: Path, name: str) -> Outcome:
    """Run one command on ``db`` (output files go next to it); never a traceback."""
    out = db.parent / name.replace(" ", "-")
    out.mkdir()
    result: Result = CliRunner().invoke(cli, ["--db", f"sqlite:///{db}", *COMMANDS[name](out)])
    assert "Traceback" not in result.output, (name, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        name, repr(result.exception))
    return Outcome(result.exit_code, _normalise(result.output, out), _files(out))


def _damage(good: bytes, how: str, pages_of: Callable[[str], list[int]]) -> bytes:
    data = bytearray(good)
    if how == "truncated":
        return bytes(data[: len(data) // 2])
    if how == "empty":
        return b""
    if how == "not a database":
        return b"this is a shopping list, not a database\n" * 100
    if how == "middle pages":
        middle = len(data) // PAGE // 2
        pages = list(range(middle - 4, middle + 4))
    else:  # every page of one table, found with SQLite's dbstat
        pages = pages_of(how.removesuffix(" table"))
    for page in pages:
        data[(page - 1) * PAGE: page * PAGE] = GARBAGE
    return bytes(data)


@dataclass
class Recorded:
    """An intact database file and what every command gives on it."""

    data: bytes
    expected: dict[str, Outcome]
    pages: dict[str, list[int]]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """24 three-turn sessions (audio both ways) plus one with a binary frame, in one file."""
    folder = tmp_path_factory.mktemp("intact")
    db = folder / "x.db"
    store = open_store(f"sqlite:///{db}")
    for i in range(24):
        make_three_turns(store, Flavour.GA if i % 2 else Flavour.BETA, label=f"run{i % 3}")
    make_session(store, [
        ("server", {"type": "session.created", "event_id": "e0", "session": {}}, 0),
        ("client", {"type": "input_audio_buffer.append", "audio": b64(PCM_100MS)}, 5),
        ("client", b"\x00\x01binary", 7),
        ("server", {"type": "response.output_audio.delta", "response_id": "r", "item_id": "i",
                    "output_index": 0, "content_index": 0, "delta": b64(PCM_100MS)}, 9),
    ], label="last")
    store.close()
    with sqlite3.connect(db) as conn:  # one self-contained file: no -wal beside it
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
        try:
            rows = conn.execute("SELECT name, pageno FROM dbstat").fetchall()
        except sqlite3.OperationalError:  # SQLite built without the dbstat table
            rows = []
    conn.close()
    assert not Path(f"{db}-wal").exists()
    data = db.read_bytes()
    pages: dict[str, list[int]] = {}
    for name, page in rows:
        pages.setdefault(name, []).append(page)
    expected = {name: _run(db, name) for name in COMMANDS}
    assert all(o.exit_code == 0 for o in expected.values()), expected
    return Recorded(data, expected, pages)


def _damaged_copy(recorded: Recorded, tmp_path: Path, how: str) -> Path:
    def pages_of(table: str) -> list[int]:
        if table not in recorded.pages:
            pytest.skip("this SQLite has no dbstat table to find a table's pages")
        return recorded.pages[table]

    db = tmp_path / "x.db"
    db.write_bytes(_damage(recorded.data, how, pages_of))
    return db


def _check(name: str, got: Outcome, expected: Outcome) -> bool:
    """The intact answer, or output cut short by one ``Error:`` line and exit 2; True if
    the command reported the damage."""
    if got.exit_code == 0:
        assert got.lines == expected.lines, name
        assert got.files == expected.files, name
        return False
    assert got.exit_code == EXIT_USAGE, (name, got.exit_code, got.lines)
    *before, error = got.lines
    assert error.startswith("Error: ") and "database" in error, (name, got.lines)
    assert not any(line.startswith("Error") for line in before), (name, got.lines)
    assert before == expected.lines[: len(before)], (name, got.lines)  # a correct prefix
    assert not got.files, (name, sorted(got.files))  # nothing half-written left behind
    return True


@pytest.mark.parametrize(("how", "must_fail"), [
    ("truncated", ["sessions", "export parquet"]),
    ("middle pages", ["export parquet"]),
    ("events table", ["show --jsonl", "audio", "export parquet", "export jsonl"]),
    ("sessions table", ["sessions", "sessions --json", "show", "export parquet"]),
    ("sqlite_autoindex_events_1 table", ["show --jsonl", "export jsonl"]),
])
def test_damaged_database(recorded: Recorded, tmp_path: Path, how: str,
                          must_fail: list[str]) -> None:
    """Each command on a damaged copy: the intact answer, or one line and exit 2."""
    db = _damaged_copy(recorded, tmp_path, how)
    failed = [name for name in COMMANDS
              if _check(name, _run(db, name), recorded.expected[name])]
    assert set(must_fail) <= set(failed), failed  # the damage was really read


def test_file_that_is_not_a_database(recorded: Recorded, tmp_path: Path) -> None:
    """Every command refuses a text file with the same one line, exit 2."""
    db = _damaged_copy(recorded, tmp_path, "not a database")
    for name in COMMANDS:
        got = _run(db, name)
        assert got.exit_code == EXIT_USAGE, (name, got.lines)
        assert len(got.lines) == 1 and "file is not a database" in got.lines[0], got.lines
    assert db.read_bytes().startswith(b"this is a shopping list")  # left untouched


def test_zero_length_file_is_a_new_empty_database(recorded: Recorded, tmp_path: Path) -> None:
    """A 0-byte file is what SQLite (and `touch`) call an empty database: no sessions yet."""
    db = _damaged_copy(recorded, tmp_path, "empty")
    outcomes = {name: _run(db, name) for name in COMMANDS}
    assert outcomes["sessions"].exit_code == 0
    assert outcomes["sessions"].lines == ["no sessions recorded yet"]
    assert (outcomes["sessions --json"].exit_code, outcomes["sessions --json"].lines) == (0, ["[]"])
    for name in ("show", "show --jsonl", "audio", "export jsonl"):
        assert (outcomes[name].exit_code, outcomes[name].lines) == (
            EXIT_USAGE, [f"Error: no sessions recorded in sqlite:///{db}"]), name
    assert outcomes["export parquet"].exit_code == 0
    assert "exported 0 session(s)" in "\n".join(outcomes["export parquet"].lines)
    assert outcomes["db current"].exit_code == 0
    assert outcomes["db current"].lines[0].startswith("current: ")
    current, head = outcomes["db current"].lines[0].split()[1::2]
    assert current == head  # the schema was created, as for a file that did not exist
    assert db.stat().st_size > 0
