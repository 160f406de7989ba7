"""`rtcapture record` usage errors: one line, exit 2, no traceback; Ctrl-C summary."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from rtcapture.cli import cli
from tests.conftest import deadline

from .peers import raw_connect
from .procs import start_recorder


@pytest.mark.parametrize(("args", "message"), [
    (["record", "--listen", "0.0.0.0:0"], "needs --token"),
    (["record", "--listen", "nonsense"], "HOST:PORT"),
    (["record", "--upstream", "ftp://example.invalid"], "--upstream must be a ws://, wss://"),
    (["record", "--upstream", "ws://127.0.0.1:9/x?y=1"], "takes no query"),
    (["record", "--listen", "127.0.0.1:18765", "--upstream", "ws://127.0.0.1:18765"],
     "points at the recorder itself"),
    (["record", "--tls-key", "pyproject.toml"], "needs --tls-cert"),
    (["record", "--tls-cert", "pyproject.toml"], "cannot load certificate"),
])
def test_record_usage_errors(sqlite_url, args, message) -> None:
    """Each mistake exits 2 with one clear line and no traceback."""
    result = CliRunner().invoke(cli, ["--db", sqlite_url, *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_record_bad_database(tmp_path) -> None:
    """A file that is not a database is refused before listening."""
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"garbage" * 1000)
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{junk}", "record"])
    assert result.exit_code == 2 and "cannot open database" in result.output
    assert "Traceback" not in result.output


async def test_ctrl_c_closes_sessions_and_prints_summary(sqlite_url, upstream) -> None:
    """SIGINT with a session open: it is closed (1001 upstream), flushed and summarised."""
    rec = await start_recorder(sqlite_url, upstream.url)
    client = await raw_connect(rec.url)
    await client.wait_for(lambda: len(client.received) == 1, deadline(5))
    client.send(b'{"type": "session.update", "session": {}}')
    await client.wait_for(lambda: len(client.received) == 2, deadline(5))
    assert await rec.stop() == 0
    assert (await asyncio.wait_for(upstream.connections[0].closed, deadline(5)))[0] == 1001
    assert (await asyncio.wait_for(client.closed, deadline(5)))[0] == 1001
    out = rec.stdout.decode()
    assert "recorded 1 sessions (0 failed, 1 closed at shutdown): 3 frames" in out
    assert "Traceback" not in rec.stderr.decode()
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "sessions", "--json"])
    assert '"status": "closed"' in result.output and '"closed_by": "recorder"' in result.output
