"""The demo's Try next works as printed: an activation line when the demo's virtualenv is
not on PATH, nothing extra when it is."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import pytest

from rtcapture.demo.tour import _programs

pytestmark = pytest.mark.skipif(sys.prefix == sys.base_prefix,
                                reason="the tests run outside a virtualenv")


def test_active_virtualenv_needs_nothing_first(monkeypatch) -> None:
    """With the virtualenv's bin first on PATH, the commands are plain ``rtcapture``."""
    monkeypatch.setenv("PATH", str(Path(sysconfig.get_path("scripts"))))
    if Path(sys.executable).parent != Path(sysconfig.get_path("scripts")):
        pytest.skip("python is not in the virtualenv's bin")
    assert _programs() == ([], "rtcapture", "python")


def test_inactive_virtualenv_gets_its_activation_line(monkeypatch) -> None:
    """With no virtualenv on PATH (right after the README's first command), the first line
    activates the demo's own virtualenv."""
    monkeypatch.setenv("PATH", "/nonexistent")
    first, rt, python = _programs()
    assert first == [f"  . {Path(sys.prefix) / 'bin' / 'activate'}   # puts this rtcapture "
                     "and its python on PATH"]
    assert (rt, python) == ("rtcapture", "python")
