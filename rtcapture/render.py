"""Human-readable rendering of sessions and events for the terminal."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from .protocol import Opcode, audio_payload, b64_decoded_len, decode_event, redact_bytes
from .store.records import EventRecord, SessionRecord


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z`` suffix, or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_ns(wall_ns: int) -> str:
    """ISO 8601 UTC (microseconds) for a unix time in ns."""
    return iso(datetime.fromtimestamp(wall_ns / 1e9, tz=UTC)) or ""


def session_json(rec: SessionRecord) -> dict[str, Any]:
    """The stable ``sessions --json`` object of a session."""
    return {
        "id": rec.id,
        "started": iso(rec.started),
        "ended": iso(rec.ended),
        "duration_s": None if rec.duration_s is None else round(rec.duration_s, 3),
        "model": rec.model,
        "flavour": rec.flavour,
        "client_events": rec.client_events,
        "server_events": rec.server_events,
        "input_audio_s": round(rec.input_audio_ms / 1000, 3),
        "output_audio_s": round(rec.output_audio_ms / 1000, 3),
        "status": rec.status,
        "status_reason": rec.status_reason,
        "label": rec.label,
        "replay_of": rec.replay_of,
        "upstream_url": rec.upstream_url,
        "path": rec.path,
        "client_addr": rec.client_addr,
        "close_code": rec.close_code,
        "close_reason": rec.close_reason,
        "closed_by": rec.closed_by,
        "lost_frames": rec.lost_frames,
        "transport": rec.transport,
    }


def frame_json(ev: EventRecord, redact: bool = True) -> dict[str, Any]:
    """The stable frame record of ``show --jsonl`` and JSONL cassettes."""
    data = redact_bytes(ev.data) if redact else ev.data
    record: dict[str, Any] = {
        "seq": ev.seq,
        "direction": ev.direction,
        "t_ns": ev.t_ns,
        "time": iso_ns(ev.wall_ns),
        "opcode": ev.opcode,
        "parse_error": ev.parse_error,
        "delivered": ev.delivered,
    }
    text: str | None = None
    if ev.opcode in (Opcode.TEXT, Opcode.MEDIA):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    if text is not None:
        record["text"] = text
    else:
        record["data_b64"] = base64.b64encode(data).decode("ascii")
    return record


SHOW_WIDTH = 100
"""``show`` lines are cut to this many characters (the key fields last, ending in ...)."""
_TEXT_SHOWN = 40
"""Characters of a delta, text, transcript or arguments value ``show`` quotes."""


def _joined(*values: object, sep: str) -> str:
    """The values that are set, joined (never a Python ``None`` in the output)."""
    return sep.join(str(v) for v in values if v not in (None, ""))


def _key_fields(event: dict[str, Any]) -> str:
    """The fields ``show`` prints, most telling first (a line cut at the width loses the
    ids, not the item kind, status, text or error)."""
    parts = []
    item = event.get("item")
    if isinstance(item, dict):
        kind = _joined(item.get("type"), item.get("role"), sep="/")
        named = _joined(kind, item.get("id") or item.get("call_id"), sep=":")
        if named:
            parts.append(f"item={named}")
        if isinstance(item.get("name"), str):
            parts.append(f"name={item['name']}")
    response = event.get("response")
    if isinstance(response, dict):
        for key in ("id", "status"):
            if response.get(key) is not None:
                parts.append(f"{'response' if key == 'id' else 'status'}={response[key]}")
    error = event.get("error")
    if isinstance(error, dict):
        said = _joined(error.get("code") or error.get("type"), error.get("message"), sep=": ")
        parts.append(f"error={said or '?'}")
    for key in ("delta", "text", "transcript", "arguments"):
        value = event.get(key)
        if isinstance(value, str) and audio_payload(event) is None:
            shown = value if len(value) <= _TEXT_SHOWN else value[:_TEXT_SHOWN - 3] + "..."
            parts.append(f"{key}={json.dumps(shown, ensure_ascii=False)}")
    for key in ("item_id", "audio_start_ms", "audio_end_ms", "call_id", "response_id",
                "previous_item_id"):
        value = event.get(key)
        if value is not None:
            parts.append(f"{key}={value}")
    return " ".join(parts)


def _fit(line: str, width: int = SHOW_WIDTH) -> str:
    return line if len(line) <= width else line[:width - 3] + "..."


def timeline_line(ev: EventRecord) -> str:
    """One line of ``show``: relative ms, direction, type, key fields (at most
    :data:`SHOW_WIDTH` characters)."""
    arrow = ">" if ev.direction == "client" else "<"
    ms = ev.t_ns / 1e6
    head = f"{ms:10.1f} ms {arrow} {ev.direction:6} "
    if ev.parse_error:
        return _fit(head + f"[{ev.opcode}, {ev.size_bytes} bytes] parse error: "
                    f"{ev.parse_error}")
    event = decode_event(ev.data) or {}
    detail = ""
    b64 = audio_payload(event)
    if b64 is not None:
        n = b64_decoded_len(b64)
        detail = f"[audio {n if n is not None else '?'} bytes]"
    else:
        detail = _key_fields(event)
    flag = "" if ev.delivered else " (not delivered)"
    line = redact_bytes(f"{head}{ev.type}{flag} {detail}".rstrip().encode()).decode()
    return _fit(line)


def session_line(rec: SessionRecord) -> str:
    """The header line of ``show``: id, model, dialect, status, path."""
    return _joined(f"session {rec.id}", rec.model or "-", rec.flavour, rec.status, rec.path,
                   sep="  ")


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``word`` (a mistyped name or glob), or None if none is
    close: what a "did you mean" hint offers."""
    import difflib

    found = difflib.get_close_matches(word.replace("*", ""), sorted(set(candidates)), n=1,
                                      cutoff=0.5)
    return found[0] if found else None


def table(rows: Iterable[list[str]], headers: list[str]) -> str:
    """A plain text table with left-aligned columns."""
    rows = [headers] + [list(r) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)
