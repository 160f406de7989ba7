"""Headless Chromium (Debian's package) through Playwright, and pages opened with a watch on
console errors and network requests."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import deadline

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--autoplay-policy=no-user-gesture-required",
                 "--mute-audio"]


def artifacts_dir() -> Path:
    """Where screenshots go: $RTCAPTURE_ARTIFACTS, else a temporary folder."""
    path = Path(os.environ.get("RTCAPTURE_ARTIFACTS") or
                Path(tempfile.gettempdir()) / "rtcapture-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium package is needed (.ci/run installs it)"
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class OpenedPage:
    """A page and what it did while loading."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def js(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def wait_for(self, expression: str, seconds: float = 10.0) -> Any:
        """Poll a JS expression until truthy (the page's CSP forbids Playwright's eval-based
        wait_for_function); fails at the deadline."""
        end = time.monotonic() + deadline(seconds)
        while True:
            value = self.page.evaluate(expression)
            if value:
                return value
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {expression}")
            self.page.wait_for_timeout(20)


def open_page(browser: Any, url: str, width: int = 1300, height: int = 1000) -> OpenedPage:
    """Open ``url`` and wait until the page says it is ready (its event log is built)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    opened = OpenedPage(page)
    page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: opened.errors.append(str(e)))
    page.on("request", lambda r: opened.requests.append(r.url))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", state="attached", timeout=20_000)
    return opened
