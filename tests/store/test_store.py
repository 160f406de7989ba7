"""The store on SQLite and PostgreSQL: migrations, lookups, streaming, bad rows isolated."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from alembic import command

from rtcapture.errors import StoreError, UsageError
from rtcapture.ids import id_time_ms, new_id
from rtcapture.store import (
    EventRecord,
    SessionRecord,
    Status,
    open_store,
    session_field_rules,
    utcnow,
)
from rtcapture.store.db import SHIPPED_HEAD, alembic_config, current_revision, head_revision
from rtcapture.store.models import Recorder
from tests.factories import make_session


def test_models_match_migrations(db_url) -> None:
    """Alembic's check finds no drift between the models and the revisions."""
    store = open_store(db_url)
    with store.engine.begin() as conn:
        assert current_revision(conn) == head_revision()
        command.check(alembic_config(conn))
    store.close()


def test_up_to_date_database_opens_without_alembic(tmp_path) -> None:
    """The shipped head constant is Alembic's head; a current database skips importing Alembic,
    an unknown revision is a one-line StoreError."""
    assert head_revision() == SHIPPED_HEAD
    url = f"sqlite:///{tmp_path / 'x.db'}"
    open_store(url).close()
    probe = ("import sys; from rtcapture.store import open_store; "
             f"open_store({url!r}).close(); print('alembic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"
    store = open_store(url)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'fff0'")
    store.close()
    with pytest.raises(StoreError, match="revision fff0.*newer rtcapture"):
        open_store(url)


def test_resolve_selectors(db_url) -> None:
    """Full id, unique prefix, last and @label resolve; mistakes are UsageErrors."""
    store = open_store(db_url)
    a = make_session(store, [("client", {"type": "x"}, 0)], label="alpha")
    b = make_session(store, [("client", {"type": "y"}, 0)], label="beta")
    assert store.resolve(a) == a and store.resolve("last") == b
    assert store.resolve("@alpha") == a and store.resolve(b[:-3]) == b
    with pytest.raises(UsageError, match="no session matches"):
        store.resolve("ZZZZ")
    with pytest.raises(UsageError, match="no session labelled"):
        store.resolve("@gamma")
    with pytest.raises(UsageError, match="ambiguous"):
        store.resolve(a[:2])
    assert [s.id for s in store.sessions()] == [b, a]
    assert [s.id for s in store.sessions(label="alpha")] == [a]
    store.close()


def test_events_stream_in_order_and_filter(db_url) -> None:
    """Events come back in seq order across chunk boundaries, filterable by direction."""
    store = open_store(db_url)
    frames = [("client" if i % 3 else "server", {"type": f"t{i}", "i": i}, i) for i in range(25)]
    sid = make_session(store, frames)
    events = list(store.events(sid, chunk=7))
    assert [e.seq for e in events] == list(range(25))
    assert [e.type for e in events] == [f"t{i}" for i in range(25)]
    server = list(store.events(sid, direction="server", chunk=3))
    assert [e.seq for e in server] == [i for i in range(25) if i % 3 == 0]
    assert store.count_events(sid) == 25
    store.close()


def test_bad_row_does_not_lose_its_batch(db_url) -> None:
    """A row the database refuses is returned; its neighbours are stored."""
    store = open_store(db_url)
    sid = new_id()
    store.create_session(SessionRecord(id=sid, started=utcnow()))
    good = [EventRecord(sid, i, "client", i, i, "text", b"{}") for i in range(5)]
    dup = EventRecord(sid, 2, "client", 0, 0, "text", b"dup")  # primary key clash
    nul = EventRecord(sid, 7, "server", 0, 0, "text", b'{"a": "\\u0000\x00"}',
                      type="x\ufffd")
    failed = store.insert_events([*good[:3], dup, *good[3:], nul])
    assert failed == [dup]
    assert [e.seq for e in store.events(sid)] == [0, 1, 2, 3, 4, 7]
    assert list(store.events(sid))[-1].data == nul.data
    store.close()


def test_orphans_marked_incomplete_but_live_ones_kept(db_url) -> None:
    """Open sessions of dead recorders become incomplete; a live recorder's stay open."""
    store = open_store(db_url)
    live, dead, gone = new_id(), new_id(), new_id()
    store.register_recorder(live)  # this process: alive
    with store.engine.begin() as conn:
        conn.execute(Recorder.__table__.insert().values(
            id=dead, host=socket.gethostname(), pid=2**22 + 17, started_at=utcnow(),
            heartbeat_at=utcnow()))
        conn.execute(Recorder.__table__.insert().values(
            id=gone, host="another-machine", pid=os.getpid(), started_at=utcnow(),
            heartbeat_at=utcnow() - timedelta(minutes=5)))
    ids = {}
    for owner in (live, dead, gone, None):
        sid = new_id()
        store.create_session(SessionRecord(id=sid, started=utcnow(), recorder_id=owner))
        ids[owner] = sid
    assert store.mark_orphans_incomplete() == 3
    statuses = {owner: store.session(sid).status for owner, sid in ids.items()}
    assert statuses == {live: Status.OPEN, dead: Status.INCOMPLETE, gone: Status.INCOMPLETE,
                        None: Status.INCOMPLETE}
    store.close()


def test_bad_databases_are_usage_errors(tmp_path) -> None:
    """A file that is not a database, a missing directory, a bad URL: one-line StoreErrors."""
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open database"):
        open_store(f"sqlite:///{junk}")
    with pytest.raises(StoreError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path}/missing/x.db")
    with pytest.raises(StoreError, match="invalid database URL"):
        open_store("not a url")
    with pytest.raises(StoreError, match="unsupported"):
        open_store("nosuchdb://x/y")
    with pytest.raises(StoreError, match="invalid database URL.*abc"):
        open_store(f"sqlite:///{tmp_path}/x.db?timeout=abc")


@pytest.mark.parametrize(("query", "busy_ms"), [("", 10000), ("?timeout=0.5", 500)])
def test_sqlite_busy_timeout(tmp_path, query: str, busy_ms: int) -> None:
    """A write waits 10 s for another writer's lock, or the URL's ``?timeout=`` seconds."""
    with open_store(f"sqlite:///{tmp_path}/x.db{query}") as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == busy_ms
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_ids_time_ordered_and_unique() -> None:
    """Ids sort by creation time and never repeat."""
    ids = [new_id() for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert abs(id_time_ms(ids[0]) - utcnow().timestamp() * 1000) < 5000


def test_bounded_reads_counts_and_chunks(db_url) -> None:
    """Seq bounds, counts and reads stop at ``last_seq``; the chunk readers cover exactly
    the same rows; a second import of one session is refused, not raised."""
    store = open_store(db_url)
    sid = make_session(store, [("client", {"type": "x", "n": i}, i) for i in range(10)])
    assert store.seq_bounds(sid) == (0, 9) and store.seq_bounds("none") == (0, -1)
    assert store.count_events(sid) == 10 and store.count_events(sid, last_seq=3) == 4
    assert [ev.seq for ev in store.events(sid, chunk=3, last_seq=6)] == list(range(7))
    assert store.chunk_ranges(sid, avg_frame_bytes=1 << 30, last_seq=99) == [(0, 10)]
    for fast in (True, False):
        chunks = list(store.read_chunks(sid, last_seq=4, fast=fast))
        assert [int(s) for c in chunks for s in c.seq] == [0, 1, 2, 3, 4]
    reader = store.chunk_reader(workers=2)
    got = list(reader.map([("a", sid, 0, 5), ("b", sid, 5, 10), ("c", sid, 3, 3)]))
    assert [k for k, _ in got] == ["a", "b", "c"] and got[2][1] is None
    assert [len(c) for _, c in got[:2] if c is not None] == [5, 5]
    rec, events = store.session(sid), list(store.events(sid))
    assert not store.import_session(rec, events)
    assert store.schema_revision() == store.head_revision() == SHIPPED_HEAD
    assert (store.sqlite_path() is None) == db_url.startswith("postgresql")
    rules = session_field_rules()
    assert rules["label"].max_length == 255 and rules["label"].nullable
    assert not rules["status"].nullable and rules["headers"].max_length is None
    store.close()
