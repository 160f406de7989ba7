"""Store faults found by trying to break the recorder (issue 12, findings 7, 8 and 9)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from rtcapture.store import open_store
from tests.conftest import PG_ADMIN_URL, deadline

from .peers import RawClient, Upstream, raw_connect
from .procs import RecorderProcess, start_recorder
from .test_store_faults import (
    FAILED,
    _client_ids,
    _close,
    _session_id,
    _stream,
    _wait_bytes,
    _wait_stored,
)

_SUMMARY = re.compile(rb"(\d+) frames relayed, (\d+) stored, (\d+) lost")


def _summary(rec: RecorderProcess) -> tuple[int, int, int]:
    match = _SUMMARY.search(rec.stdout)
    assert match is not None, rec.stdout.decode(errors="replace")
    relayed, stored, lost = map(int, match.groups())
    return relayed, stored, lost


async def _opened(url: str) -> RawClient:
    client = await raw_connect(url)
    await client.wait_for(lambda: len(client.received) == 1, deadline(5))
    return client


async def test_deleted_database_file_is_a_store_failure(tmp_path: Path,
                                                        upstream: Upstream) -> None:
    """The SQLite file deleted mid-run: a store failure (stderr once, 503), and the frames
    relayed afterwards are counted lost instead of "0 lost"."""
    db = tmp_path / "gone.db"
    url = f"sqlite:///{db}"
    rec = await start_recorder(url, upstream.url)
    try:
        client = await _opened(rec.url)
        await _stream(client, 0, 5)
        await _wait_stored(url, await _session_id(rec, 0), 1 + 2 * 5)
        db.unlink()
        await _stream(client, 5, 10)
        await _wait_bytes(rec.stderr, FAILED, 10)
        assert b"was deleted" in rec.stderr
        with pytest.raises(ConnectionError, match="HTTP 503"):
            await raw_connect(rec.url)
        await _stream(client, 15, 5)
        await _close(client)
    finally:
        code = await rec.stop()
    assert code == 0
    assert rec.stderr.count(FAILED) == 1 and b"Traceback" not in rec.stderr
    relayed, stored, lost = _summary(rec)
    assert relayed == 1 + 2 * 20 and stored == 1 + 2 * 5 and lost == relayed - stored


async def test_dropped_postgresql_connection_loses_nothing(pg_url: str,
                                                           upstream: Upstream) -> None:
    """``pg_terminate_backend`` on the writer's connection, twice: the batch in hand is
    retried on a fresh connection; nothing is lost and no store failure is reported."""
    rec = await start_recorder(pg_url, upstream.url)
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = pg_url.rsplit("/", 1)[1]
    try:
        client = await _opened(rec.url)
        sid = await _session_id(rec, 0)
        sent = 0
        for _ in range(2):
            await _stream(client, sent, 5)
            sent += 5
            await _wait_stored(pg_url, sid, 1 + 2 * sent)
            with admin.connect() as conn:
                killed = conn.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name}).scalar()
            assert killed and killed >= 1
            await _stream(client, sent, 5)
            sent += 5
            await _wait_stored(pg_url, sid, 1 + 2 * sent)
        await _close(client)
    finally:
        admin.dispose()
        code = await rec.stop()
    assert code == 0
    assert FAILED not in rec.stderr and b"Traceback" not in rec.stderr, rec.stderr
    relayed, stored, lost = _summary(rec)
    assert lost == 0 and relayed == stored == 1 + 2 * sent
    with open_store(pg_url, check_orphans=False) as store:
        session = store.session(sid)
        assert session.status == "closed" and session.lost_frames == 0
        assert _client_ids(store, sid) == [f"e{i}" for i in range(sent)]


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="prlimit not installed")
async def test_disk_full_is_one_message_per_outage(tmp_path: Path, upstream: Upstream) -> None:
    """A full disk for several heartbeats while audio streams: "store failed" once, no
    "recovered" in between (small writes that still fit do not end the outage)."""
    url = f"sqlite:///{tmp_path / 'full.db'}"
    open_store(url).close()
    rec = await start_recorder(url, upstream.url, prefix=("prlimit", "--fsize=400000"))
    chunk = json.dumps({"type": "input_audio_buffer.append", "audio": "A" * 20000})
    try:
        client = await _opened(rec.url)
        await _wait_bytes(rec.stdout, b" open ", 5)
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline(3) + 5.0  # past two heartbeats (2 s) of the writer
        sent = 0
        while loop.time() < end:
            client.send(chunk)
            sent += 1
            await client.wait_for(lambda n=sent: len(client.received) > n, deadline(5))
            await asyncio.sleep(0.02)  # real-time pacing of the load, not synchronisation
        assert FAILED in rec.stderr
        await _close(client)
    finally:
        code = await rec.stop()
    assert code == 0
    assert rec.stderr.count(FAILED) == 1, rec.stderr.decode(errors="replace")
    assert rec.stderr.count(b"recording store recovered") == 0, rec.stderr
    assert _summary(rec)[2] > 0
