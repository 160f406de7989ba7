"""A wheel and an sdist built with ``python -m build`` from a clean copy each install into a
fresh virtualenv (not editable) and run ``rtcapture demo --fast``."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import deadline
from tests.first_hour import clean_copy, user_env

pytestmark = pytest.mark.slow

NEEDED = ["rtcapture/migrations/versions/0001", "rtcapture/migrations/script.py.mako",
          "rtcapture/migrations/env.py", "rtcapture/demo/demo.toml", "rtcapture/py.typed"]
"""Files the installed package cannot work without (paths inside the wheel)."""


def _install_and_demo(artifact: Path, where: Path) -> str:
    """A fresh virtualenv with ``artifact`` installed; ``rtcapture demo --fast`` run in an
    empty folder. Returns the demo's output."""
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(artifact)],
                         env=user_env(), capture_output=True, text=True,
                         timeout=deadline(600))
    assert pip.returncode == 0, pip.stderr[-2000:]
    run = where / "run"
    run.mkdir()
    demo = subprocess.run([str(venv / "bin" / "rtcapture"), "demo", "--fast"], cwd=run,
                          env=user_env(), capture_output=True, text=True,
                          timeout=deadline(300))
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert (run / "rtcapture-demo" / "rtcapture.db").is_file()
    return demo.stdout


@pytest.mark.timeout(deadline(1800))
def test_wheel_and_sdist_install_and_run_the_demo(tmp_path: Path) -> None:
    """``python -m build`` gives a wheel and an sdist holding the migrations and the demo's
    scenario; each, installed into a fresh virtualenv, runs the demo."""
    clone = clean_copy(tmp_path / "clone")
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(clone)],
                           env=user_env(), capture_output=True, text=True,
                           timeout=deadline(900))
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    [wheel], [sdist] = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in NEEDED:
        assert any(n.startswith(needed) for n in names), needed
    with tarfile.open(sdist) as tar:
        members = [m.split("/", 1)[1] for m in tar.getnames() if "/" in m]
    for needed in ["migrations/versions/0001", "migrations/script.py.mako",
                   "rtcapture/demo/demo.toml", "samples/cassettes/", "docs/", "README.md",
                   "pyproject.toml", "MANIFEST.in"]:
        assert any(m.startswith(needed) for m in members), needed
    for artifact, name in ((wheel, "wheel"), (sdist, "sdist")):
        output = _install_and_demo(artifact, tmp_path / name)
        assert "replay against playback: every client frame re-sent, no differences" in output


def test_every_package_is_listed() -> None:
    """Each folder of rtcapture/ with an __init__.py is in pyproject's package list (a missing
    one installs fine editable and breaks the wheel: rtcapture.mock.live once did)."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())
                 ["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(root).parts)
             for p in (root / "rtcapture").rglob("__init__.py")}
    assert found - listed == set()
