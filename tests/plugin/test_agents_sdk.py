"""The Agents SDK's RealtimeRunner under the plugin: record, replay offline, fail on a diff."""

from __future__ import annotations

import pytest

from .samples import AGENTS_SDK


def test_agents_runner_records_replays_and_fails_on_a_changed_instruction(
        project: pytest.Pytester, mock_process) -> None:
    """The default cassette path is used; the Agents SDK's concurrent session.update and
    response.create replay in either order; new instructions fail with a diff."""
    project.makepyfile(test_agents=AGENTS_SDK)
    first = project.runpytest_subprocess("--realtime-upstream", mock_process.url)
    first.assert_outcomes(passed=1)
    cassette = project.path / "cassettes" / "test_agents" / "test_agent_turn.jsonl"
    recorded = cassette.read_bytes()
    assert b'"Agents/Python' in recorded

    mock_process.stop()
    project.runpytest_subprocess("--realtime-record-mode", "none").assert_outcomes(passed=1)
    assert cassette.read_bytes() == recorded

    project.makepyfile(test_agents=AGENTS_SDK.replace('"Be brief."', '"Be chatty."'))
    failed = project.runpytest_subprocess("--realtime-record-mode", "none")
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines([
        "*test_agent_turn.jsonl: client event #0 (session.update) does not match the cassette:",
        '*  session.instructions: expected "Be brief.", got "Be chatty."'])
