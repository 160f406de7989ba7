"""``rtcapture mock`` as a process: address on the first line, Ctrl-C, playback, TLS."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from click.testing import CliRunner
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from rtcapture.cli import cli
from rtcapture.store import open_store
from tests.conftest import deadline
from tests.factories import make_session
from tests.node import self_signed_cert

from .helpers import RawClient, user_text

ADDRESS = re.compile(r"^mock listening on (wss?://127\.0\.0\.1:\d+)$")


@asynccontextmanager
async def mock_process(*mock_args: str, db: str | None = None, own_session: bool = False
                       ) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """``rtcapture mock`` on a free port; yields the process and the URL it printed
    (``own_session``: started in a session and process group of its own, as a terminal
    or a service manager starts it)."""
    global_args = ["--db", db] if db else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rtcapture", *global_args, "mock", "--listen", "127.0.0.1:0",
        *mock_args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=own_session)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), deadline(20))).decode().strip()
        match = ADDRESS.match(line)
        assert match, line
        yield proc, match.group(1)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def stop(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    """Ctrl-C; the exit code and stderr."""
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), deadline(10))
    return proc.returncode, err.decode()


async def test_prints_address_serves_and_stops_cleanly() -> None:
    """The first stdout line is the ws:// address; Ctrl-C exits 0 without a traceback."""
    async with mock_process("--fast") as (proc, url):
        client = await RawClient.open(url)
        await client.until("session.created")
        await client.send({"type": "session.update", "session": {
            "type": "realtime", "output_modalities": ["text"]}})
        await client.send(user_text("hello"))
        await client.send({"type": "response.create"})
        done = (await client.until("response.done"))[-1]
        assert done["response"]["status"] == "completed"
        await client.close()
        code, err = await stop(proc)
    assert code == 0
    assert "Traceback" not in err and "sk-test" not in err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
async def test_signal_to_the_process_group_closes_open_sessions(sig: signal.Signals) -> None:
    """Ctrl-C in a terminal (SIGINT to the whole foreground group), a service manager's
    SIGTERM to the group, the terminal closing (SIGHUP): a client mid-session gets a
    1001 close, and the mock exits 0 with one line, no traceback."""
    async with mock_process("--fast", own_session=True) as (proc, url):
        client = await RawClient.open(url)
        await client.until("session.created")
        await client.send({"type": "input_audio_buffer.append", "audio": "AAAAAA=="})
        os.killpg(proc.pid, sig)
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(client.ws.recv(), deadline(10))
        assert client.ws.close_code == 1001
        _, err = await asyncio.wait_for(proc.communicate(), deadline(10))
    assert proc.returncode == 0, err
    assert err.decode().strip().splitlines()[-1] == "mock stopped"
    assert "Traceback" not in err.decode()


async def test_playback_of_a_stored_session(tmp_path) -> None:
    """--playback SESSION resolves through the store and serves the frames byte-exact."""
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    raw = b'{"type":"session.created",  "event_id":"event_x"}'
    make_session(open_store(db), [("server", raw, 0), ("client", {"type": "response.create"}, 5),
                                  ("server", b'{"type":"response.done"}', 9)], label="pb")
    async with mock_process("--playback", "@pb", "--fast", db=db) as (proc, url):
        async with connect(url + "/v1/realtime") as ws:
            first = await asyncio.wait_for(ws.recv(), deadline(5))
            await ws.send(json.dumps({"type": "response.create"}))
            second = await asyncio.wait_for(ws.recv(), deadline(5))
        assert first.encode() == raw and second == '{"type":"response.done"}'
        code, err = await stop(proc)
    assert code == 0 and "playing back session" in err


async def test_tls_listener(tmp_path) -> None:
    """--tls-cert/--tls-key serve wss://."""
    cert, key = self_signed_cert(tmp_path)
    async with mock_process("--tls-cert", str(cert), "--tls-key", str(key)) as (proc, url):
        assert url.startswith("wss://")
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        async with connect(url + "/v1/realtime", ssl=context) as ws:
            event = json.loads(await asyncio.wait_for(ws.recv(), deadline(5)))
        assert event["type"] == "session.created"
        assert (await stop(proc))[0] == 0


def test_port_in_use_is_one_line() -> None:
    """Listening on a taken port exits 2 with one line."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["mock", "--listen", f"127.0.0.1:{port}"])
    assert result.exit_code == 2
    assert "cannot listen on 127.0.0.1" in result.output and "Traceback" not in result.output
