"""Parsing frames: the type and ids of a raw frame (decoding its JSON; the byte-level
lookups that avoid decoding are in :mod:`.sniff`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .events import Opcode
from .live import id_source


@dataclass(frozen=True, slots=True)
class ParsedFrame:
    """What a frame says about itself, as far as the recorder needs."""

    type: str | None = None
    event_id: str | None = None
    item_id: str | None = None
    response_id: str | None = None
    call_id: str | None = None
    parse_error: str | None = None
    event: dict[str, Any] | None = None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_frame(data: bytes, opcode: Opcode | str = Opcode.TEXT) -> ParsedFrame:
    """Parse a raw frame into its type and ids; never raises.

    A frame that is binary, not UTF-8, not JSON or not a JSON object gets
    ``parse_error`` set and no fields.
    """
    if opcode != Opcode.TEXT and opcode != Opcode.MEDIA:
        return ParsedFrame(parse_error="binary frame")
    try:
        text = data.decode("utf-8")  # json.loads(bytes) would also accept UTF-16/32
    except UnicodeDecodeError:
        return ParsedFrame(parse_error="invalid UTF-8")
    try:
        obj = json.loads(text)
    except RecursionError:
        return ParsedFrame(parse_error="JSON nested too deeply")
    except ValueError as exc:
        return ParsedFrame(parse_error=f"invalid JSON: {str(exc)[:120]}")
    except Exception as exc:  # noqa: BLE001 - the parser must never raise
        return ParsedFrame(parse_error=f"unparseable frame: {type(exc).__name__}")
    if not isinstance(obj, dict):
        return ParsedFrame(parse_error="JSON value is not an object")
    return fields_of(obj)


def fields_of(obj: dict[str, Any]) -> ParsedFrame:
    """Extract type and ids from an already-decoded event (section 2's table).

    A GPT-Live event that wraps or points at another object (``response.event``, a
    Responses delegation) takes its item/response/call ids from there."""
    event_type = _str_or_none(obj.get("type"))
    source = id_source(obj)
    if source is not None and event_type is not None:
        inner = fields_of(source)
        return ParsedFrame(type=event_type, event_id=_str_or_none(obj.get("event_id")),
                           item_id=inner.item_id, response_id=inner.response_id,
                           call_id=inner.call_id, event=obj)
    item = obj.get("item")
    item = item if isinstance(item, dict) else None
    response = obj.get("response")
    response = response if isinstance(response, dict) else None

    item_id = _str_or_none(obj.get("item_id"))
    if item_id is None and item is not None:
        item_id = _str_or_none(item.get("id"))

    response_id = _str_or_none(obj.get("response_id"))
    if response_id is None and response is not None:
        response_id = _str_or_none(response.get("id"))

    call_id = _str_or_none(obj.get("call_id"))
    if call_id is None and item is not None:
        call_id = _str_or_none(item.get("call_id"))

    return ParsedFrame(
        type=event_type,
        event_id=_str_or_none(obj.get("event_id")),
        item_id=item_id,
        response_id=response_id,
        call_id=call_id,
        parse_error=None if event_type is not None else "missing or non-string type",
        event=obj,
    )


def decode_event(data: bytes) -> dict[str, Any] | None:
    """Decode a text frame into an event dict, or None if it is not one."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except Exception:  # noqa: BLE001
        return None
    return obj if isinstance(obj, dict) else None
