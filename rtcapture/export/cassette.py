"""JSONL cassettes: one session in a portable, versioned text file, and loading it back.

Format (version 1)::

    {"rtcapture_cassette": 1, "frames": N, "session": {...every session field...}}
    {"seq": 0, "direction": "server", "t_ns": ..., "time": "...Z", "opcode": "text", ...}
    ...  one frame record per line (``render.frame_json``), in seq order

The header carries every stored session field (headers and URLs redacted), so an import
restores the session row exactly. Frame bytes are exact except where export redaction
replaced an ``sk-…`` / ``ek_…`` key by its marker (``--no-redact`` keeps them). ``frames``
lets ``import`` notice a file cut at a line boundary; a file without it must have
gapless seqs from 0.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from ..ids import is_id
from ..protocol import Direction, Opcode, redact_text
from ..proxy.ingest import SessionTally
from ..render import frame_json, iso
from ..store import EventRecord, SessionRecord, Store, session_field_rules
from .tables import redacted_session

CASSETTE_VERSION = 1
HEADER_KEY = "rtcapture_cassette"
ID_RULE = "26 characters of 0-9 and A-Z without I, L, O, U, as the recorder makes them"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STR_FIELDS = ("status", "upstream_url", "path", "model", "client_addr", "flavour",
               "subprotocol", "close_reason", "closed_by", "status_reason", "label",
               "replay_of", "recorder_id", "transport")
_INT_FIELDS = ("close_code", "client_events", "server_events", "client_bytes", "server_bytes",
               "lost_frames")
_INT32_FIELDS = frozenset({"close_code", "client_events", "server_events", "lost_frames"})
_FLOAT_FIELDS = ("input_audio_ms", "output_audio_ms")
_REQUIRED = frozenset({"id", "started", "status"})


class CassetteError(Exception):
    """A cassette that cannot be imported; the message names the file and line."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path} line {line}: {message}" if line else f"{path}: {message}")
        self.path, self.line = path, line


@dataclass
class ImportResult:
    """What importing one cassette did."""

    path: Path
    session_id: str
    frames: int
    imported: bool


# ------------------------------------------------------------------------------ writing


def session_header(rec: SessionRecord, frames: int) -> dict[str, Any]:
    """The header line's object for a session with ``frames`` frames (always redacted:
    ``--no-redact`` is about frame payloads, session secrets never leave the database)."""
    rec = redacted_session(rec)
    session: dict[str, Any] = {}
    for f in fields(SessionRecord):
        value = getattr(rec, f.name)
        if f.name in ("started", "ended"):
            value = iso(value)
        elif f.name == "headers":
            value = [list(h) for h in value]
        session[f.name] = value
    return {HEADER_KEY: CASSETTE_VERSION, "frames": frames, "session": session}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def write_cassette(store: Store, rec: SessionRecord, path: Path, *, redact: bool = True) -> int:
    """Write one session as a cassette (atomically: a temporary file renamed); frame count."""
    _, last = store.seq_bounds(rec.id)
    frames = store.count_events(rec.id, last_seq=last)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    written = 0
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as out:
            out.write(_dumps(session_header(rec, frames)) + "\n")
            for ev in store.events(rec.id, last_seq=last):
                out.write(_dumps(frame_json(ev, redact=redact)) + "\n")
                written += 1
        if written != frames:  # rows deleted while we read: keep the file self-consistent
            raise OSError(f"session {rec.id} changed during export")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return written


# ------------------------------------------------------------------------------ reading


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not a string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _ns(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1) * 1000


