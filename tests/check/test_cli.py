"""``rtcapture check`` on the samples' cassettes and the demo; formats, rules file, replay."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from rtcapture.check import check_session, session_turns
from rtcapture.cli import cli
from rtcapture.store import open_store

ROOT = Path(__file__).resolve().parents[2]
BARGE_IN = ["barge-in-ga.jsonl", "barge-in-beta.jsonl"]


def _run(db: str, *args: str) -> object:
    return CliRunner().invoke(cli, ["--db", db, *args])


def _import(db: str, name: str) -> str:
    result = _run(db, "import", str(ROOT / "samples" / "cassettes" / name))
    assert result.exit_code == 0, result.output
    match = re.search(r"session (\w+),", result.output)
    assert match, result.output
    return match.group(1)


@pytest.mark.parametrize("name", BARGE_IN)
def test_sample_barge_in_is_found_and_handled(sqlite_url: str, name: str) -> None:
    """Both dialects: the interruption is seen, answered by a truncate, zero violations."""
    sid = _import(sqlite_url, name)
    with open_store(sqlite_url) as store:
        rec = store.session(sid)
        turns, obs, _ = session_turns(store, rec)
        result = check_session(store, rec)
    interrupted = [t for t in turns if t.interrupted]
    assert len(interrupted) == 1 and interrupted[0].yield_by == "truncate"
    assert obs.truncates and obs.truncates[0].item_id == interrupted[0].item_id
    assert result.violations == []
    assert _run(sqlite_url, "check", sid).exit_code == 0


def test_demo_session_has_no_violations(tmp_path: Path) -> None:
    """The demo's story is interrupted and truncated in time; nothing else is wrong."""
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--client", "builtin"])
    assert result.exit_code == 0, result.output
    db = f"sqlite:///{out / 'rtcapture.db'}"
    with open_store(db) as store:
        rec = store.session(store.resolve("@demo"))
        turns, _, _ = session_turns(store, rec)
        violations = check_session(store, rec).violations
    story = [t for t in turns if t.interrupted]
    assert len(story) == 1 and story[0].yield_by == "truncate" and story[0].yield_latency_ms < 500
    assert violations == [], violations
    assert _run(db, "check", "@demo").exit_code == 0


def test_json_format_rules_file_and_usage(sqlite_url: str, tmp_path: Path) -> None:
    """JSON lists the violations; a rules file allows an error code; bad input exits 2."""
    sid = _import(sqlite_url, "error-ga.jsonl")
    result = _run(sqlite_url, "check", sid, "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.output)
    rules = [v["rule"] for v in doc["sessions"][0]["violations"]]
    assert rules == ["errors.server-error"]
    code = doc["sessions"][0]["violations"][0]["observed"].split()[1].rstrip(":")
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(f'allow_error_codes = ["{code}"]\n[thresholds]\n'
                          'perceived_latency_ms = 100\n', encoding="utf-8")
    assert _run(sqlite_url, "check", sid, "--rules", str(rules_file)).exit_code == 0
    rules_file.write_text("[thresholds]\nno_such = 1\n", encoding="utf-8")
    bad = _run(sqlite_url, "check", sid, "--rules", str(rules_file))
    assert bad.exit_code == 2 and "no_such" in bad.output and "Traceback" not in bad.output
    assert _run(sqlite_url, "check", "nope").exit_code == 2
    assert _run(sqlite_url, "check", sid, "--all").exit_code == 2
    out = tmp_path / "report.txt"
    assert _run(sqlite_url, "check", "--all", "--out", str(out)).exit_code == 1
    assert "errors.server-error" in out.read_text(encoding="utf-8")


def test_replay_diff_check(sqlite_url: str) -> None:
    """replay --diff --check: the playback replay of a clean barge-in exits 0; of a session
    with an error event, the check's violation makes it exit 1."""
    clean = _import(sqlite_url, "barge-in-ga.jsonl")
    ok = _run(sqlite_url, "replay", clean, "--target", "playback", "--fast", "--diff", "--check")
    assert ok.exit_code == 0, ok.output
    faulty = _import(sqlite_url, "error-ga.jsonl")
    bad = _run(sqlite_url, "replay", faulty, "--target", "playback", "--fast", "--diff",
               "--check")
    assert bad.exit_code == 1 and "errors.server-error" in bad.output
    assert _run(sqlite_url, "replay", clean, "--target", "playback", "--rules",
                "x.toml").exit_code == 2
