"""One pass over a session's events for the page: the event log, responses, conversation.

The events are read the way the Parquet export reads them (``Store.read_chunks``,
``export.tables.scan_session``: audio base64 replaced by its marker, keys redacted), so
the ``responses`` rows are the export's own and the log shows what the ``payload``
column holds. The log is written to a scratch file as it goes (an hour of events does not
sit in memory), as rows of a JSON array: ``[seq, side, t_ms, type, payload, size, flags,
parse_error]`` (``side`` 0 client / 1 server; ``type`` an index into :attr:`Scan.type_names`;
``flags`` 1 binary frame; ``parse_error`` 0/1), already escaped for a ``<script>`` element.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import pyarrow as pa

from ..export.payload import audio_cut
from ..export.tables import SessionScan, decode_object, scan_session
from ..protocol import Direction, redact_text
from ..store import SessionRecord, Store
from .conversation import CONVERSATION_TYPES, ConversationBuilder

LOG_FLAG_BINARY = 1
_SCRIPT_UNSAFE = re.compile(r"<(?=[!/sS])")
"""``<!--``, ``</`` and ``<script`` are what could end or derail a script element's data."""


@dataclass
class Scan:
    """What the pass found besides the log rows it wrote."""

    tables: SessionScan = field(default_factory=SessionScan)
    conversation: ConversationBuilder = field(default_factory=ConversationBuilder)
    types: Counter[str] = field(default_factory=Counter)
    """Events per type (``(binary)`` / ``(invalid)`` for frames without one)."""
    parse_errors: int = 0
    last_t_ms: float = 0.0
    type_index: dict[str | None, int] = field(default_factory=dict)

    @property
    def type_names(self) -> list[str | None]:
        """The event types the log rows refer to by index."""
        return list(self.type_index)

    def responses(self, session_id: str) -> list[dict[str, Any]]:
        """The Parquet ``responses`` rows of the session."""
        return self.tables.tracker.rows(session_id)


def scan_events(store: Store, rec: SessionRecord, log: IO[str]) -> Scan:
    """Read every event of ``rec`` once; write the log rows to ``log``, return the rest."""
    scan = Scan()
    chunks = store.read_chunks(rec.id, cut=audio_cut(), avg_frame_bytes=rec.avg_frame_bytes)
    chunk_iter = iter(chunks)
    current: list[Any] = []

    def tap() -> Any:  # keep each chunk beside its events batch
        for chunk in chunk_iter:
            current[:] = [chunk]
            yield chunk

    first = True
    for batch in scan_session(tap(), rec.id, keep_audio=False, redact=True, scan=scan.tables):
        chunk = current[0]
        first = _write_batch(scan, batch, chunk.opcode_binary, log, first)
    return scan


def _write_batch(scan: Scan, batch: pa.RecordBatch, binary: dict[int, bool], log: IO[str],
                 first: bool) -> bool:
    cols = batch.to_pydict()
    t_ms = np.round(batch.column("t_ms").to_numpy(zero_copy_only=False), 1).tolist()
    observe = scan.conversation.observe
    rows = []
    for i, (seq, direction, etype, payload, size, perr) in enumerate(zip(
            cols["seq"], cols["direction"], cols["type"], cols["payload"], cols["size_bytes"],
            cols["parse_error"], strict=True)):
        t = t_ms[i]
        flags = LOG_FLAG_BINARY if binary.get(i) else 0
        if perr:
            scan.parse_errors += 1
            scan.types["(binary)" if flags else "(invalid)"] += 1
        else:
            scan.types[etype or "(no type)"] += 1
        if etype in CONVERSATION_TYPES and not perr:
            event = decode_object(payload)
            if event is not None:
                observe(seq, direction, etype, t, event)
        side = 0 if direction == Direction.CLIENT else 1
        index = scan.type_index.setdefault(etype, len(scan.type_index))
        rows.append(json.dumps([seq, side, t, index, payload, size, flags, 1 if perr else 0],
                               ensure_ascii=False, separators=(",", ":")))
    if t_ms:
        scan.last_t_ms = max(scan.last_t_ms, t_ms[-1])
    if rows:
        log.write(("" if first else ",") + script_safe(",".join(rows)))
        return False
    return first


def script_safe(json_text: str) -> str:
    """JSON text that cannot end or confuse the ``<script>`` element holding it."""
    if "<" not in json_text:
        return json_text
    return _SCRIPT_UNSAFE.sub(r"\\u003c", json_text)


def redacted(value: Any) -> Any:
    """A JSON-able value with every ``sk-``/``ek_`` key masked."""
    return json.loads(redact_text(json.dumps(value, ensure_ascii=False, default=str)))
