"""The demo's recording, rendered once for the page tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.demo.helpers import run_cli

from .browser import browser  # noqa: F401 - a fixture


@dataclass(frozen=True)
class DemoRun:
    """The demo's output folder and its recording's database."""

    out: Path

    @property
    def db(self) -> str:
        return f"sqlite:///{self.out / 'rtcapture.db'}"

    def cli(self, *args: str) -> str:
        result = run_cli("--db", self.db, *args)
        assert result.exit_code == 0, result.output
        return result.stdout


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """``rtcapture demo`` (real time, as a newcomer runs it) in a fresh folder."""
    cwd = tmp_path_factory.mktemp("report-demo")
    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = run_cli("demo", "--out", "out")
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    yield DemoRun(cwd / "out")


@pytest.fixture(scope="session")
def demo_page(demo_run: DemoRun) -> Path:
    """The demo session's report, written by ``rtcapture report``."""
    path = demo_run.out / "report.html"
    demo_run.cli("report", "@demo", "--out", str(path))
    return path
