"""Builders for frames and recorded sessions used across the tests."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable
from typing import Any

from rtcapture.export.payload import is_utf8
from rtcapture.ids import new_id
from rtcapture.protocol import Flavour
from rtcapture.proxy.ingest import SessionTally
from rtcapture.store import SessionRecord, Status, Store, utcnow

Frame = tuple[str, "dict[str, Any] | bytes", float]
"""(direction, event dict or raw bytes, t in ms since the session start)."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def frame_bytes(event: dict[str, Any] | bytes) -> bytes:
    """The Python SDK's serialisation (default json.dumps separators)."""
    return event if isinstance(event, bytes) else json.dumps(event).encode("utf-8")


def make_session(store: Store, frames: Iterable[Frame], *, label: str | None = None,
                 flavour: Flavour | None = None, status: str = Status.CLOSED,
                 model: str = "gpt-realtime", session_id: str | None = None) -> str:
    """Store a finished session built from (direction, event, t_ms) frames; returns its id."""
    sid = session_id or new_id()
    started = utcnow()
    base_ns = time.time_ns()
    tally = SessionTally()
    if flavour is not None:
        tally.flavour.handshake = flavour
    events = []
    for seq, (direction, event, t_ms) in enumerate(frames):
        t_ns = int(t_ms * 1e6)
        events.append(tally.build(sid, seq, direction, t_ns, base_ns + t_ns, "text"
                                  if not isinstance(event, bytes) or is_utf8(event) else "binary",
                                  frame_bytes(event)))
    rec = SessionRecord(id=sid, started=started, status=status, model=model, label=label,
                        path=f"/v1/realtime?model={model}", upstream_url="ws://127.0.0.1:1")
    for key, value in tally.totals().items():
        setattr(rec, key, value)
    if events:
        from datetime import timedelta

        rec.ended = started + timedelta(microseconds=events[-1].t_ns / 1000)
    store.save_session(rec, events)
    return sid
