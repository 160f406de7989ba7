"""Cassette files for tests: where they live, and writing them in a stable, redacted form.

The file is the ordinary JSONL cassette (``rtcapture import`` reads it). What would make
two recordings of one deterministic session differ beyond their timing is left out or
derived: the handshake's ``Host`` and ``Sec-WebSocket-Key`` are dropped, the client's port
and the recorder's id are not kept, and the session id is derived from the start time and
the frames. So a re-recorded cassette reviews in git as a diff of its timing fields.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from ..export.cassette import session_header
from ..ids import derived_id
from ..render import frame_json
from ..store.records import EventRecord, SessionRecord

SUFFIX = ".jsonl"
VOLATILE_HEADERS = frozenset({"host", "sec-websocket-key"})
"""Handshake headers that differ on every connection (port, nonce)."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-\[\]]+")


class SecretInCassette(Exception):
    """A cassette about to be written still holds the API key; nothing was written."""


def cassette_path(test_dir: Path, module: str, test_name: str, name: str | None) -> Path:
    """The cassette of a test: ``name`` as given (a path: relative to the test's folder),
    or ``cassettes/<module>/<name or test>.jsonl`` next to the test file."""
    if name and ("/" in name or os.sep in name):
        path = Path(name)
        path = path if path.is_absolute() else test_dir / path
    else:
        path = test_dir / "cassettes" / module / _UNSAFE.sub("_", name or test_name)
    return path if path.suffix == SUFFIX else path.with_name(path.name + SUFFIX)


def episode_path(path: Path, index: int) -> Path:
    """The file of the test's ``index``-th connection: the cassette itself for the first,
    ``<stem>.<n>.jsonl`` for the n-th after it."""
    return path if index == 0 else path.with_name(f"{path.stem}.{index + 1}{SUFFIX}")


def stable_session(rec: SessionRecord, events: Sequence[EventRecord]) -> SessionRecord:
    """The session as a cassette keeps it: per-connection noise removed, id derived."""
    out = dataclasses.replace(rec)
    out.headers = [(k, v) for k, v in rec.headers if k.lower() not in VOLATILE_HEADERS]
    if out.client_addr:
        out.client_addr = out.client_addr.rsplit(":", 1)[0]
    out.recorder_id = None
    digest = hashlib.sha256()
    for ev in events:
        digest.update(f"{ev.direction}:{ev.opcode}:{len(ev.data)}:".encode() + ev.data)
    out.id = derived_id(int(rec.started.timestamp() * 1000), digest.digest())
    return out


def cassette_lines(rec: SessionRecord, events: Sequence[EventRecord]) -> list[str]:
    """The cassette's lines (header first), frames redacted and renumbered from 0."""
    ordered = sorted(events, key=lambda e: e.seq)
    stable = stable_session(rec, ordered)
    lines = [json.dumps(session_header(stable, len(ordered)), ensure_ascii=False)]
    for seq, ev in enumerate(ordered):
        ev = dataclasses.replace(ev, seq=seq, session_id=stable.id)
        lines.append(json.dumps(frame_json(ev, redact=True), ensure_ascii=False))
    return lines


def write_episode(path: Path, rec: SessionRecord, events: Sequence[EventRecord],
                  secret: str | None = None) -> None:
    """Write one recorded session atomically; refuses to write ``secret`` anywhere."""
    text = "".join(line + "\n" for line in cassette_lines(rec, events))
    if secret and len(secret) >= 8 and secret in text:
        raise SecretInCassette(f"{path}: the cassette would hold the API key; not written")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8", newline="\n")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
