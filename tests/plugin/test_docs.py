"""The plugin's documentation names only real options, and every option is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_OPTION = re.compile(r"--realtime-[a-z-]+")


def test_documented_options_are_the_plugins_options(pytester: pytest.Pytester) -> None:
    """``--realtime-*`` in README.md and docs/pytest.md == the options ``pytest --help`` lists."""
    listed = set(_OPTION.findall(pytester.runpytest_subprocess("--help").stdout.str()))
    assert listed == {"--realtime-record-mode", "--realtime-upstream", "--realtime-fast"}
    page = set(_OPTION.findall((ROOT / "docs" / "pytest.md").read_text()))
    readme = set(_OPTION.findall((ROOT / "README.md").read_text()))
    assert page == listed
    assert readme <= listed and readme
