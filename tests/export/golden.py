"""A fixed session (ids, times, frames) whose cassette is kept in ``data/golden.jsonl``.

The file was written by the cassette writer before storage moved behind ``Store``; the
test writes the same session again and compares bytes, so the format cannot drift.
Regenerate (only for an intended, versioned format change) with
``python -m tests.export.golden DB_URL OUT``.
"""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rtcapture.proxy.ingest import SessionTally
from rtcapture.store import SessionRecord, Store, open_store

GOLDEN = Path(__file__).parent / "data" / "golden.jsonl"
SESSION_ID = "01JGXDENCASSETTE0000000000"
_STARTED = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
_PCM = base64.b64encode(b"\x01\x02" * 480).decode()


def _frames() -> list[tuple[str, str, bytes, bool]]:
    """(direction, opcode, bytes, delivered) of every frame, in seq order."""
    text = [
        ("server", {"type": "session.created", "event_id": "event_1", "session": {}}),
        ("client", {"type": "session.update", "session": {"instructions": "caf\u00e9 \u2028",
                                                          "key": "sk-abcdefghijklmnopqrstuv"}}),
        ("client", {"type": "input_audio_buffer.append", "audio": _PCM}),
        ("server", {"type": "response.output_audio.delta", "event_id": "event_2",
                    "response_id": "resp_1", "item_id": "item_1", "output_index": 0,
                    "content_index": 0, "delta": _PCM}),
        ("server", {"type": "response.function_call_arguments.done", "event_id": "event_3",
                    "call_id": "call_1", "arguments": "{}"}),
    ]
    out = [(d, "text", json.dumps(e).encode(), True) for d, e in text]
    out.insert(3, ("client", "binary", b"\xff\xfe\x00raw", True))
    out.insert(4, ("client", "text", b"not json", True))
    out.append(("server", "text", json.dumps({"type": "response.done", "event_id": "event_4",
                                               "response": {"id": "resp_1"}}).encode(), False))
    return out


def build(store: Store) -> str:
    """Store the golden session; returns its id."""
    tally = SessionTally()
    base_ns = int(_STARTED.timestamp()) * 10**9 + 891011000
    events = []
    for seq, (direction, opcode, data, delivered) in enumerate(_frames()):
        t_ns = seq * 12_345_678
        events.append(tally.build(SESSION_ID, seq, direction, t_ns, base_ns + t_ns, opcode,
                                  data, delivered=delivered))
    rec = SessionRecord(id=SESSION_ID, started=_STARTED, status="closed",
                        ended=_STARTED + timedelta(seconds=1, microseconds=250),
                        upstream_url="ws://127.0.0.1:1/v1", path="/v1/realtime?model=m",
                        model="gpt-realtime", client_addr="127.0.0.1:5000",
                        headers=[("Authorization", "Bearer sk-abcdefghijklmnopqrstuv"),
                                 ("User-Agent", "golden")],
                        subprotocols=["realtime"], subprotocol="realtime", close_code=1000,
                        close_reason="bye", closed_by="client", label="golden")
    for key, value in tally.totals().items():
        setattr(rec, key, value)
    store.save_session(rec, events)
    return SESSION_ID


if __name__ == "__main__":  # pragma: no cover - regenerating the golden file
    from rtcapture.export.cassette import write_cassette

    with open_store(sys.argv[1]) as st:
        write_cassette(st, st.session(build(st)), Path(sys.argv[2]))
