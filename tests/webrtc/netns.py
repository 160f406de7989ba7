"""Run a WebRTC scenario inside a network namespace that has only loopback.

Every WebRTC test does its networking in a child process started under ``unshare -n``
(loopback brought up, nothing else exists), so no packet can reach any address outside
127.0.0.0/8, this machine's own interface addresses included. The child runs one
scenario of ``tests.webrtc.scenarios`` and prints its result as JSON on its last line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NETNS_ENV = "RTCAPTURE_IN_NETNS"
_ENTER = 'ip link set lo up && exec "$0" "$@"'


@cache
def netns_problem() -> str | None:
    """Why a loopback-only namespace cannot be made here (None when it can)."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip (util-linux, iproute2) not installed"
    try:
        probe = subprocess.run(["unshare", "-n", "sh", "-c", _ENTER, "true"],
                               capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare -n failed: {exc}"
    if probe.returncode != 0:
        return ("unshare -n is not permitted here (needs root or user namespaces): "
                + probe.stderr.decode(errors="replace").strip()[:200])
    try:
        import aiortc  # noqa: F401
    except ImportError:
        return "aiortc is not installed (pip install 'rtcapture[webrtc]')"
    return None


def require_netns() -> None:
    """Skip (fail under ``RTCAPTURE_REQUIRE_EXTERNAL=1``) without a loopback-only namespace."""
    problem = netns_problem()
    if problem is None:
        return
    if os.environ.get("RTCAPTURE_REQUIRE_EXTERNAL") == "1":
        pytest.fail(f"WebRTC tests need a loopback-only network namespace: {problem}")
    pytest.skip(problem)


def run_scenario(name: str, timeout: float = 120.0, **args: Any) -> dict[str, Any]:
    """Run ``tests.webrtc.scenarios.<name>(**args)`` in a fresh loopback-only namespace."""
    require_netns()
    env = dict(os.environ, **{NETNS_ENV: "1"})
    env.setdefault("RTCAPTURE_TEST_TIMEOUT_UNIT", "1")
    cmd = ["unshare", "-n", "sh", "-c", _ENTER, sys.executable, "-m",
           "tests.webrtc.scenarios", name, json.dumps(args)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=timeout)
    out = proc.stdout.decode(errors="replace")
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, f"scenario {name} failed ({proc.returncode}):\n{err[-6000:]}"
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["_stderr"] = err
    return result
