"""Acceptance with the Node ``openai`` SDK (6.49.0, ``OpenAIRealtimeWS``), beta and GA.

The SDK finds the Node packages through ``RTCAPTURE_NODE_DIR`` or installs them once into a
cache (``tests/node.py``); without node/npm the tests skip (and fail under ``CI``). Plain
``ws://`` is reached with the ``createConnection`` override (the SDK forces ``wss``); one test
uses the mock's TLS listener with a throwaway certificate instead.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path
from typing import Any

import pytest

from rtcapture.mock import parse_scenario, serve_mock
from rtcapture.protocol import G711_ALAW, G711_ULAW, PCM16, AudioFormat
from tests.conftest import deadline
from tests.node import node_dir, self_signed_cert

from .helpers import GA_TOOLS, appends, spoken

SCRIPT = Path(__file__).parent / "js" / "mock_plan.mjs"


@pytest.fixture(scope="session")
def node_folder() -> Path:
    folder = node_dir()
    (folder / "rtcapture_mock_plan.mjs").write_bytes(SCRIPT.read_bytes())
    return folder


def session(beta: bool, *, text: bool = False, vad: bool = False, tools: bool = False,
            fmt: AudioFormat = PCM16) -> dict[str, Any]:
    td = {"type": "server_vad"} if vad else None
    if beta:
        body: dict[str, Any] = {"modalities": ["text"] if text else ["audio", "text"],
                                "turn_detection": td, "input_audio_format": fmt.beta_name,
                                "output_audio_format": fmt.beta_name}
    else:
        body = {"type": "realtime", "output_modalities": ["text"] if text else ["audio"],
                "audio": {"input": {"format": fmt.ga_object(), "turn_detection": td},
                          "output": {"format": fmt.ga_object()}}}
    if tools:
        body["tools"] = GA_TOOLS
    return {"type": "session.update", "session": body}


def user(text: str) -> dict[str, Any]:
    return {"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}


def plan(flow: str, beta: bool) -> list[dict[str, Any]]:
    """The steps of one flow for the JS runner."""
    item_done = "conversation.item.created" if beta else "conversation.item.done"
    audio_delta = "response.audio.delta" if beta else "response.output_audio.delta"
    if flow == "text":
        return [{"send": session(beta, text=True)}, {"until": "session.updated"},
                {"send": user("Hello from node")}, {"send": {"type": "response.create"}},
                {"until": "response.done"}]
    if flow == "vad":
        return [{"send": session(beta, vad=True)}, {"until": "session.updated"},
                {"send_many": appends(spoken("Hello from node."))}, {"until": "response.done"}]
    if flow == "manual":
        return [{"send": session(beta, text=True)}, {"until": "session.updated"},
                {"send_many": appends(spoken("Manual."))},
                {"send": {"type": "input_audio_buffer.commit"}}, {"until": item_done},
                {"send": {"type": "response.create"}}, {"until": "response.done"}]
    if flow == "function":
        return [{"send": session(beta, text=True, tools=True)}, {"until": "session.updated"},
                {"send": user("Weather in Rome?")}, {"send": {"type": "response.create"}},
                {"until": "response.function_call_arguments.done",
                 "capture": {"call": "call_id"}},
                {"until": "response.done"},
                {"send": {"type": "conversation.item.create", "item": {
                    "type": "function_call_output", "call_id": "$call", "output": "18 C"}}},
                {"send": {"type": "response.create"}}, {"until": "response.done"}]
    if flow == "bargein":
        return [{"send": session(beta, vad=True)}, {"until": "session.updated"},
                {"send": user("Talk.")}, {"send": {"type": "response.create"}},
                {"until": audio_delta, "capture": {"assistant": "item_id"}},
                {"send_many": appends(spoken("Wait!", tail_ms=400))},
                {"until": "response.done"},
                {"send": {"type": "conversation.item.truncate", "item_id": "$assistant",
                          "content_index": 0, "audio_end_ms": 50}},
                {"until": "conversation.item.truncated"},
                {"send": {"type": "response.cancel"}}, {"until": "response.done"}]
    if flow == "cancel":
        return [{"send": user("Go.")}, {"send": {"type": "response.create"}},
                {"until": "response.created"}, {"send": {"type": "response.cancel"}},
                {"until": "response.done"}]
    fmt = G711_ULAW if flow == "ulaw" else G711_ALAW
    return [{"send": session(beta, vad=True, fmt=fmt)}, {"until": "session.updated"},
            {"send_many": appends(spoken("Phone call.", fmt), fmt, chunk_ms=20)},
            {"until": "response.done"}]


SLOW = parse_scenario({"defaults": {"latency_ms": 0},
                       "rules": [{"reply": "A long and winding answer, " * 8}]})


async def run_node(folder: Path, tmp_path: Path, port: int, beta: bool, steps: list[Any],
                   transport: str = "plain") -> list[dict[str, Any]]:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(steps))
    proc = await asyncio.create_subprocess_exec(
        "node", "rtcapture_mock_plan.mjs", str(port), "beta" if beta else "ga", transport,
        str(plan_file), cwd=folder, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), deadline(45))
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert proc.returncode == 0, (out + err).decode()[-2000:]
    assert not any("fatal" in line for line in lines), lines[-3:]
    return lines


FLOWS = ["text", "vad", "manual", "function", "bargein", "cancel", "ulaw", "alaw"]


@pytest.mark.parametrize("beta", [True, False], ids=["beta", "ga"])
@pytest.mark.parametrize("flow", FLOWS)
async def test_node_sdk_flow(node_folder, tmp_path, flow: str, beta: bool) -> None:
    """The Node SDK completes the flow; it emitted every frame the mock sent, none an error."""
    paced = flow in ("bargein", "cancel")
    async with serve_mock(fast=not paced, scenario=SLOW if paced else None) as mock:
        mock.keep_connections = True
        events = await run_node(node_folder, tmp_path, mock.port, beta, plan(flow, beta))
        sent = mock.connections[0].sent
    assert [e["type"] for e in events] == [json.loads(f)["type"] for f in sent]
    assert "error" not in [e["type"] for e in events]
    done = [e for e in events if e["type"] == "response.done"]
    assert done, events[-3:]
    if flow in ("bargein", "cancel"):
        assert done[0]["response"]["status"] == "cancelled"
        reason = "turn_detected" if flow == "bargein" else "client_cancelled"
        assert done[0]["response"]["status_details"]["reason"] == reason
    else:
        assert all(d["response"]["status"] == "completed" for d in done)
    if flow == "function":
        args = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        assert json.loads(args["arguments"]) == {"city": "Rome"}


async def test_node_sdk_over_the_tls_listener(node_folder, tmp_path) -> None:
    """Without the override the Node SDK uses wss://; the mock's TLS listener serves it."""
    cert, key = self_signed_cert(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    async with serve_mock(fast=True, ssl=tls) as mock:
        assert mock.url.startswith("wss://")
        events = await run_node(node_folder, tmp_path, mock.port, False, plan("text", False),
                                transport="tls")
    assert events[-1]["type"] == "response.done"
    assert events[-1]["response"]["status"] == "completed"
