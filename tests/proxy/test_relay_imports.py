"""The relay process stays light: a running ``rtcapture record`` never loads SQLAlchemy
(its writer process does the storing), and the relay's modules import neither SQLAlchemy
nor click.

The recorder runs as a real process through a wrapper that runs the command line in-process
and, at exit, writes the names of the loaded SQLAlchemy and Alembic modules to a file.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from rtcapture.store import open_store
from tests.conftest import deadline

from .peers import Upstream, raw_connect
from .procs import _URL, RecorderProcess

WRAPPER = """
import atexit, json, sys
out = sys.argv.pop(1)
def dump():
    loaded = sorted(m for m in sys.modules if m.partition(".")[0] in ("sqlalchemy", "alembic"))
    with open(out, "w") as f:
        json.dump(loaded, f)
atexit.register(dump)
sys.argv[0] = "rtcapture"
from rtcapture.cli import main
main()
"""
"""Runs ``rtcapture ARGS...`` as ``python -c WRAPPER OUT ARGS...``."""

HEAVY = ("sqlalchemy", "alembic", "click")
RELAY_MODULES = ("rtcapture.proxy.recorder", "rtcapture.proxy.relay", "rtcapture.proxy.leg",
                 "rtcapture.proxy.listener", "rtcapture.proxy.handshake",
                 "rtcapture.proxy.sink", "rtcapture.proxy.stream", "rtcapture.proxy.controls",
                 "rtcapture.webrtc.gateway")


async def _start_wrapped(out: Path, *args: str) -> RecorderProcess:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRAPPER, str(out), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    assert proc.stdout is not None
    first = b""
    async with asyncio.timeout(deadline(30)):
        while not (match := _URL.search(first)):
            line = await proc.stdout.readline()
            assert line, (await proc.stderr.read()).decode() if proc.stderr else ""
            first += line
    rp = RecorderProcess(proc, match.group(1).decode(), stdout=bytearray(first))
    rp.start_pumps()
    return rp


async def test_recording_relay_process_never_loads_sqlalchemy(
        tmp_path: Path, sqlite_url: str, upstream: Upstream) -> None:
    """A session recorded and stored: the relay process loaded no SQLAlchemy or Alembic."""
    out = tmp_path / "loaded.json"
    rec = await _start_wrapped(out, "--db", sqlite_url, "record", "--listen", "127.0.0.1:0",
                               "--upstream", upstream.url)
    client = await raw_connect(rec.url)
    await client.wait_for(lambda: len(client.received) == 1, deadline(5))
    client.send(b'{"type": "session.update", "session": {}}')
    await client.wait_for(lambda: len(client.received) == 2, deadline(5))
    assert await rec.stop(timeout=deadline(30)) == 0, rec.stderr.decode()
    assert json.loads(out.read_text()) == []
    store = open_store(sqlite_url, create=False)
    try:
        (session,) = store.sessions()
        assert store.stored_counts([session.id])[session.id]["client_events"] == 1
    finally:
        store.close()


def test_the_wrapper_sees_sqlalchemy_where_it_is_loaded(tmp_path: Path, sqlite_url: str
                                                        ) -> None:
    """The same wrapper on a command that reads the database reports SQLAlchemy loaded (so
    the empty list above means what it says)."""
    out = tmp_path / "loaded.json"
    open_store(sqlite_url).close()
    result = subprocess.run([sys.executable, "-c", WRAPPER, str(out), "--db", sqlite_url,
                             "sessions", "--json"], capture_output=True, text=True,
                            timeout=deadline(60), stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert "sqlalchemy" in json.loads(out.read_text())


def test_relay_modules_import_neither_sqlalchemy_nor_click() -> None:
    """Importing every module the relay process runs loads none of the heavy libraries."""
    code = (f"import sys\nfor m in {RELAY_MODULES!r}: __import__(m)\n"
            f"print(sorted({{n.partition('.')[0] for n in sys.modules}} & set({HEAVY!r})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=deadline(60), check=True)
    assert result.stdout.strip() == "[]", result.stdout
