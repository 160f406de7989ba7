"""The three analysis tables: Arrow schemas, and filling them from a session's chunks.

Shared by the Parquet export and the notebook API, so both give the same columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..check.turns import TURN_COLUMNS, Turn, TurnAnalyzer
from ..protocol import (
    AUDIO_DELTA_TYPES,
    Direction,
    redact_headers,
    redact_subprotocols,
    redact_text,
    redact_url,
)
from ..protocol import ERROR as ERROR_EVENT
from ..store import SessionRecord
from ..store.chunks import RawChunk
from .live import LiveScan, scan_live_chunk
from .payload import build_payloads
from .responses import RELEVANT_TYPES, TEXT_DELTAS, TOKEN_COLUMNS, ResponseTracker
from .turns import feed_chunk

TIMESTAMP = pa.timestamp("us", tz="UTC")

EVENTS_SCHEMA = pa.schema([
    ("session_id", pa.string()), ("seq", pa.int64()), ("direction", pa.string()),
    ("t_ms", pa.float64()), ("time", TIMESTAMP), ("type", pa.string()),
    ("event_id", pa.string()), ("item_id", pa.string()), ("response_id", pa.string()),
    ("call_id", pa.string()), ("size_bytes", pa.int64()), ("audio_bytes", pa.int64()),
    ("payload", pa.string()), ("parse_error", pa.bool_()),
])

_TOKENS = [(name, pa.int64()) for name in TOKEN_COLUMNS]

SESSIONS_SCHEMA = pa.schema([
    ("session_id", pa.string()), ("started", TIMESTAMP), ("ended", TIMESTAMP),
    ("duration_s", pa.float64()), ("model", pa.string()), ("flavour", pa.string()),
    ("status", pa.string()), ("status_reason", pa.string()), ("label", pa.string()),
    ("replay_of", pa.string()), ("upstream_url", pa.string()), ("path", pa.string()),
    ("client_addr", pa.string()), ("subprotocol", pa.string()), ("headers", pa.string()),
    ("close_code", pa.int64()), ("close_reason", pa.string()), ("closed_by", pa.string()),
    ("events", pa.int64()), ("client_events", pa.int64()), ("server_events", pa.int64()),
    ("client_bytes", pa.int64()), ("server_bytes", pa.int64()), ("lost_frames", pa.int64()),
    ("error_events", pa.int64()), ("responses", pa.int64()),
    ("input_audio_ms", pa.float64()), ("output_audio_ms", pa.float64()), *_TOKENS,
    ("usage_seconds", pa.float64()),
    ("perceived_latency_p50_ms", pa.float64()), ("perceived_latency_p95_ms", pa.float64()),
    ("interruptions", pa.int64()), ("talk_over_ms", pa.float64()),
    ("transport", pa.string()),
])

RESPONSES_SCHEMA = pa.schema([
    ("session_id", pa.string()), ("response_id", pa.string()), ("status", pa.string()),
    ("status_reason", pa.string()), ("trigger", pa.string()), ("trigger_t_ms", pa.float64()),
    ("created_t_ms", pa.float64()), ("first_text_t_ms", pa.float64()),
    ("first_audio_t_ms", pa.float64()), ("done_t_ms", pa.float64()),
    ("first_audio_latency_ms", pa.float64()), ("first_text_latency_ms", pa.float64()),
    ("output_audio_ms", pa.float64()), ("transcript", pa.string()), ("time", TIMESTAMP),
    *_TOKENS,
])

_TURN_TYPES = {"turn": pa.int64(), "interrupted": pa.bool_()}
_TURN_STRINGS = {"user_item_id", "response_id", "item_id", "trigger", "status", "yield_by",
                 "tool_call_id"}
TURNS_SCHEMA = pa.schema([("session_id", pa.string())] + [
    (name, _TURN_TYPES.get(name, pa.string() if name in _TURN_STRINGS else pa.float64()))
    for name in TURN_COLUMNS])
"""One row per reply (with the user turn that triggered it) and per unanswered user turn;
the columns are described in the check docs."""

DICTIONARY_COLUMNS = {
    "events": ["session_id", "direction", "type", "item_id", "response_id", "call_id"],
    "sessions": ["model", "flavour", "status", "label", "upstream_url", "closed_by",
                 "transport"],
    "responses": ["session_id", "status", "status_reason", "trigger"],
    "utterances": ["session_id", "speaker"],
    "delegations": ["session_id", "delegation_id", "wrapped_type"],
    "turns": ["session_id", "trigger", "status", "yield_by"],
}
"""Columns whose values repeat: dictionary-encoded in the Parquet files."""

_TYPE_GROUPS = {"relevant": RELEVANT_TYPES, "audio": AUDIO_DELTA_TYPES, "text": TEXT_DELTAS,
                "error": frozenset({ERROR_EVENT})}
_SERVER = {"server": frozenset({Direction.SERVER.value})}


@dataclass
class SessionScan:
    """Everything one pass over a session's events yields besides the events themselves."""

    tracker: ResponseTracker = field(default_factory=ResponseTracker)
    events: int = 0
    error_events: int = 0
    live: LiveScan = field(default_factory=LiveScan)
    """GPT-Live sessions: transcript fragments and usage (``export.live``)."""
    analyzer: TurnAnalyzer | None = None
    """Given one, the scan feeds it every chunk (then :meth:`finish_turns`)."""
    turns: list[Turn] | None = None
    """The session's turn analysis, when it was run (the sessions row's turn columns)."""

    @classmethod
    def with_turns(cls) -> SessionScan:
        """A scan that also runs the turn analysis."""
        return cls(analyzer=TurnAnalyzer())

    def finish_turns(self) -> list[Turn]:
        """The turns of the scanned session (kept in :attr:`turns`); needs an analyzer."""
        if self.analyzer is None:
            raise ValueError("this scan runs no turn analysis")
        self.turns = self.analyzer.finish()
        return self.turns


