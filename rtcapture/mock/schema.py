"""Type and value checks for session fields and turn detection, in the API's error shapes."""

from __future__ import annotations

import copy
from typing import Any

from . import errors as E

BETA_FORMATS = ("pcm16", "g711_ulaw", "g711_alaw")
GA_FORMAT_TYPES = ("audio/pcm", "audio/pcmu", "audio/pcma")
VAD_TYPES = ("server_vad", "semantic_vad")


def server_vad_defaults(ga: bool) -> dict[str, Any]:
    """A complete ``server_vad`` object with the service's defaults."""
    td: dict[str, Any] = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                          "silence_duration_ms": 200}
    if ga:
        td["idle_timeout_ms"] = None
    td.update(create_response=True, interrupt_response=True)
    return td


def semantic_vad_defaults() -> dict[str, Any]:
    """A complete ``semantic_vad`` object with the service's defaults."""
    return {"type": "semantic_vad", "eagerness": "auto", "create_response": True,
            "interrupt_response": True}



def check_turn_detection(value: Any, current: dict[str, Any] | None, param: str,
                         ga: bool) -> dict[str, Any] | None:
    """A complete turn_detection object from a partial one (or None to disable)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise E.invalid_type(param, "an object", value)
    kind = E.want_enum(value, "type", f"{param}.type", VAD_TYPES)
    kind = kind or (current or {}).get("type") or "server_vad"
    if kind == "server_vad":
        allowed = ["type", "threshold", "prefix_padding_ms", "silence_duration_ms",
                   "create_response", "interrupt_response"] + (["idle_timeout_ms"] if ga else [])
    else:
        allowed = ["type", "eagerness", "create_response", "interrupt_response"]
    E.check_keys(value, allowed, f"{param}.")
    E.want_number(value, "threshold", f"{param}.threshold", low=0.0, high=1.0)
    E.want_int(value, "prefix_padding_ms", f"{param}.prefix_padding_ms", minimum=0)
    E.want_int(value, "silence_duration_ms", f"{param}.silence_duration_ms", minimum=0)
    E.want_int(value, "idle_timeout_ms", f"{param}.idle_timeout_ms", minimum=0, nullable=True)
    E.want_bool(value, "create_response", f"{param}.create_response")
    E.want_bool(value, "interrupt_response", f"{param}.interrupt_response")
    E.want_enum(value, "eagerness", f"{param}.eagerness", ("low", "medium", "high", "auto"))
    base = current if current and current.get("type") == kind else (
        server_vad_defaults(ga) if kind == "server_vad" else semantic_vad_defaults())
    merged = dict(base)
    merged.update(value)
    merged["type"] = kind
    return merged


def check_tools(value: Any, param: str, ga: bool) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise E.invalid_type(param, "an array", value)
    for i, tool in enumerate(value):
        p = f"{param}[{i}]"
        if not isinstance(tool, dict):
            raise E.invalid_type(p, "an object", tool)
        kind = E.want_enum(tool, "type", f"{p}.type", ("function", "mcp") if ga else ("function",))
        if kind == "mcp":
            E.want_str(tool, "server_label", f"{p}.server_label", required=True)
            continue
        E.check_keys(tool, ("type", "name", "description", "parameters"), f"{p}.")
        E.want_str(tool, "name", f"{p}.name", required=True)
        E.want_str(tool, "description", f"{p}.description")
        E.want_obj(tool, "parameters", f"{p}.parameters")
    return copy.deepcopy(value)


def check_tool_choice(value: Any, param: str) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        E.want_enum(value, "type", f"{param}.type", ("function", "mcp"))
        E.want_str(value, "name", f"{param}.name", required=value.get("type") == "function")
        return dict(value)
    raise E.invalid_type(param, "a string or an object", value)


def check_max_tokens(value: Any, param: str) -> Any:
    if value == "inf":
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise E.invalid_type(param, "an integer or 'inf'", value)
    if not 1 <= value <= 4096:
        raise E.MockError("integer_out_of_range", f"Invalid '{param}': integer out of range. "
                          f"Expected a value between 1 and 4096, but got {value} instead.", param)
    return value


def check_beta_modalities(value: Any, param: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
        raise E.invalid_type(param, "an array of strings", value)
    for m in value:
        if m not in ("text", "audio"):
            raise E.invalid_value(param, m, ("text", "audio"))
    if sorted(set(value)) not in (["text"], ["audio", "text"]):
        raise E.MockError("invalid_value", f"Invalid modalities: {value}. Supported "
                          "combinations are: ['text'] and ['audio', 'text'].", param)
    return list(value)


def check_ga_modalities(value: Any, param: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
        raise E.invalid_type(param, "an array of strings", value)
    for m in value:
        if m not in ("text", "audio"):
            raise E.invalid_value(param, m, ("text", "audio"))
    if len(set(value)) != 1:
        raise E.MockError("invalid_value", f"Invalid output_modalities: {value}. Supported "
                          "values are: ['text'] and ['audio'].", param)
    return list(value)


def check_beta_format(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise E.invalid_type(param, "a string", value)
    if value not in BETA_FORMATS:
        raise E.invalid_value(param, value, BETA_FORMATS)
    return value


def check_ga_format(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise E.invalid_type(param, "an object", value)
    E.check_keys(value, ("type", "rate"), f"{param}.")
    kind = E.want_enum(value, "type", f"{param}.type", GA_FORMAT_TYPES)
    if kind is None:
        raise E.missing(f"{param}.type")
    out: dict[str, Any] = {"type": kind}
    if kind == "audio/pcm":
        rate = E.want_int(value, "rate", f"{param}.rate")
        if rate not in (None, 24000):
            raise E.invalid_value(f"{param}.rate", rate, ["24000"])
        out["rate"] = 24000
    return out


def check_transcription(value: Any, param: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise E.invalid_type(param, "an object", value)
    for key in ("model", "language", "prompt"):
        E.want_str(value, key, f"{param}.{key}")
    return dict(value)


def check_noise_reduction(value: Any, param: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise E.invalid_type(param, "an object", value)
    E.want_enum(value, "type", f"{param}.type", ("near_field", "far_field"))
    return dict(value)


def check_voice(value: Any, param: str, ga: bool) -> Any:
    if isinstance(value, str) or (ga and isinstance(value, dict) and
                                  isinstance(value.get("id"), str)):
        return value
    raise E.invalid_type(param, "a string", value)
