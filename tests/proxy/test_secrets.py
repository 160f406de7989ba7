"""No API key reaches the database, its WAL, `show --jsonl` or the recorder's output."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from rtcapture.cli import cli
from tests.conftest import deadline

from .peers import raw_connect
from .procs import start_recorder

KEYS = {
    "authorization": "sk-canaryAUTHORIZATION0000000001",
    "api_key": "sk-canaryAPIKEYHEADER00000000002",
    "subprotocol": "sk-canarySUBPROTOCOL000000000003",
    "query_api_key": "azurecanaryQUERYAPIKEY0000000004",
    "query_authorization": "ek_canaryQUERYAUTHZ000000000005",
    "query_bare": "sk-canaryQUERYBARE00000000000006",
}


def _leaks(data: bytes) -> list[str]:
    return [name for name, key in KEYS.items() if key.encode() in data or key[6:-4].encode()
            in data]


async def test_keys_never_stored_or_printed(tmp_path: Path, upstream) -> None:
    """Keys in headers, subprotocols and the query string appear in no byte written."""
    db = tmp_path / "secrets.db"
    url = f"sqlite:///{db}"
    rec = await start_recorder(url, upstream.url, "--label", "canary", global_args=("-vv",))
    connects = [
        dict(headers=[("Authorization", f"Bearer {KEYS['authorization']}")]),
        dict(headers=[("api-key", KEYS["api_key"])]),
        dict(subprotocols=["realtime", f"openai-insecure-api-key.{KEYS['subprotocol']}"]),
        dict(path=f"/openai/realtime?api-version=2025-04-01-preview&deployment=d&api-key="
                  f"{KEYS['query_api_key']}"),
        dict(path=f"/v1/realtime?model=m&Authorization=Bearer%20{KEYS['query_authorization']}"),
        dict(path=f"/v1/realtime?model=m&token={KEYS['query_bare']}"),
    ]
    try:
        for kwargs in connects:
            client = await raw_connect(rec.url, **kwargs)
            client.send(b'{"type": "session.update", "session": {}}')
            await client.wait_for(lambda c=client: len(c.received) == 2, deadline(5))
            client.close()
            await asyncio.wait_for(client.closed, deadline(5))
        await rec.wait_output(b"closed:", deadline(10))
        # what upstream saw is the real key (forwarded), not a marker
        assert upstream.connections[0].request.headers["Authorization"].endswith(
            KEYS["authorization"])
    finally:
        code = await rec.stop()
    assert code == 0
    written = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(
        "secrets.db"))
    assert _leaks(written) == []
    assert _leaks(bytes(rec.stdout)) == [] and _leaks(bytes(rec.stderr)) == []
    runner = CliRunner()
    for args in (["show", "@canary", "--jsonl"], ["sessions", "--json"], ["show", "@canary"]):
        result = runner.invoke(cli, ["--db", url, *args])
        assert result.exit_code == 0, result.output
        assert _leaks(result.output.encode()) == []
    assert b"REDACTED-" in written  # markers were stored in their place


async def test_key_in_unreachable_upstream_error(tmp_path: Path) -> None:
    """With -vv and an unreachable upstream, the query key never reaches the logs."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"sqlite:///{tmp_path / 'secrets.db'}"
    rec = await start_recorder(url, f"ws://127.0.0.1:{port}", global_args=("-vv",))
    try:
        try:
            await raw_connect(rec.url, path=f"/v1/realtime?model=m&key={KEYS['query_bare']}",
                              headers=[("Authorization", f"Bearer {KEYS['authorization']}")])
        except ConnectionError as exc:
            assert "502" in str(exc)
        await rec.wait_output(b"failed", deadline(10))
    finally:
        await rec.stop()
    assert _leaks(bytes(rec.stdout) + bytes(rec.stderr)) == []
    written = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert _leaks(written) == []


async def test_url_encoded_key_in_a_path_segment(tmp_path: Path, upstream) -> None:
    """``sk%2D…`` in a path segment (not the query) is redacted on the session line, in
    the database, ``sessions --json`` and ``show``; upstream still gets the path as sent."""
    key = "sk-canaryPATHSEGMENT00000000007"
    encoded = key.replace("-", "%2D")
    db = tmp_path / "secrets.db"
    url = f"sqlite:///{db}"
    rec = await start_recorder(url, upstream.url, "--label", "encoded")
    try:
        client = await raw_connect(rec.url, path=f"/v1/realtime/{encoded}/x?model=m")
        await client.wait_for(lambda: len(client.received) == 1, deadline(5))
        client.close()
        await asyncio.wait_for(client.closed, deadline(5))
        await rec.wait_output(b"closed:", deadline(10))
        assert upstream.connections[0].request.path == f"/v1/realtime/{encoded}/x?model=m"
    finally:
        code = await rec.stop()
    assert code == 0

    def leaked(data: bytes) -> bool:
        return key[6:-4].encode() in data

    written = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(
        "secrets.db"))
    assert not leaked(written) and not leaked(bytes(rec.stdout) + bytes(rec.stderr))
    assert b"/v1/realtime/REDACTED-" in bytes(rec.stdout)
    runner = CliRunner()
    for args in (["sessions", "--json"], ["show", "@encoded"], ["show", "@encoded", "--jsonl"]):
        result = runner.invoke(cli, ["--db", url, *args])
        assert result.exit_code == 0, result.output
        assert not leaked(result.output.encode()), args