def _session(obj: Any) -> SessionRecord:
    """A session record from the header's ``session`` object (ValueError when malformed)."""
    if not isinstance(obj, dict):
        raise ValueError("'session' must be an object")
    missing = _REQUIRED - obj.keys()
    if missing:
        raise ValueError(f"session has no {', '.join(sorted(missing))}")
    sid = obj["id"]
    if not is_id(sid):
        raise ValueError(f"session id {_shown(sid)} is not an rtcapture id ({ID_RULE})")
    rec = SessionRecord(id=sid, started=_checked(_time, obj["started"], "started"),
                        status=obj["status"])
    if obj.get("ended") is not None:
        rec.ended = _checked(_time, obj["ended"], "ended")
    rules = session_field_rules()
    for name in _STR_FIELDS:
        value = obj.get(name, getattr(rec, name))
        if value is None and not rules[name].nullable:
            raise ValueError(f"session {name} must be a string")
        if value is not None and not isinstance(value, str):
            raise ValueError(f"session {name} must be a string or null")
        limit = rules[name].max_length
        if isinstance(value, str) and limit is not None and len(value) > limit:
            raise ValueError(f"session {name} is longer than {limit} characters")
        setattr(rec, name, value)
    if rec.replay_of is not None and not is_id(rec.replay_of):
        raise ValueError(f"session replay_of {_shown(rec.replay_of)} is not an rtcapture id "
                         f"({ID_RULE})")
    for name in _INT_FIELDS:
        value = obj.get(name, getattr(rec, name))
        if value is None and rules[name].nullable:
            setattr(rec, name, value)
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**62:
            raise ValueError(f"session {name} must be a non-negative integer")
        if name in _INT32_FIELDS and value >= 2**31:
            raise ValueError(f"session {name} is out of range")
        setattr(rec, name, value)
    for name in _FLOAT_FIELDS:
        value = obj.get(name, getattr(rec, name))
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"session {name} must be a number")
        setattr(rec, name, float(value))
    headers = obj.get("headers", [])
    if not isinstance(headers, list) or not all(
            isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h)
            for h in headers):
        raise ValueError("session headers must be a list of [name, value] pairs")
    rec.headers = [(k, v) for k, v in headers]
    subprotocols = obj.get("subprotocols", [])
    if not isinstance(subprotocols, list) or not all(isinstance(p, str) for p in subprotocols):
        raise ValueError("session subprotocols must be a list of strings")
    rec.subprotocols = list(subprotocols)
    return redacted_session(rec)


def _shown(value: Any) -> str:
    """A value from the file for an error message: quoted, cut short, keys redacted."""
    text = redact_text(repr(value))
    return text if len(text) <= 40 else text[:37] + "..."


def _checked(parse: Any, value: Any, name: str) -> Any:
    try:
        return parse(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"session {name} is not an ISO 8601 time") from exc


def _count(obj: dict[str, Any], name: str) -> int:
    """A frame's non-negative integer field (ValueError when it is not one)."""
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"'{name}' must be a non-negative integer")
    return value


def _frame(obj: Any, session_id: str) -> EventRecord:
    """A frame record's stored values, not yet parsed (ValueError when malformed)."""
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    seq, t_ns = _count(obj, "seq"), _count(obj, "t_ns")
    direction, opcode = obj.get("direction"), obj.get("opcode")
    if direction not in (Direction.CLIENT.value, Direction.SERVER.value):
        raise ValueError("'direction' must be 'client' or 'server'")
    if opcode not in (Opcode.TEXT.value, Opcode.BINARY.value, Opcode.MEDIA.value):
        raise ValueError("'opcode' must be 'text', 'binary' or 'media'")
    wall_ns = obj.get("wall_ns")
    if not isinstance(wall_ns, int) or isinstance(wall_ns, bool):
        try:
            wall_ns = _ns(_time(obj.get("time")))
        except (ValueError, TypeError) as exc:
            raise ValueError("'time' must be an ISO 8601 time") from exc
    parse_error = obj.get("parse_error")
    if parse_error is not None and not isinstance(parse_error, str):
        raise ValueError("'parse_error' must be a string or null")
    delivered = obj.get("delivered", True)
    if not isinstance(delivered, bool):
        raise ValueError("'delivered' must be true or false")
    if ("text" in obj) == ("data_b64" in obj):
        raise ValueError("a frame needs exactly one of 'text' and 'data_b64'")
    if "text" in obj:
        if not isinstance(obj["text"], str):
            raise ValueError("'text' must be a string")
        try:
            data = obj["text"].encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("'text' holds a lone surrogate") from exc
    else:
        try:
            data = base64.b64decode(obj["data_b64"], validate=True)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise ValueError("'data_b64' is not valid base64") from exc
    return EventRecord(session_id, seq, Direction(direction), t_ns, wall_ns, Opcode(opcode),
                       data, parse_error=parse_error, delivered=delivered)


