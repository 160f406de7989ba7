"""``rtcapture demo --api live``, and the demo conversation diffed across APIs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import deadline


def rtcapture(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcapture", "--db", db, *args],
                          capture_output=True, text=True, timeout=deadline(120))


def test_live_demo_and_realtime_vs_live_diff(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    live = rtcapture(db, "demo", "--api", "live", "--fast", "--out", str(tmp_path / "live"))
    assert live.returncode == 0, live.stderr
    assert "assistant 'Once upon a time" in live.stdout  # cut short by the user
    assert "against playback: no differences" in live.stdout
    for name in ("input.wav", "output.wav", "conversation.wav", "demo.jsonl",
                 "replay-diff.txt", "dataset/utterances", "dataset/delegations"):
        assert (tmp_path / "live" / name).exists(), name
    realtime = rtcapture(db, "demo", "--fast", "--client", "builtin", "--out",
                         str(tmp_path / "rt"))
    assert realtime.returncode == 0, realtime.stderr
    sessions = json.loads(rtcapture(db, "sessions", "--json").stdout)
    demo = {s["flavour"]: s["id"] for s in sessions if s["label"] == "demo"}
    assert set(demo) == {"ga", "live"}
    report = tmp_path / "cross.json"
    diff = rtcapture(db, "diff", demo["ga"], demo["live"], "--report", str(report))
    assert diff.returncode == 1, diff.stderr  # the typed turn and the story's cut differ
    assert "by turn (A: ga, B: live" in diff.stdout
    turns = json.loads(report.read_text())["turns"]
    paired = [(t["a"]["user_text"], t["a"]["assistant_text"] == t["b"]["assistant_text"])
              for t in turns if t["a"] and t["b"]]
    assert paired == [("What's the weather like in Paris today?", True),
                      ("Tell me a story.", False), ("Stop, that's enough.", True)]
    assert turns[0]["b"] is None  # Live has no typed turn
