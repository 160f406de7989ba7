"""A sample project driving the openai SDK: record once against ``rtcapture mock``, replay
offline, and fail with a diff when the code under test changes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .samples import OPENAI_SDK

CANARY = "sk-canary-plugin-0123456789abcdefXYZW"


def test_record_once_then_replay_offline_then_fail_on_a_changed_instruction(
        project: pytest.Pytester, mock_process, monkeypatch: pytest.MonkeyPatch) -> None:
    """First run records both cassettes, the second replays them with the mock stopped,
    the third (different instructions) fails naming session.update and the field."""
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    project.makepyfile(test_agent=OPENAI_SDK)
    args = ("--realtime-record-mode", "once", "--realtime-upstream", mock_process.url, "-s")
    first = project.runpytest_subprocess(*args)
    first.assert_outcomes(passed=2)
    first.stdout.fnmatch_lines(["*SESSION-MODE once recording=True replayed=False*"])
    folder = project.path / "cassettes" / "test_agent"
    cassettes = sorted(p.name for p in folder.iterdir())
    assert cassettes == ["beta-sync.jsonl", "turns.jsonl"]
    recorded = {name: (folder / name).read_bytes() for name in cassettes}

    mock_process.stop()
    second = project.runpytest_subprocess(*args)
    second.assert_outcomes(passed=2)
    second.stdout.fnmatch_lines(["*SESSION-MODE once recording=False replayed=True*"])
    assert {name: (folder / name).read_bytes() for name in cassettes} == recorded

    project.makepyfile(test_agent=OPENAI_SDK.replace('"Be brief."', '"Be verbose."'))
    third = project.runpytest_subprocess(*args)
    third.assert_outcomes(failed=2)
    third.stdout.fnmatch_lines([
        "*turns.jsonl: client event #0 (session.update) does not match the cassette:",
        '*  session.instructions: expected "Be brief.", got "Be verbose."',
    ])


def test_cassettes_hold_no_key(project: pytest.Pytester, mock_process,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The key the client sent (OPENAI_API_KEY) is nowhere in the cassette files."""
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    project.makepyfile(test_agent=OPENAI_SDK)
    project.runpytest_subprocess("--realtime-upstream", mock_process.url).assert_outcomes(
        passed=2)
    files = list((project.path / "cassettes").rglob("*.jsonl"))
    assert len(files) == 2
    for path in files:
        data = path.read_bytes()
        assert CANARY.encode() not in data
        assert CANARY[3:-4].encode() not in data
        assert b"Authorization" in data  # the header is kept, its value redacted
    db = f"sqlite:///{project.path / 'check.db'}"
    # rtcapture itself reads them (in a subprocess: pytester restores sys.modules after
    # the test, and modules imported here would be imported twice)
    rtcapture = [sys.executable, "-m", "rtcapture", "--db", db]
    subprocess.run([*rtcapture, "import", *map(str, files)], check=True, capture_output=True)
    listed = subprocess.run([*rtcapture, "sessions", "--json"], check=True,
                            capture_output=True, text=True)
    assert sorted(s["flavour"] for s in json.loads(listed.stdout)) == ["beta", "ga"]


def test_unsent_recorded_events_fail_the_test(project: pytest.Pytester, mock_process) -> None:
    """Replaying with the audio turn left out fails, naming the first event never sent."""
    project.makepyfile(test_agent=OPENAI_SDK)
    project.runpytest_subprocess("--realtime-upstream", mock_process.url,
                                 "-k", "audio").assert_outcomes(passed=1)
    project.makepyfile(test_agent=OPENAI_SDK.replace("AUDIO_TURN = True", "AUDIO_TURN = False"))
    result = project.runpytest_subprocess("--realtime-record-mode", "none", "-k", "audio")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*turns.jsonl: 3 recorded client events were never sent (3 of 6 sent); next expected:"
        ' client event #3 {"type": "input_audio_buffer.append"*'])
