"""Fixtures for relay tests: a local upstream and an in-process recorder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from rtcapture.proxy.recorder import Recorder, parse_upstream
from rtcapture.proxy.relay import RelayConfig

from .peers import SESSION_CREATED, Upstream, realtime_reply


@asynccontextmanager
async def running_recorder(db_url: str, upstream_url: str, **config: Any
                           ) -> AsyncIterator[Recorder]:
    """A recorder on 127.0.0.1:0 in front of ``upstream_url``; stopped (flushed) on exit."""
    lines: list[str] = []
    label = config.pop("label", None)
    tls = config.pop("tls", None)
    extra = {k: config.pop(k) for k in ("sink_high_water", "spill", "spill_dir") if k in config}
    rec = Recorder("127.0.0.1", 0, upstream_url, db_url,
                   RelayConfig(upstream=parse_upstream(upstream_url), **config),
                   label=label, tls=tls, echo=lines.append, **extra)
    rec.lines = lines  # type: ignore[attr-defined]
    await rec.start()
    try:
        yield rec
    finally:
        await rec.stop()


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    """A Realtime-like local upstream that logs every frame."""
    up = await Upstream(reply=realtime_reply, greeting=SESSION_CREATED).start()
    yield up
    await up.stop()
