"""Cassettes under pytest-xdist: each worker records and replays its own tests."""

from __future__ import annotations

import pytest

from .samples import OPENAI_SDK


def test_record_and_replay_under_two_workers(project: pytest.Pytester, mock_process) -> None:
    """``-n 2`` records both cassettes, then replays them with the mock stopped."""
    project.makepyfile(test_agent=OPENAI_SDK)
    first = project.runpytest_subprocess("-n", "2", "--realtime-upstream", mock_process.url)
    first.assert_outcomes(passed=2)
    first.stdout.fnmatch_lines(["*2 workers*"])
    folder = project.path / "cassettes" / "test_agent"
    assert sorted(p.name for p in folder.iterdir()) == ["beta-sync.jsonl", "turns.jsonl"]
    mock_process.stop()
    again = project.runpytest_subprocess("-n", "2", "--realtime-record-mode", "none")
    again.assert_outcomes(passed=2)
