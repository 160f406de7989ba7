"""Fixtures for the plugin's tests: pytester, and ``rtcapture mock`` as a real process."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import deadline

_LISTENING = re.compile(r"mock listening on (ws://127\.0\.0\.1:(\d+))")


class MockProcess:
    """``rtcapture mock --fast`` on 127.0.0.1 (port 0 first; ``restart`` keeps the port)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.port = 0

    def start(self, port: int = 0) -> str:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rtcapture", "mock", "--listen", f"127.0.0.1:{port}",
             "--fast"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        lines: queue.Queue[str] = queue.Queue()
        out = self.proc.stdout
        assert out is not None
        threading.Thread(target=lambda: [lines.put(ln) for ln in out], daemon=True).start()
        seen = []
        while True:
            try:
                line = lines.get(timeout=deadline(20))
            except queue.Empty:
                raise AssertionError(f"rtcapture mock did not start: {seen}") from None
            seen.append(line)
            if match := _LISTENING.search(line):
                self.url, self.port = match.group(1), int(match.group(2))
                return self.url

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=deadline(20))
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def restart(self) -> str:
        """A fresh mock process on the same port (a fresh, identical upstream)."""
        port = self.port
        self.stop()
        return self.start(port)


@pytest.fixture
def mock_process() -> Iterator[MockProcess]:
    mock = MockProcess()
    mock.start()
    try:
        yield mock
    finally:
        mock.stop()


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester folder set up like a user's project (pytest-asyncio in auto mode)."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n"
                     "asyncio_default_fixture_loop_scope = function\n")
    return pytester
