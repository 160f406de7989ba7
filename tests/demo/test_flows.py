"""The flows' clients against the real mock over a socket (built-in and SDK), the fallback
when the SDK is missing, and the demo folder's clean-up."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rtcapture.demo.client import BuiltinClient, SdkClient, open_client
from rtcapture.demo.files import clear_demo_files
from rtcapture.demo.flows import Script, configure, function_call_round_trip, text_turn
from rtcapture.mock import parse_scenario, serve_mock
from rtcapture.protocol import Flavour, names_for
from tests.conftest import deadline

WEATHER = parse_scenario({"rules": [
    {"match": "weather", "tool_call": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
    {"after_tool": "*", "reply": "Got {tool_output}"},
    {"reply": "You said: {user_text}"}]})
DIALECTS = pytest.mark.parametrize("flavour", [Flavour.GA, Flavour.BETA], ids=["ga", "beta"])


def _text(s: Script, response_id: str) -> str:
    delta = names_for(s.client.flavour).text_delta
    return "".join(e["delta"] for e in s.events
                   if e["type"] == delta and e.get("response_id") == response_id)


async def _text_and_tool(kind: str, flavour: Flavour) -> tuple[object, str, str]:
    async with serve_mock(scenario=WEATHER, fast=True) as mock:
        client = await open_client(kind, mock.url, flavour, realtime=False,
                                   timeout_s=deadline(10))
        try:
            s = Script(client)
            await configure(s, audio=False, vad=False, tools=True)
            hello = await text_turn(s, "Hello there")
            call = await text_turn(s, "What's the weather?")
            answer = await function_call_round_trip(s, call, {"c": 3})
        finally:
            await client.close()
    return client, _text(s, hello.id), _text(s, answer.id)


@DIALECTS
async def test_builtin_client_drives_the_mock(flavour: Flavour) -> None:
    """The built-in client: a text turn and a tool round trip, in both dialects."""
    client, hello, answer = await _text_and_tool("builtin", flavour)
    assert isinstance(client, BuiltinClient) and client.flavour is flavour
    assert hello == "You said: Hello there"
    assert answer == 'Got {"c": 3}'


@DIALECTS
async def test_sdk_client_drives_the_mock(flavour: Flavour) -> None:
    """The openai SDK client runs the same flows to the same replies."""
    pytest.importorskip("openai")
    client, hello, answer = await _text_and_tool("sdk", flavour)
    assert isinstance(client, SdkClient)
    assert (hello, answer) == ("You said: Hello there", 'Got {"c": 3}')


async def test_auto_falls_back_to_builtin_without_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    """'auto' with the openai package unimportable connects with the built-in client."""
    monkeypatch.setitem(sys.modules, "openai", None)
    async with serve_mock(fast=True) as mock:
        client = await open_client("auto", mock.url, Flavour.GA, realtime=False)
        try:
            assert isinstance(client, BuiltinClient)
            assert (await client.recv())["type"] == "session.created"
        finally:
            await client.close()


def test_clear_removes_only_the_demos_files(tmp_path: Path) -> None:
    """Re-run clean-up: the demo's files and tables go, anything else stays."""
    own = ["input.wav", "output.wav", "conversation.wav", "demo.jsonl", "replay-report.json",
           "replay-diff.txt", "rtcapture.db", "rtcapture.db-wal"]
    for name in own:
        (tmp_path / name).write_text("old")
    for table in ("events", "sessions", "responses"):
        (tmp_path / "dataset" / table).mkdir(parents=True)
        (tmp_path / "dataset" / table / "part-00000.parquet").write_text("old")
    keep = [tmp_path / "notes.txt", tmp_path / "dataset" / "mine.csv",
            tmp_path / "other.wav"]
    for path in keep:
        path.write_text("mine")
    clear_demo_files(tmp_path, own_db=True)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] != []
    assert not any((tmp_path / name).exists() for name in own)
    assert not any((tmp_path / "dataset" / t).exists() for t in ("events", "sessions"))
    assert all(p.read_text() == "mine" for p in keep)


def test_clear_keeps_the_database_it_does_not_own(tmp_path: Path) -> None:
    """With --db elsewhere, an rtcapture.db in the folder is not the demo's to remove."""
    (tmp_path / "rtcapture.db").write_text("someone's")
    (tmp_path / "input.wav").write_text("old")
    clear_demo_files(tmp_path, own_db=False)
    assert (tmp_path / "rtcapture.db").read_text() == "someone's"
    assert not (tmp_path / "input.wav").exists()
