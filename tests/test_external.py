"""Tests that need an external part skip with the reason, or fail when .ci/run requires
external parts (RTCAPTURE_REQUIRE_EXTERNAL=1)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.first_hour import ROOT

BODY = textwrap.dedent('''
    from tests.conftest import external_missing

    def test_needs_something():
        external_missing("the thing is not reachable")
''')


@pytest.mark.parametrize("require,outcome", [("", "skipped"), ("1", "failed")])
def test_missing_external_part(tmp_path, require: str, outcome: str) -> None:
    """Skipped with the reason by default; a failure with RTCAPTURE_REQUIRE_EXTERNAL=1."""
    (tmp_path / "test_ext.py").write_text(BODY)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "RTCAPTURE_REQUIRE_EXTERNAL": require}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider",
                             "--rootdir", str(tmp_path), "-c", "/dev/null", str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert f"1 {outcome}" in result.stdout, result.stdout
    assert "the thing is not reachable" in result.stdout