def events_batch(session_id: str, chunk: RawChunk, payloads: pa.Array) -> pa.RecordBatch:
    """The ``events`` rows of one chunk."""
    n = len(chunk)
    return pa.RecordBatch.from_arrays([
        pa.repeat(pa.scalar(session_id, pa.string()), n) if n else pa.array([], pa.string()),
        pa.array(chunk.seq), chunk.direction, pa.array(chunk.t_ns / 1e6),
        pa.array(chunk.wall_ns // 1000).cast(TIMESTAMP), chunk.type, chunk.event_id,
        chunk.item_id, chunk.response_id, chunk.call_id, pa.array(chunk.size_bytes),
        pa.array(chunk.audio_bytes), payloads, chunk.parse_error.is_valid(),
    ], schema=EVENTS_SCHEMA)


def _classify(array: pa.Array, groups: dict[str, frozenset[str]]) -> dict[str, np.ndarray]:
    """Boolean masks of the rows whose value is in each group (nulls in none)."""
    encoded = array.dictionary_encode()
    values = encoded.dictionary.to_pylist()
    index = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    return {name: np.array([v in members for v in values] + [False], dtype=bool)[index]
            for name, members in groups.items()}


def _take(array: pa.Array, rows: np.ndarray) -> list[Any]:
    return array.take(pa.array(rows)).to_pylist()


def scan_chunk(scan: SessionScan, chunk: RawChunk, payloads: pa.Array) -> None:
    """Feed one chunk to the session's response tracker and counters."""
    scan.events += len(chunk)
    scan_live_chunk(scan.live, chunk, payloads)
    if scan.analyzer is not None:
        feed_chunk(scan.analyzer, chunk)
    kinds = _classify(chunk.type, _TYPE_GROUPS)
    server = _classify(chunk.direction, _SERVER)["server"]
    scan.error_events += int(kinds["error"].sum())
    with_response = server & chunk.response_id.is_valid().to_numpy(zero_copy_only=False)
    audio = np.flatnonzero(kinds["audio"] & with_response)
    if len(audio):
        ids = pa.array(_take(chunk.response_id, audio))
        encoded = ids.dictionary_encode()
        index = encoded.indices.to_numpy()
        nbytes, t_ns = chunk.audio_bytes[audio], chunk.t_ns[audio]
        for i, rid in enumerate(encoded.dictionary.to_pylist()):
            mine = index == i
            scan.tracker.add_audio(rid, int(nbytes[mine].sum()), int(t_ns[mine].min()))
    text = np.flatnonzero(kinds["text"] & with_response)
    if len(text):
        for rid, item, t, raw in zip(_take(chunk.response_id, text), _take(chunk.item_id, text),
                                     chunk.t_ns[text].tolist(), _take(payloads, text),
                                     strict=True):
            scan.tracker.add_text_delta(rid, item, t, raw or "")
    rows = np.flatnonzero(kinds["relevant"])
    if not len(rows):
        return
    for i, direction, etype, rid, raw in zip(
            rows.tolist(), _take(chunk.direction, rows), _take(chunk.type, rows),
            _take(chunk.response_id, rows), _take(payloads, rows), strict=True):
        scan.tracker.observe(direction, etype, int(chunk.t_ns[i]), int(chunk.wall_ns[i]), rid,
                             decode_object(raw))


def decode_object(text: str | None) -> dict[str, Any] | None:
    """A payload's JSON object; None for no payload, invalid JSON or a non-object."""
    if text is None:
        return None
    try:
        event = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


def scan_session(chunks: Iterator[RawChunk], session_id: str, *, keep_audio: bool,
                 redact: bool, scan: SessionScan) -> Iterator[pa.RecordBatch]:
    """The ``events`` batches of a session, filling ``scan`` on the way."""
    for chunk in chunks:
        payloads = build_payloads(chunk, keep_audio=keep_audio, redact=redact)
        scan_chunk(scan, chunk, payloads)
        yield events_batch(session_id, chunk, payloads)


def redacted_session(rec: SessionRecord) -> SessionRecord:
    """A copy of a session record with every secret masked (idempotent: markers are kept).

    The recorder already redacts what it stores; exports and imports check again, so a
    key can reach neither an export nor, through an import, the database.
    """
    out = replace(rec)
    for f in fields(SessionRecord):
        value = getattr(rec, f.name)
        if f.name in ("upstream_url", "path") and value is not None:
            value = redact_url(value)
        elif f.name == "headers":
            value = redact_headers(value)
        elif f.name == "subprotocols":
            value = redact_subprotocols(value)
        elif f.name == "subprotocol" and value is not None:
            value = redact_subprotocols([value])[0]
        elif isinstance(value, str) and f.name != "id":
            value = redact_text(value)
        setattr(out, f.name, value)
    return out


def session_row(rec: SessionRecord, scan: SessionScan) -> dict[str, Any]:
    """The ``sessions`` row of a session after its events were scanned (always redacted)."""
    rec = redacted_session(rec)
    row: dict[str, Any] = {
        "session_id": rec.id, "started": rec.started, "ended": rec.ended,
        "duration_s": rec.duration_s, "model": rec.model, "flavour": rec.flavour,
        "status": rec.status, "status_reason": rec.status_reason,
        "label": rec.label, "replay_of": rec.replay_of,
        "upstream_url": rec.upstream_url, "path": rec.path,
        "client_addr": rec.client_addr, "subprotocol": rec.subprotocol,
        "headers": json.dumps([list(h) for h in rec.headers]), "close_code": rec.close_code,
        "close_reason": rec.close_reason, "closed_by": rec.closed_by,
        "events": scan.events, "client_events": rec.client_events,
        "server_events": rec.server_events, "client_bytes": rec.client_bytes,
        "server_bytes": rec.server_bytes, "lost_frames": rec.lost_frames,
        "error_events": scan.error_events, "responses": len(scan.tracker.responses),
        "input_audio_ms": rec.input_audio_ms, "output_audio_ms": rec.output_audio_ms,
    }
    row.update(scan.tracker.token_totals())
    row["usage_seconds"] = scan.live.usage_seconds
    row.update(turn_summary(scan.turns))
    row["transport"] = rec.transport
    return row


def _quantile(values: list[float], q: float) -> float | None:
    return float(np.quantile(values, q)) if values else None


def turn_summary(turns: list[Turn] | None) -> dict[str, Any]:
    """The sessions row's turn figures: p50/p95 perceived latency, interruptions, talk-over."""
    if turns is None:
        return {"perceived_latency_p50_ms": None, "perceived_latency_p95_ms": None,
                "interruptions": None, "talk_over_ms": None}
    perceived = [t.perceived_latency_ms for t in turns if t.perceived_latency_ms is not None]
    return {"perceived_latency_p50_ms": _quantile(perceived, 0.5),
            "perceived_latency_p95_ms": _quantile(perceived, 0.95),
            "interruptions": sum(t.interrupted for t in turns),
            "talk_over_ms": round(sum(t.talk_over_ms or 0.0 for t in turns), 3)}


def turn_rows(session_id: str, turns: list[Turn]) -> list[dict[str, Any]]:
    """The ``turns`` table rows of a session."""
    return [{"session_id": session_id, **{name: getattr(t, name) for name in TURN_COLUMNS}}
            for t in turns]


def table_of(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows (dicts) as a table of ``schema``."""
    return pa.Table.from_pylist(rows, schema=schema)
