"""Client-event checks: envelope, fields of each event, items, ``response.create`` overrides.

Each check raises ``MockError`` with the code the real service uses for that kind of
mistake (``missing_required_parameter``, ``invalid_type``, ``invalid_value``,
``unknown_parameter``), naming the offending parameter as a dotted path.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ..protocol import (
    INPUT_AUDIO_APPEND,
    INPUT_AUDIO_CLEAR,
    INPUT_AUDIO_COMMIT,
    ITEM_CREATE,
    ITEM_DELETE,
    ITEM_RETRIEVE,
    ITEM_TRUNCATE,
    OUTPUT_AUDIO_BUFFER_CLEAR,
    RESPONSE_CANCEL,
    RESPONSE_CREATE,
    SESSION_UPDATE,
    TRANSCRIPTION_SESSION_UPDATE,
    Flavour,
    decode_audio_b64,
)
from . import errors as E
from . import schema as S

EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    SESSION_UPDATE: ("session",),
    TRANSCRIPTION_SESSION_UPDATE: ("session",),
    INPUT_AUDIO_APPEND: ("audio",),
    INPUT_AUDIO_COMMIT: (),
    INPUT_AUDIO_CLEAR: (),
    ITEM_CREATE: ("item", "previous_item_id"),
    ITEM_TRUNCATE: ("item_id", "content_index", "audio_end_ms"),
    ITEM_DELETE: ("item_id",),
    ITEM_RETRIEVE: ("item_id",),
    RESPONSE_CREATE: ("response",),
    RESPONSE_CANCEL: ("response_id",),
    OUTPUT_AUDIO_BUFFER_CLEAR: ("response_id",),
}
"""Fields each client event may carry besides ``type`` and ``event_id``."""


def supported_types(flavour: Flavour) -> list[str]:
    """Client event types the dialect accepts, in the reference's order."""
    return [t for t in EVENT_FIELDS
            if not (flavour is Flavour.GA and t == TRANSCRIPTION_SESSION_UPDATE)]


def check_envelope(event: dict[str, Any], flavour: Flavour) -> str:
    """The event's type, once ``type``, ``event_id`` and the set of fields are acceptable."""
    if "type" not in event:
        raise E.missing("type")
    kind = event["type"]
    if not isinstance(kind, str):
        raise E.invalid_type("type", "a string", kind)
    E.want_str(event, "event_id", "event_id")
    allowed = supported_types(flavour)
    if kind not in allowed:
        raise E.invalid_value("type", kind, allowed)
    E.check_keys(event, ("type", "event_id", *EVENT_FIELDS[kind]), "")
    return kind


def check_audio(event: dict[str, Any]) -> bytes:
    """The decoded audio of ``input_audio_buffer.append``."""
    E.want_str(event, "audio", "audio", required=True)
    data = decode_audio_b64(event["audio"])
    if data is None:
        raise E.MockError("invalid_value", "Invalid 'audio'. Expected base64-encoded audio "
                          "bytes.", "audio")
    return data


# --------------------------------------------------------------------------- items


@dataclass
class NewItem:
    """A client item, normalised to the server's shape, with any inline audio aside."""

    item: dict[str, Any]
    client_id: str | None
    audio: dict[int, bytes]


_USER_PARTS = {Flavour.BETA: ("input_text", "input_audio"),
               Flavour.GA: ("input_text", "input_audio", "input_image")}
_ASSISTANT_PARTS = {Flavour.BETA: ("text",), Flavour.GA: ("output_text",)}


def _content_part(part: Any, role: str, flavour: Flavour, param: str
                  ) -> tuple[dict[str, Any], bytes | None]:
    if not isinstance(part, dict):
        raise E.invalid_type(param, "an object", part)
    allowed = {"user": _USER_PARTS[flavour], "system": ("input_text",),
               "assistant": _ASSISTANT_PARTS[flavour]}[role]
    kind = E.want_enum(part, "type", f"{param}.type", allowed)
    if kind is None:
        raise E.missing(f"{param}.type")
    if kind in ("input_text", "text", "output_text"):
        E.check_keys(part, ("type", "text"), f"{param}.")
        return {"type": kind, "text": E.want_str(part, "text", f"{param}.text",
                                                  required=True)}, None
    if kind == "input_image":
        E.check_keys(part, ("type", "image_url", "detail"), f"{param}.")
        url = E.want_str(part, "image_url", f"{param}.image_url", required=True)
        detail = E.want_enum(part, "detail", f"{param}.detail", ("auto", "low", "high"))
        return {"type": kind, "image_url": url, "detail": detail or "auto"}, None
    E.check_keys(part, ("type", "audio", "transcript"), f"{param}.")
    transcript = E.want_str(part, "transcript", f"{param}.transcript", nullable=True)
    audio = None
    if E.want_str(part, "audio", f"{param}.audio", nullable=True) is not None:
        audio = decode_audio_b64(part["audio"])
        if audio is None:
            raise E.MockError("invalid_value", f"Invalid '{param}.audio'. Expected "
                              "base64-encoded audio bytes.", f"{param}.audio")
    return {"type": kind, "transcript": transcript}, audio


