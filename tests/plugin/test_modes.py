"""Record modes (vcrpy's), stable cassettes, extra connections, raw websockets clients,
the mock fixture, and a plugin that costs nothing when unused."""

from __future__ import annotations

import json
import re
import socket
from typing import Any

import pytest

from .samples import OPENAI_SDK

TIMING_FIELDS = frozenset({"t_ns", "time", "wall_ns"})
TIMING_SESSION_FIELDS = frozenset({"started", "ended", "id"})
"""``id``: its first 10 characters are ``started``, the rest a digest of the frames."""

RAW_CLIENT = '''
import json
import pytest
from websockets.sync.client import connect

CONNECTIONS = {connections}


@pytest.mark.realtime_cassette("raw.jsonl", record_mode="{mode}")
def test_raw_client(realtime):
    for n in range(CONNECTIONS):
        with connect(realtime.ws_url("gpt-realtime")) as ws:
            ws.send(json.dumps({{"type": "session.update", "session": {{
                "type": "realtime", "instructions": f"connection {{n}}"}}}}))
            while json.loads(ws.recv())["type"] != "session.updated":
                pass
    assert len(realtime.sessions) == CONNECTIONS
'''


def _untimed(text: str) -> list[Any]:
    """A cassette's records without their timing fields."""
    out: list[Any] = []
    for line in text.splitlines():
        obj = json.loads(line)
        if "rtcapture_cassette" in obj:
            session = {k: v for k, v in obj["session"].items() if k not in TIMING_SESSION_FIELDS}
            out.append({**obj, "session": session, "id_digest": obj["session"]["id"][10:]})
        else:
            out.append({k: v for k, v in obj.items() if k not in TIMING_FIELDS})
    return out


def test_none_without_a_cassette_fails_with_one_line(project: pytest.Pytester) -> None:
    """Record mode none and no cassette: the test fails with a one-line reason."""
    project.makepyfile(test_agent=OPENAI_SDK)
    result = project.runpytest_subprocess("--realtime-record-mode", "none", "-k", "audio")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "realtime cassette */cassettes/test_agent/turns.jsonl: does not exist and the record mode is 'none' (record it with --realtime-record-mode "
        "once)"])
    assert not (project.path / "cassettes").exists()


def test_an_unreachable_upstream_fails_the_test_and_writes_nothing(
        project: pytest.Pytester) -> None:
    """The recorder's refusal (HTTP 502) is the test's failure reason; no cassette."""
    with socket.socket() as sock:  # a loopback port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    project.makepyfile(test_agent=OPENAI_SDK)
    result = project.runpytest_subprocess("--realtime-upstream", f"ws://127.0.0.1:{port}",
                                          "-k", "audio")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["realtime cassette */turns.jsonl: recording failed, nothing "
                                 "written for it: upstream unreachable*"])
    assert not (project.path / "cassettes").exists()


def test_all_records_again_and_recordings_differ_only_in_timing(
        project: pytest.Pytester, mock_process) -> None:
    """Mode all rewrites existing cassettes; two recordings of the same deterministic
    session (a fresh mock on the same port each time) differ only in timing fields."""
    project.makepyfile(test_agent=OPENAI_SDK)
    args = ("--realtime-record-mode", "all", "--realtime-upstream", mock_process.url)
    project.runpytest_subprocess(*args).assert_outcomes(passed=2)
    folder = project.path / "cassettes" / "test_agent"
    first = {p.name: p.read_text() for p in folder.iterdir()}
    mock_process.restart()
    project.runpytest_subprocess(*args).assert_outcomes(passed=2)
    second = {p.name: p.read_text() for p in folder.iterdir()}
    assert sorted(first) == sorted(second) == ["beta-sync.jsonl", "turns.jsonl"]
    for name in first:
        assert first[name] != second[name]  # re-recorded: new times
        assert _untimed(first[name]) == _untimed(second[name])


def test_new_episodes_records_only_connections_past_the_cassette(
        project: pytest.Pytester, mock_process) -> None:
    """A raw websockets client: once records one connection; a second connection fails in
    once mode and is recorded (into raw.2.jsonl) in new_episodes mode."""
    upstream = ("--realtime-upstream", mock_process.url)
    project.makepyfile(test_raw=RAW_CLIENT.format(connections=1, mode="once"))
    project.runpytest_subprocess(*upstream).assert_outcomes(passed=1)
    folder = project.path / "cassettes" / "test_raw"
    first = (folder / "raw.jsonl").read_bytes()

    project.makepyfile(test_raw=RAW_CLIENT.format(connections=2, mode="once"))
    refused = project.runpytest_subprocess(*upstream)
    refused.assert_outcomes(failed=1)
    refused.stdout.fnmatch_lines(["*connection #1 of the test is not in the cassette*"])
    assert not (folder / "raw.2.jsonl").exists()

    project.makepyfile(test_raw=RAW_CLIENT.format(connections=2, mode="new_episodes"))
    project.runpytest_subprocess(*upstream).assert_outcomes(passed=1)
    assert (folder / "raw.jsonl").read_bytes() == first
    assert b'connection 1' in (folder / "raw.2.jsonl").read_bytes()
    mock_process.stop()
    project.runpytest_subprocess("--realtime-record-mode", "none").assert_outcomes(passed=1)


