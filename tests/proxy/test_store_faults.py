"""Store faults besides disk full: PostgreSQL down, SQLite locked, a read-only directory.

The SPEC policy holds for each: open sessions keep relaying, the loss is counted and they
end ``incomplete``; new sessions get HTTP 503 until the store recovers; stderr says so once.
A database that cannot be opened at all is one line on stderr and exit 2, before listening.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from rtcapture.store import Store, open_store
from tests.conftest import PG_ADMIN_URL, deadline
from tests.factories import make_session

from .conftest import running_recorder
from .peers import RawClient, Upstream, raw_connect
from .procs import RecorderProcess, start_recorder

FAILED = b"recording store failed"
_OPEN = re.compile(rb"session (\S+) open")


# ---------------------------------------------------------------------------- helpers

def _event(i: int) -> str:
    return json.dumps({"type": "input_audio_buffer.append", "event_id": f"e{i}",
                       "audio": "AAAA"})


async def _stream(client: RawClient, first: int, count: int, timeout: float = 5) -> None:
    """Send events ``first``..``first+count-1`` and wait until each has echoed back."""
    want = len(client.received) + count
    for i in range(first, first + count):
        client.send(_event(i))
    await client.wait_for(lambda: len(client.received) >= want, deadline(timeout))
    echoed = [m.event["event_id"] for m in client.received[-count:] if m.event]
    assert echoed == [f"e{i}" for i in range(first, first + count)]


async def _wait_bytes(buf: bytearray, needle: bytes, timeout: float) -> None:
    """Wait until a recorder's output buffer contains ``needle``."""
    async with asyncio.timeout(deadline(timeout)):
        while needle not in buf:
            await asyncio.sleep(0.02)  # polling the recorder's pipe buffer


async def _session_id(rec: RecorderProcess, nth: int, timeout: float = 5) -> str:
    """The id of the ``nth`` (0-based) session the recorder reported open."""
    async with asyncio.timeout(deadline(timeout)):
        while len(ids := _OPEN.findall(rec.stdout)) <= nth:
            await asyncio.sleep(0.02)  # polling the recorder's pipe buffer
    return ids[nth].decode()


async def _connect_once_accepted(url: str, timeout: float) -> RawClient:
    """Connect, retrying while the recorder answers HTTP 503 (the store still down)."""
    client: RawClient | None = None
    async with asyncio.timeout(deadline(timeout)):
        while client is None:
            try:
                client = await raw_connect(url)
            except ConnectionError as exc:
                assert "HTTP 503" in str(exc)
                await asyncio.sleep(0.2)  # retry interval of a polling client
    assert client is not None
    await client.wait_for(lambda: len(client.received) == 1, deadline(5))
    return client


async def _wait_stored(url: str, session_id: str, count: int, timeout: float = 5) -> None:
    """Wait until ``count`` events of ``session_id`` are committed."""
    store = open_store(url, check_orphans=False)
    try:
        async with asyncio.timeout(deadline(timeout)):
            while not store.has_session(session_id) or store.count_events(session_id) < count:
                await asyncio.sleep(0.05)  # polling another process's database
    finally:
        store.close()


def _client_ids(store: Store, session_id: str) -> list[str]:
    return [json.loads(ev.data)["event_id"] for ev in store.events(session_id, "client")]


async def _close(client: RawClient) -> None:
    client.close()
    await asyncio.wait_for(client.closed, deadline(5))


def _assert_one_failure_line(rec: RecorderProcess) -> None:
    assert rec.stderr.count(FAILED) == 1, rec.stderr.decode(errors="replace")
    assert b"Traceback" not in rec.stderr and b"Traceback" not in rec.stdout


