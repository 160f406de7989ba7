"""Acceptance: the npm ``openai`` package's ``LiveWS`` (7.59.0) completes a Live session
through ``rtcapture record`` (the CLI) in front of the mock, unchanged; every frame is
stored byte-exact both ways; the dialect reads ``live``."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest

from rtcapture.mock import parse_scenario, serve_mock
from tests.conftest import deadline
from tests.node import CACHE, LIVE_NODE_PACKAGES, node_dir
from tests.proxy.procs import start_recorder

from .helpers import check_against_sdk, quiet, spoken, stored

SCRIPT = Path(__file__).parent / "js" / "live_session.mjs"


@pytest.fixture(scope="session")
def live_node_folder() -> Path:
    folder = node_dir(LIVE_NODE_PACKAGES, CACHE.parent / "node-live")
    (folder / "rtcapture_live_session.mjs").write_bytes(SCRIPT.read_bytes())
    return folder


async def test_node_livews_session_recorded_byte_exact(live_node_folder: Path,
                                                       sqlite_url: str,
                                                       tmp_path: Path) -> None:
    audio = spoken("Hello there") + quiet(3000)
    chunks = [base64.b64encode(audio[i:i + 4800]).decode() for i in range(0, len(audio), 4800)]
    plan = tmp_path / "chunks.json"
    plan.write_text(json.dumps(chunks))
    scenario = parse_scenario({"user_audio": [{"transcript": "Hello there."}]})
    async with serve_mock(fast=True, scenario=scenario) as mock:
        mock.keep_connections = True
        rec = await start_recorder(sqlite_url, mock.url)
        try:
            proc = await asyncio.create_subprocess_exec(
                "node", str(live_node_folder / "rtcapture_live_session.mjs"), f"{rec.url}/v1",
                str(plan), cwd=live_node_folder, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), deadline(60))
        finally:
            assert await rec.stop() == 0
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert proc.returncode == 0 and lines[-1] == {"done": True}, (lines[-3:], err[-500:])
    kinds = [line["type"] for line in lines[:-1]]
    assert kinds[0] == "session.started" and kinds[-1] == "session.closed"
    assert "session.output_transcript.delta" in kinds and "error" not in kinds
    served = mock.connections[-1]
    session, events = stored(sqlite_url)
    assert [e.data for e in events if e.direction == "client"] == served.received  # type: ignore[attr-defined]
    assert [e.data for e in events if e.direction == "server"] == served.sent
    for data in served.sent:
        check_against_sdk(json.loads(data))
    assert len([e for e in events if e.type == "session.input_audio.append"]) == len(chunks)
    assert session.flavour == "live" and session.model == "gpt-live-1"
    assert session.close_code == 1000