def _lines(stream: IO[bytes], path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, decoded JSON) of every non-empty line; CassetteError when malformed."""
    number = 0
    for number, raw in enumerate(stream, start=1):  # noqa: B007 - read after the loop
        if not raw.endswith(b"\n"):
            raise CassetteError(path, number, "truncated (the last line has no end)")
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw)
        except UnicodeDecodeError:
            raise CassetteError(path, number, "not UTF-8") from None
        except (ValueError, RecursionError) as exc:
            raise CassetteError(path, number, f"not valid JSON ({str(exc)[:80]})") from None
    if number == 0:
        raise CassetteError(path, 1, "empty file (expected a cassette header)")


def _open(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except OSError as exc:
        raise CassetteError(path, 0, f"cannot read: {exc.strerror or exc}") from None


def _read(path: Path) -> tuple[SessionRecord, int | None, Iterator[tuple[int, EventRecord]]]:
    """The header, then (lazily) every frame; the file must be read to the end."""
    stream = _open(path)
    lines = _lines(stream, path)
    try:
        number, header = next(lines)
    except StopIteration:
        stream.close()
        raise CassetteError(path, 1, "empty file (expected a cassette header)") from None
    except CassetteError:
        stream.close()
        raise
    if not isinstance(header, dict) or HEADER_KEY not in header:
        stream.close()
        raise CassetteError(path, number, "not an rtcapture cassette (no header line)")
    version = header[HEADER_KEY]
    if version != CASSETTE_VERSION or isinstance(version, bool):
        stream.close()
        raise CassetteError(path, number, f"unsupported cassette version {version!r} "
                                          f"(this rtcapture reads version {CASSETTE_VERSION})")
    frames = header.get("frames")
    try:
        if frames is not None and (not isinstance(frames, int) or frames < 0):
            raise ValueError("'frames' must be a non-negative integer")
        rec = _session(header.get("session"))
    except ValueError as exc:
        stream.close()
        raise CassetteError(path, number, str(exc)) from None

    def body() -> Iterator[tuple[int, EventRecord]]:
        with stream:
            for line, obj in lines:
                try:
                    yield line, _frame(obj, rec.id)
                except ValueError as exc:
                    raise CassetteError(path, line, str(exc)) from None

    return rec, frames, body()


def validate(path: Path) -> tuple[SessionRecord, int]:
    """Check a whole cassette; its session and frame count, or CassetteError."""
    rec, expected, frames = _read(path)
    count, last, line = 0, -1, 1
    for line, frame in frames:
        if frame.seq <= last:
            raise CassetteError(path, line, f"seq {frame.seq} is not after {last}")
        if expected is None and frame.seq != last + 1:
            raise CassetteError(path, line, f"seq {frame.seq} does not follow {last} (gap)")
        last = frame.seq
        count += 1
    if expected is not None and count != expected:
        raise CassetteError(path, line + 1, f"truncated: {count} frames, the header "
                                            f"announces {expected}")
    return rec, count


def _records(path: Path) -> Iterator[EventRecord]:
    """The frames with what the parser finds in them (the cassette's own ``parse_error``
    kept)."""
    _, _, frames = _read(path)
    tally = SessionTally()
    for _, f in frames:
        ev = tally.build(f.session_id, f.seq, f.direction, f.t_ns, f.wall_ns, f.opcode, f.data,
                         delivered=f.delivered)
        ev.parse_error = f.parse_error
        yield ev


def load_cassette(path: Path) -> tuple[SessionRecord, list[EventRecord]]:
    """A whole cassette in memory, validated first; CassetteError when malformed."""
    rec, _ = validate(path)
    return rec, list(_records(path))


def import_cassette(store: Store, path: Path) -> ImportResult:
    """Validate, then load one cassette in one transaction; an existing session is skipped."""
    rec, count = validate(path)
    if store.has_session(rec.id):
        return ImportResult(path, rec.id, count, imported=False)
    imported = store.import_session(rec, _records(path))  # False: imported concurrently
    return ImportResult(path, rec.id, count, imported=imported)