def _check_outage(store: Store, first: str, second: str, before: int, after: int,
                  later: int) -> None:
    """Session ``first`` lost frames and is incomplete but kept those sent before the
    outage (e0..e<before-1>) and after it (e<after>..e<later-1>); ``second`` is whole."""
    s1, s2 = store.session(first), store.session(second)
    assert s1.status == "incomplete" and s1.lost_frames > 0, (s1.status, s1.lost_frames)
    stored = _client_ids(store, first)
    assert stored[:before] == [f"e{i}" for i in range(before)]
    assert stored[-(later - after):] == [f"e{i}" for i in range(after, later)]
    assert len(stored) < later  # some frames of the outage are gone, and counted
    assert s2.status == "closed" and s2.lost_frames == 0
    assert _client_ids(store, second) == [f"e{i}" for i in range(100, 105)]
    assert store.count_events(second) == 1 + 2 * 5  # greeting, 5 events and their echoes


# ---------------------------------------------------------------------------- PostgreSQL

def _pg_cluster() -> list[str]:
    """``pg_ctlcluster`` arguments for the local test server, or skip."""
    url = make_url(PG_ADMIN_URL)
    conf = Path("/etc/postgresql")
    if shutil.which("pg_ctlcluster") is None or not conf.is_dir():
        pytest.skip("pg_ctlcluster not available")
    if url.host not in ("127.0.0.1", "localhost") or (url.port or 5432) != 5432:
        pytest.skip("the test server is not the local cluster")
    versions = sorted((p.name for p in conf.iterdir() if p.name[:1].isdigit()),
                      key=lambda v: [int(x) for x in v.split(".") if x.isdigit()])
    if not versions:
        pytest.skip("no PostgreSQL cluster configured")
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main"]


