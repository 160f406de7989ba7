"""``realtime_mock``: the scripted mock server for tests that need no recording."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from ..mock import MockServer, Scenario, load_scenario, serve_mock
from .loop import LoopThread


@dataclass
class RunningMock:
    """A mock serving one scenario; ``url`` is the client's base URL (``.../v1``)."""

    url: str
    server: MockServer


class MockPool:
    """Mocks started by one test, each on its own ephemeral loopback port."""

    def __init__(self) -> None:
        self._loop: LoopThread | None = None
        self._stack = contextlib.AsyncExitStack()

    def start(self, scenario: Scenario | str | Path | None = None, *, seed: int = 0,
              fast: bool = True) -> RunningMock:
        """Serve ``scenario`` (a Scenario or a scenario file; default: the built-in one)."""
        if isinstance(scenario, str | Path):
            scenario = load_scenario(scenario)
        if self._loop is None:
            self._loop = LoopThread("rtcapture-pytest-mock")

        async def _start() -> MockServer:
            return await self._stack.enter_async_context(
                serve_mock("127.0.0.1", 0, scenario=scenario, seed=seed, fast=fast))

        server = self._loop.call(_start(), timeout=30)
        return RunningMock(f"{server.url}/v1", server)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.call(self._stack.aclose(), timeout=30)
            self._loop.close()
            self._loop = None
