"""A writer process that dies is reported at once, its loss counted, and it comes back."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest

from rtcapture.store import open_store
from tests.conftest import deadline

from .conftest import running_recorder
from .peers import Upstream, raw_connect
from .test_store_faults import _client_ids, _close, _connect_once_accepted, _stream


async def test_killed_writer_is_reported_counted_and_restarted(
        tmp_path: Path, upstream: Upstream, caplog: pytest.LogCaptureFixture) -> None:
    """kill -9 of the writer: stderr says so at once, new sessions get 503 until a new
    writer is up, then recording works again (the open session's later frames included)
    and the summary counts what was lost."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    caplog.set_level(logging.WARNING, logger="rtcapture.recorder")
    async with running_recorder(url, upstream.url) as rec:
        c1 = await raw_connect(rec.url)
        await c1.wait_for(lambda: len(c1.received) == 1, deadline(5))
        await _stream(c1, 0, 5)
        assert rec.sink.proc is not None
        first_writer = rec.sink.proc.pid
        os.kill(first_writer, signal.SIGKILL)
        async with asyncio.timeout(deadline(5)):
            while rec.sink.store_ok:
                await asyncio.sleep(0.01)  # waiting for the recorder to notice
        assert "the writer process exited" in caplog.text
        with pytest.raises(ConnectionError, match="HTTP 503"):
            await raw_connect(rec.url)
        await _stream(c1, 5, 5)  # relaying goes on; these frames are lost
        c2 = await _connect_once_accepted(rec.url, 15)  # once a new writer is up
        assert rec.sink.proc.pid != first_writer
        await _stream(c2, 100, 5)
        await _stream(c1, 10, 5)  # the old session is recorded again
        await _close(c2)
        await _close(c1)
    stats = rec.stats
    assert "cannot restart" not in caplog.text
    assert stats.lost > 0 and stats.frames == stats.stored + stats.lost
    with open_store(url, check_orphans=False) as store:
        sessions = sorted(store.sessions(), key=lambda s: s.started)
        first, *refused, second = sessions  # refused: the 503s while the writer was down
        assert refused and {(s.status, s.close_code) for s in refused} == {("failed", 503)}
        assert second.status == "closed" and second.lost_frames == 0
        assert _client_ids(store, second.id) == [f"e{i}" for i in range(100, 105)]
        ids = _client_ids(store, first.id)
        assert ids[-5:] == [f"e{i}" for i in range(10, 15)]
        assert first.status == "incomplete" and first.lost_frames > 0
        assert stats.lost_by_session[first.id][0] == first.lost_frames
        assert store.count_events(first.id) + first.lost_frames == 1 + 2 * 15
        total = sum(store.count_events(s.id) for s in sessions)
        assert stats.stored == total