async def _pg_ctl(cluster: list[str], *args: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        *cluster, *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(deadline(60)):
        _, err = await proc.communicate()
    assert proc.returncode is not None
    if proc.returncode:
        sys.stderr.write(err.decode(errors="replace"))
    return proc.returncode


async def test_postgresql_stopped_and_restarted_mid_session(pg_url: str,
                                                            upstream: Upstream) -> None:
    """PostgreSQL goes down mid-session: relaying goes on, 503 while down, then it recovers."""
    cluster = _pg_cluster()
    rec = await start_recorder(pg_url, upstream.url)
    stopped = False
    try:
        c1 = await raw_connect(rec.url)
        await c1.wait_for(lambda: len(c1.received) == 1, deadline(5))
        await _stream(c1, 0, 5)
        first = await _session_id(rec, 0)
        await _wait_stored(pg_url, first, 1 + 2 * 5)
        stopped = True
        if await _pg_ctl(cluster, "stop", "-m", "fast"):
            pytest.skip("cannot stop the PostgreSQL cluster")
        await _stream(c1, 5, 10)  # relaying goes on while the database is down
        await _wait_bytes(rec.stderr, FAILED, 10)
        with pytest.raises(ConnectionError, match="HTTP 503"):
            await raw_connect(rec.url)
        await _stream(c1, 15, 5)
        assert await _pg_ctl(cluster, "start") == 0
        stopped = False
        c2 = await _connect_once_accepted(rec.url, 15)
        second = await _session_id(rec, 1)
        await _stream(c2, 100, 5)
        await _stream(c1, 20, 5)  # the old session's later frames are stored again
        await _close(c2)
        await _close(c1)
    finally:
        if stopped:
            await _pg_ctl(cluster, "start")
        code = await rec.stop()
    assert code == 0
    _assert_one_failure_line(rec)
    assert b"recording store recovered" in rec.stderr
    with open_store(pg_url, check_orphans=False) as store:
        _check_outage(store, first, second, 5, 20, 25)


# ---------------------------------------------------------------------------- SQLite locked

@contextmanager
def _write_lock(db: Path) -> Iterator[sqlite3.Connection]:
    """Another connection holding the database's write lock until the block ends."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=5)  # past a commit under way
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
    finally:
        conn.rollback()
        conn.close()


def _waiting_on_lock(pid: int) -> bool:
    """True while a process sleeps in SQLite's busy handler (Linux: its wait channel)."""
    try:
        return Path(f"/proc/{pid}/wchan").read_text() in ("hrtimer_nanosleep",
                                                          "do_nanosleep")
    except OSError:
        return False


def _writer_pid(rec: RecorderProcess) -> int:
    """The recorder's writer process (its only child), or skip if wait channels are hidden."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == rec.proc.pid:
            children.append(int(stat.parent.name))
    assert len(children) == 1, children
    if Path(f"/proc/{children[0]}/wchan").read_text() in ("", "0"):
        pytest.skip("the kernel hides wait channels")
    return children[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_sqlite_lock_shorter_than_busy_timeout_loses_nothing(tmp_path: Path,
                                                                   upstream: Upstream) -> None:
    """Another writer holds the lock for less than the busy timeout: commits wait, none lost."""
    db = tmp_path / "locked.db"
    url = f"sqlite:///{db}"
    rec = await start_recorder(url, upstream.url)
    try:
        writer = _writer_pid(rec)
        with _write_lock(db):
            client = await raw_connect(rec.url)
            await client.wait_for(lambda: len(client.received) == 1, deadline(5))
            await _stream(client, 0, 20)
            await _close(client)
            async with asyncio.timeout(deadline(5)):
                while not _waiting_on_lock(writer):
                    await asyncio.sleep(0.01)  # polling the writer's state
            assert b" closed: " not in rec.stdout  # the session's end waits for the lock
            assert rec.stderr.count(FAILED) == 0
        await _wait_bytes(rec.stdout, b" closed: ", 10)
    finally:
        code = await rec.stop()
    assert code == 0
    assert FAILED not in rec.stderr and b"Traceback" not in rec.stderr
    assert b", 0 lost" in rec.stdout
    with open_store(url, check_orphans=False) as store:
        (session,) = store.sessions()
        assert session.status == "closed" and session.lost_frames == 0
        assert _client_ids(store, session.id) == [f"e{i}" for i in range(20)]
        assert store.count_events(session.id) == 1 + 2 * 20


async def test_sqlite_lock_longer_than_busy_timeout_is_a_store_failure(
        tmp_path: Path, upstream: Upstream) -> None:
    """A lock held past the busy timeout (1 s from the URL; 10 s by default, the same path):
    relaying goes on, 503, then recovery on release."""
    db = tmp_path / "locked.db"
    url = f"sqlite:///{db}?timeout=1"
    rec = await start_recorder(url, upstream.url)
    try:
        c1 = await raw_connect(rec.url)
        await c1.wait_for(lambda: len(c1.received) == 1, deadline(5))
        await _stream(c1, 0, 5)
        first = await _session_id(rec, 0)
        await _wait_stored(url, first, 1 + 2 * 5)
        with _write_lock(db):
            await _stream(c1, 5, 10)
            await _wait_bytes(rec.stderr, FAILED, 15)  # one busy timeout, then the failure
            with pytest.raises(ConnectionError, match="HTTP 503"):
                await raw_connect(rec.url)
            await _stream(c1, 15, 5)
        c2 = await _connect_once_accepted(rec.url, 15)
        second = await _session_id(rec, 1)
        await _stream(c2, 100, 5)
        await _stream(c1, 20, 5)
        await _close(c2)
        await _close(c1)
    finally:
        code = await rec.stop()
    assert code == 0
    _assert_one_failure_line(rec)
    assert b"database is locked" in rec.stderr and b"recording store recovered" in rec.stderr
    with open_store(url, check_orphans=False) as store:
        _check_outage(store, first, second, 5, 20, 25)


async def test_store_failure_under_heavy_traffic_drops_instead_of_stalling(
        tmp_path: Path, upstream: Upstream) -> None:
    """With the store failed, frames beyond the writer's queue bound are dropped and counted
    rather than holding every socket: relaying goes on at full speed, and every frame of the
    session is either stored or counted lost."""
    db = tmp_path / "locked.db"
    url = f"sqlite:///{db}?timeout=1"
    count, pad = 300, "A" * 16000  # 300 x 16 KB each way: many times the 256 KiB bound
    async with running_recorder(url, upstream.url, sink_high_water=256 << 10) as rec:
        client = await raw_connect(rec.url)
        await client.wait_for(lambda: len(client.received) == 1, deadline(5))
        await _stream(client, 0, 5)
        with _write_lock(db):
            async with asyncio.timeout(deadline(15)):
                while rec.sink.store_ok:
                    await asyncio.sleep(0.02)  # waiting for the writer's failure report
            for i in range(count):
                client.send(json.dumps({"type": "input_audio_buffer.append",
                                        "event_id": f"big{i}", "audio": pad}))
            await client.wait_for(lambda: len(client.received) == 1 + 5 + count, deadline(20))
            assert rec.sink.lost > 0  # some frames went past the bound and were dropped
            await _close(client)  # the session ends while the store is down
        with open_store(url, check_orphans=False) as store:
            async with asyncio.timeout(deadline(10)):  # its end is written on recovery
                while [s.status for s in store.sessions()] in ([], ["open"]):
                    await asyncio.sleep(0.05)  # polling the writer's database
            (session,) = store.sessions()
    assert session.status == "incomplete" and session.lost_frames > 0
    assert session.client_events + session.server_events == 1 + 2 * (5 + count)
    with open_store(url, check_orphans=False) as store:
        # every frame relayed is stored or counted lost: greeting, each event and its echo
        assert store.count_events(session.id) + session.lost_frames == 1 + 2 * (5 + count)


# ---------------------------------------------------------------------------- read-only

@contextmanager
def _read_only_dir(path: Path, db_inside: bool) -> Iterator[Path]:
    """A directory nobody may write to (a read-only tmpfs as root, else mode 0o555),
    holding a database with one session when ``db_inside``."""
    path.mkdir()
    root = os.geteuid() == 0
    if root and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)],
                               capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs (as root, chmod would not make it read-only)")
    try:
        if db_inside:
            with open_store(f"sqlite:///{path / 'x.db'}") as store:
                make_session(store, [("client", {"type": "session.update"}, 0.0)])
        if root:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        else:
            path.chmod(0o555)
        yield path
    finally:
        if root:
            subprocess.run(["umount", str(path)], check=True)
        else:
            path.chmod(0o755)


def _rtcapture(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcapture", *args], capture_output=True,
                          text=True, timeout=deadline(30), stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("existing", [False, True], ids=["new-db", "existing-db"])
def test_read_only_directory_is_one_line_and_exit_2(tmp_path: Path, existing: bool) -> None:
    """record on a read-only directory: one clear line, exit 2, never starts listening."""
    with _read_only_dir(tmp_path / "ro", existing) as ro:
        url = f"sqlite:///{ro / 'x.db'}"
        result = _rtcapture("--db", url, "record", "--listen", "127.0.0.1:0",
                            "--upstream", "ws://127.0.0.1:9")
        assert result.returncode == 2, result
        assert "recording on" not in result.stdout
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        assert "is not writable" in lines[0], lines[0]
        assert os.listdir(ro) == (["x.db"] if existing else [])


def test_sessions_in_read_only_directory(tmp_path: Path) -> None:
    """sessions on a database in a read-only directory: its rows, or one line and exit 2."""
    with _read_only_dir(tmp_path / "ro", True) as ro:
        result = _rtcapture("--db", f"sqlite:///{ro / 'x.db'}", "sessions", "--json")
    assert "Traceback" not in result.stderr
    if result.returncode == 0:
        assert len(json.loads(result.stdout)) == 1
    else:
        assert result.returncode == 2 and result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        assert "is not writable" in lines[0], lines[0]
