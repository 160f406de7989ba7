"""What a new user starts from: a clean copy of the project and a shell without any
virtualenv on PATH (helpers for the slow end-to-end tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def clean_copy(dest: Path) -> Path:
    """The project's files as a clone has them (tracked and new, not ignored: no .venv, no
    build output), copied to ``dest``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def user_env(home: Path | None = None) -> dict[str, str]:
    """A new user's environment: the system PATH only (no virtualenv active), no
    rtcapture variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RTCAPTURE_", "VIRTUAL_ENV", "PYTHON", "PYTEST"))}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run_shell(script: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """``script`` run by bash in ``cwd`` as the new user, stdout and stderr together."""
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=user_env(), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
