"""Recording a test's sessions through the real recorder, in-process, into a scratch
SQLite database; read back as (session, frames) once each session has been written."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import tempfile
from pathlib import Path
from typing import Any

from ..proxy.recorder import Recorder, parse_upstream
from ..proxy.relay import RelayConfig
from ..store import open_store
from ..store.records import EventRecord, SessionRecord

DEFAULT_UPSTREAM = "wss://api.openai.com"


class TestRecorder:
    """``rtcapture record`` for one test: listens on an ephemeral loopback port."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self._dir = Path(tempfile.mkdtemp(prefix="rtcapture-pytest-"))
        self.db_url = f"sqlite:///{self._dir / 'recording.db'}"
        self.recorder: Recorder | None = None
        self._mock: contextlib.AsyncExitStack | None = None
        self._closed = 0
        self._closed_changed: asyncio.Condition | None = None

    async def start(self) -> None:
        """Start the writer process and the listener (and the in-process mock for ``mock``)."""
        upstream = self.upstream
        self._closed_changed = asyncio.Condition()
        if upstream == "mock":
            from ..mock import serve_mock

            self._mock = contextlib.AsyncExitStack()
            mock = await self._mock.enter_async_context(serve_mock("127.0.0.1", 0, fast=True))
            upstream = mock.url
        uri = parse_upstream(upstream)
        config = RelayConfig(upstream=uri,
                             upstream_ssl=ssl.create_default_context() if uri.secure else None)
        self.recorder = Recorder("127.0.0.1", 0, upstream, self.db_url, config,
                                 echo=lambda line: None)
        await self.recorder.start()
        forward = self.recorder.sink.on_report

        def on_report(report: dict[str, Any]) -> None:
            forward(report)
            if report.get("event") == "session_closed":
                asyncio.get_running_loop().create_task(self._count_closed())

        self.recorder.sink.on_report = on_report

    async def _count_closed(self) -> None:
        assert self._closed_changed is not None
        async with self._closed_changed:
            self._closed += 1
            self._closed_changed.notify_all()

    @property
    def port(self) -> int:
        assert self.recorder is not None
        return self.recorder.port

    async def settle(self, timeout: float) -> None:
        """Wait until every session opened so far has ended and been written."""
        assert self.recorder is not None and self._closed_changed is not None
        recorder = self.recorder
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(r.ended.wait() for r in list(recorder.relays)))
                async with self._closed_changed:
                    await self._closed_changed.wait_for(
                        lambda: self._closed >= recorder.stats.sessions)

    async def stop(self) -> None:
        """Close open sessions and flush the writer."""
        if self.recorder is not None:
            await self.recorder.stop()
        if self._mock is not None:
            await self._mock.aclose()

    def sessions(self) -> list[tuple[SessionRecord, list[EventRecord]]]:
        """Every recorded session (oldest first) with its frames."""
        with open_store(self.db_url, check_orphans=False) as store:
            return [(rec, list(store.events(rec.id))) for rec in reversed(store.sessions())]

    def cleanup(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)
