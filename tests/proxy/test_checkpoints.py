"""The writer's SQLite commits run no WAL checkpoint: the copy into the database file waits
until the record stream is quiet (or the WAL passes its bound), out of the busy window."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from rtcapture.proxy import writer as writer_module
from rtcapture.proxy.writer import Writer
from rtcapture.store import db as store_db
from rtcapture.store import open_store
from tests.conftest import deadline
from tests.factories import make_session

from .conftest import running_recorder
from .peers import Upstream, echo, raw_connect

PAD = "x" * 4000


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


async def test_checkpoint_waits_for_a_quiet_stream(tmp_path: Path) -> None:
    """While frames stream, what the writer commits stays in the WAL (the database file does
    not grow); once the stream is quiet the WAL is copied in, and every frame is there."""
    db = tmp_path / "ck.db"
    url = f"sqlite:///{db}"
    up = await Upstream(reply=echo).start()
    try:
        async with running_recorder(url, up.url) as rec:
            client = await raw_connect(rec.url)
            base = _size(db)
            running = True

            async def stream() -> None:
                i = 0
                while running:
                    client.send(json.dumps({"type": "t", "i": i, "pad": PAD}))
                    i += 1
                    await asyncio.sleep(0.005)  # pacing of the load, not synchronisation

            task = asyncio.create_task(stream())
            try:
                async with asyncio.timeout(deadline(30)):  # 6 MB committed (SQLite would checkpoint at 4), stream going on
                    while sum(rec.sink.stored.values()) < 1500:
                        await asyncio.sleep(0.02)  # polling the writer's reports
                assert _size(Path(f"{db}-wal")) > 5_000_000
                assert _size(db) - base < 200_000  # no checkpoint inside the burst
            finally:
                running = False
                await task
            async with asyncio.timeout(deadline(15)):  # quiet now: the WAL goes in
                while _size(db) - base < 1_000_000:
                    await asyncio.sleep(0.05)  # polling the database file's size
            client.close()
            await asyncio.wait_for(client.closed, deadline(5))
    finally:
        await up.stop()
    with open_store(url) as store:
        (session,) = store.sessions()
        assert store.count_events(session.id) == 2 * len(client.sent)


def test_checkpoint_when_quiet_or_past_the_bound(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "unit.db"
    store = open_store(f"sqlite:///{db}", defer_checkpoints=True)
    try:
        writer = Writer(store, "r1")
        make_session(store, [("client", {"type": "t", "pad": PAD}, i) for i in range(300)])
        writer.unchecked = True
        before = _size(db)
        writer.checkpoint_if_due(quiet_s=0.0)  # busy and the WAL small: nothing yet
        assert _size(db) == before and writer.unchecked
        monkeypatch.setattr(store_db, "WAL_BOUND", 1000)
        writer.checkpoint_if_due(quiet_s=0.0)  # busy, but past the bound
        assert _size(db) > before + 1_000_000 and not writer.unchecked
        make_session(store, [("client", {"type": "t", "pad": PAD}, i) for i in range(300)])
        monkeypatch.setattr(store_db, "WAL_BOUND", 1 << 40)
        grown = _size(db)
        writer.unchecked = True
        writer.checkpoint_if_due(quiet_s=writer_module.CHECKPOINT_QUIET_S)  # quiet
        assert _size(db) > grown + 1_000_000
    finally:
        store.close()