PACED_CLIENT = """
import json
import time
from websockets.sync.client import connect


def test_paced(realtime):
    with connect(realtime.ws_url("gpt-realtime")) as ws:
        ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
        start = time.monotonic()
        while json.loads(ws.recv())["type"] != "session.updated":
            pass
        print(f"WAITED {time.monotonic() - start:.2f}")
"""


def _waited(result: pytest.RunResult) -> float:
    match = re.search(r"WAITED (\d+\.\d+)", result.stdout.str())
    assert match, result.stdout.str()
    return float(match.group(1))


def test_replay_keeps_the_recorded_pacing_unless_fast(project: pytest.Pytester,
                                                      mock_process) -> None:
    """A 3 s recorded gap before session.updated is replayed; --realtime-fast drops it."""
    project.makepyfile(test_paced=PACED_CLIENT)
    project.runpytest_subprocess("--realtime-upstream", mock_process.url).assert_outcomes(
        passed=1)
    cassette = project.path / "cassettes" / "test_paced" / "test_paced.jsonl"
    lines = cassette.read_text().splitlines()
    client_seen = False
    for i, line in enumerate(lines[1:], start=1):
        record = json.loads(line)
        client_seen = client_seen or record["direction"] == "client"
        if client_seen and record["direction"] == "server":
            record["t_ns"] += 3_000_000_000  # the server "thinks" 3 s longer
            lines[i] = json.dumps(record)
    cassette.write_text("\n".join(lines) + "\n")
    mock_process.stop()
    paced = project.runpytest_subprocess("--realtime-record-mode", "none", "-s")
    paced.assert_outcomes(passed=1)
    assert _waited(paced) >= 3.0
    fast = project.runpytest_subprocess("--realtime-record-mode", "none", "--realtime-fast",
                                        "-s")
    fast.assert_outcomes(passed=1)
    assert _waited(fast) < 3.0


def test_realtime_mock_fixture_serves_the_scripted_mock(project: pytest.Pytester) -> None:
    """realtime_mock() gives a base URL the openai SDK completes a text turn against."""
    project.makepyfile(test_mocked='''
from openai import OpenAI


def test_mocked_turn(realtime_mock):
    mock = realtime_mock()
    client = OpenAI(api_key="sk-unused", websocket_base_url=mock.url)
    with client.realtime.connect(model="gpt-realtime") as conn:
        conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        conn.conversation.item.create(item={"type": "message", "role": "user",
                                            "content": [{"type": "input_text", "text": "Hi"}]})
        conn.response.create()
        for event in conn:
            if event.type == "response.done":
                assert event.response.status == "completed"
                break
''')
    project.runpytest_subprocess().assert_outcomes(passed=1)


def test_unused_plugin_imports_nothing_and_changes_nothing(project: pytest.Pytester) -> None:
    """A run that uses neither fixture nor marker loads only the small entry module."""
    project.makepyfile(test_plain='''
import sys


def test_plain(request):
    assert request.config.pluginmanager.has_plugin("rtcapture")
    loaded = [m for m in sys.modules if m.startswith(("rtcapture.pytest_plugin.",
                                                      "rtcapture.proxy", "websockets"))]
    assert loaded == ["rtcapture.pytest_plugin.plugin"]
''')
    result = project.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert not (project.path / "cassettes").exists()


def test_bad_marker_arguments_are_one_line_errors(project: pytest.Pytester) -> None:
    """A misspelt keyword, an unknown mode and a bad ignore pattern each stop the test."""
    project.makepyfile(test_bad='''
import pytest


@pytest.mark.realtime_cassette(recordmode="all")
def test_typo(realtime):
    pass


@pytest.mark.realtime_cassette(record_mode="sometimes")
def test_mode(realtime):
    pass


@pytest.mark.realtime_cassette(ignore="session[")
def test_ignore(realtime):
    pass
''')
    result = project.runpytest_subprocess()
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines([
        "realtime: realtime_cassette takes one path and the keywords *; got "
        "recordmode",
        "realtime: realtime_cassette: record_mode 'sometimes' is not one of none, "
        "once, new_episodes, all",
        "realtime: realtime_cassette: ignore 'session[': bad index at column 8*"])
    assert "Traceback" not in result.stdout.str()