def check_item(raw: Any, flavour: Flavour, param: str = "item") -> NewItem:
    """A ``conversation.item.create`` item, checked and normalised."""
    if not isinstance(raw, dict):
        raise E.invalid_type(param, "an object", raw)
    p = f"{param}."
    kind = E.want_enum(raw, "type", p + "type", ("message", "function_call",
                                                 "function_call_output"))
    if kind is None:
        raise E.missing(p + "type")
    client_id = E.want_str(raw, "id", p + "id")
    E.want_enum(raw, "status", p + "status", ("completed", "incomplete", "in_progress"))
    common = ("id", "type", "status", "object")
    item: dict[str, Any] = {"id": client_id}
    if flavour is Flavour.BETA:
        item["object"] = "realtime.item"
    item["type"] = kind
    item["status"] = "completed"
    audio: dict[int, bytes] = {}
    if kind == "message":
        E.check_keys(raw, (*common, "role", "content"), p)
        role = E.want_enum(raw, "role", p + "role", ("user", "assistant", "system"))
        if role is None:
            raise E.missing(p + "role")
        parts = E.want_list(raw, "content", p + "content", required=True) or []
        content = []
        for i, part in enumerate(parts):
            shaped, data = _content_part(part, role, flavour, f"{p}content[{i}]")
            content.append(shaped)
            if data is not None:
                audio[i] = data
        item["role"] = role
        item["content"] = content
    elif kind == "function_call":
        E.check_keys(raw, (*common, "name", "call_id", "arguments"), p)
        item["name"] = E.want_str(raw, "name", p + "name", required=True)
        item["call_id"] = E.want_str(raw, "call_id", p + "call_id", required=True)
        item["arguments"] = E.want_str(raw, "arguments", p + "arguments", required=True)
    else:
        E.check_keys(raw, (*common, "call_id", "output"), p)
        item["call_id"] = E.want_str(raw, "call_id", p + "call_id", required=True)
        item["output"] = E.want_str(raw, "output", p + "output", required=True)
    return NewItem(item, client_id, audio)


# --------------------------------------------------------------------------- response.create


@dataclass
class Overrides:
    """``response.create``'s ``response`` object, checked (absent fields are None)."""

    raw: dict[str, Any]
    conversation: str = "auto"
    input: list[dict[str, Any]] | None = None


_BETA_RESPONSE_KEYS = ("modalities", "instructions", "voice", "output_audio_format", "tools",
                       "tool_choice", "temperature", "max_response_output_tokens",
                       "conversation", "metadata", "input")
_GA_RESPONSE_KEYS = ("output_modalities", "instructions", "audio", "tools", "tool_choice",
                     "max_output_tokens", "conversation", "metadata", "input", "prompt")


def check_overrides(raw: Any, flavour: Flavour) -> Overrides:
    """The overrides of ``response.create``."""
    if raw is None:
        return Overrides({})
    if not isinstance(raw, dict):
        raise E.invalid_type("response", "an object", raw)
    ga = flavour is Flavour.GA
    E.check_keys(raw, _GA_RESPONSE_KEYS if ga else _BETA_RESPONSE_KEYS, "response.")
    out = copy.deepcopy(raw)
    if "modalities" in raw:
        S.check_beta_modalities(raw["modalities"], "response.modalities")
    if "output_modalities" in raw:
        S.check_ga_modalities(raw["output_modalities"], "response.output_modalities")
    E.want_str(raw, "instructions", "response.instructions")
    if "voice" in raw:
        S.check_voice(raw["voice"], "response.voice", ga=False)
    if "output_audio_format" in raw:
        S.check_beta_format(raw["output_audio_format"], "response.output_audio_format")
    if "audio" in raw:
        audio = E.want_obj(raw, "audio", "response.audio") or {}
        E.check_keys(audio, ("output",), "response.audio.")
        output = E.want_obj(audio, "output", "response.audio.output") or {}
        E.check_keys(output, ("format", "voice"), "response.audio.output.")
        if "format" in output:
            out["audio"]["output"]["format"] = S.check_ga_format(
                output["format"], "response.audio.output.format")
        if "voice" in output:
            S.check_voice(output["voice"], "response.audio.output.voice", ga=True)
    if "tools" in raw:
        S.check_tools(raw["tools"], "response.tools", ga)
    if "tool_choice" in raw:
        S.check_tool_choice(raw["tool_choice"], "response.tool_choice")
    for key in ("max_output_tokens", "max_response_output_tokens"):
        if key in raw:
            S.check_max_tokens(raw[key], f"response.{key}")
    if "temperature" in raw:
        E.want_number(raw, "temperature", "response.temperature", low=0.6, high=1.2)
    conversation = E.want_str(raw, "conversation", "response.conversation") or "auto"
    metadata = E.want_obj(raw, "metadata", "response.metadata", nullable=True)
    for key, value in (metadata or {}).items():
        if not isinstance(value, str):
            raise E.invalid_type(f"response.metadata.{key}", "a string", value)
    items = None
    if "input" in raw:
        items = []
        for i, entry in enumerate(E.want_list(raw, "input", "response.input") or []):
            param = f"response.input[{i}]"
            if isinstance(entry, dict) and entry.get("type") == "item_reference":
                E.check_keys(entry, ("type", "id"), param + ".")
                items.append({"type": "item_reference",
                              "id": E.want_str(entry, "id", param + ".id", required=True)})
            else:
                items.append(check_item(entry, flavour, param).item)
    return Overrides(out, conversation="none" if conversation == "none" else "auto",
                     input=items)
