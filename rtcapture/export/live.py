"""GPT-Live in the analysis tables: the ``utterances`` table (in place of ``responses``),
the ``delegations`` table (every delegated Responses event with its wrapped type, and each
delegation's creation), and usage by duration (``sessions.usage_seconds``).

Utterances follow :func:`rtcapture.protocol.live.group_utterances`; an assistant
utterance's ``latency_ms`` is its ``start_ms`` minus the ``end_ms`` of the user utterance
right before it (timeline ms: end of user speech to first assistant speech).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from ..protocol import live
from ..store.chunks import RawChunk

UTTERANCES_SCHEMA = pa.schema([
    ("session_id", pa.string()), ("utterance", pa.int64()), ("speaker", pa.string()),
    ("start_ms", pa.float64()), ("end_ms", pa.float64()), ("duration_ms", pa.float64()),
    ("latency_ms", pa.float64()), ("fragments", pa.int64()), ("text", pa.string()),
    ("first_seq", pa.int64()),
])

DELEGATIONS_SCHEMA = pa.schema([
    ("session_id", pa.string()), ("seq", pa.int64()), ("t_ms", pa.float64()),
    ("type", pa.string()), ("delegation_id", pa.string()), ("wrapped_type", pa.string()),
    ("target", pa.string()), ("response_id", pa.string()), ("item_id", pa.string()),
    ("call_id", pa.string()),
])

_TRANSCRIPTS = frozenset(live.SPEAKER_OF)
_DELEGATED = frozenset({live.RESPONSE_EVENT, live.DELEGATION_CREATED})
_USAGE = frozenset({live.USAGE_UPDATED, live.SESSION_CLOSED})


@dataclass
class LiveScan:
    """What a pass over a Live session's chunks keeps: transcript fragments and usage."""

    deltas: list[tuple[int | None, dict[str, Any]]] = field(default_factory=list)
    usage_seconds: float | None = None
    """The last cumulative ``usage.seconds`` (``session.usage.updated`` / ``closed``)."""
    delegated: list[dict[str, Any]] = field(default_factory=list)
    """``delegations`` rows (without ``session_id``)."""


def _rows_of(chunk: RawChunk, wanted: frozenset[str]) -> np.ndarray:
    types = chunk.type.to_pylist()
    return np.array([i for i, t in enumerate(types) if t in wanted], dtype=np.int64)


def _decode(raw: Any) -> dict[str, Any] | None:
    try:
        event = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def scan_live_chunk(scan: LiveScan, chunk: RawChunk, payloads: pa.Array) -> None:
    """Collect one chunk's transcript fragments and usage."""
    rows = _rows_of(chunk, _TRANSCRIPTS | _USAGE | _DELEGATED)
    if not len(rows):
        return
    for i, raw in zip(rows.tolist(), payloads.take(pa.array(rows)).to_pylist(), strict=True):
        event = _decode(raw)
        if event is None:
            continue
        if event.get("type") in _TRANSCRIPTS:
            scan.deltas.append((int(chunk.seq[i]), event))
            continue
        if event.get("type") in _DELEGATED:
            scan.delegated.append(_delegated_row(chunk, i, event))
            continue
        usage = event.get("usage")
        seconds = usage.get("seconds") if isinstance(usage, dict) else None
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            scan.usage_seconds = float(seconds)


def _delegated_row(chunk: RawChunk, i: int, event: dict[str, Any]) -> dict[str, Any]:
    delegation = event.get("delegation")
    target = delegation.get("target") if isinstance(delegation, dict) else None
    return {"seq": int(chunk.seq[i]), "t_ms": float(chunk.t_ns[i]) / 1e6,
            "type": event.get("type"), "delegation_id": live.delegation_id(event),
            "wrapped_type": live.wrapped_type(event),
            "target": target if isinstance(target, str) else None,
            "response_id": chunk.response_id[i].as_py(), "item_id": chunk.item_id[i].as_py(),
            "call_id": chunk.call_id[i].as_py()}


def delegation_rows(session_id: str, scan: LiveScan) -> list[dict[str, Any]]:
    """The ``delegations`` rows of one session."""
    return [{"session_id": session_id, **row} for row in scan.delegated]


def utterance_rows(session_id: str, scan: LiveScan) -> list[dict[str, Any]]:
    """The ``utterances`` rows of one session."""
    rows: list[dict[str, Any]] = []
    previous: live.Utterance | None = None
    for n, utt in enumerate(live.group_utterances(scan.deltas)):
        latency = (utt.start_ms - previous.end_ms if utt.speaker == "assistant"
                   and previous is not None and previous.speaker == "user" else None)
        rows.append({"session_id": session_id, "utterance": n, "speaker": utt.speaker,
                     "start_ms": utt.start_ms, "end_ms": utt.end_ms,
                     "duration_ms": utt.end_ms - utt.start_ms, "latency_ms": latency,
                     "fragments": utt.fragments, "text": utt.text,
                     "first_seq": utt.first_seq})
        previous = utt
    return rows
