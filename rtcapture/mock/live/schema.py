"""Strict checks of Live client events (``openai.types.live`` params): unknown fields are
rejected with ``unknown_parameter`` and the dotted ``param``, as the service does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...protocol import live

ENVELOPE_KEYS: dict[str, frozenset[str]] = {
    live.SESSION_START: frozenset({"session"}),
    live.SESSION_UPDATE: frozenset({"session"}),
    live.INPUT_APPEND: frozenset({"audio"}),
    live.INPUT_MUTE: frozenset(),
    live.INPUT_UNMUTE: frozenset(),
    live.INSTRUCTIONS_APPEND: frozenset({"content", "delegation_id"}),
    live.THINKING_APPEND: frozenset({"content", "delegation_id"}),
    live.COMMENTARY_APPEND: frozenset({"content", "delegation_id"}),
    live.FIXTURE_PLAY: frozenset({"audio"}),
    live.DECISION_CREATE: frozenset(),
    live.DECISION_ITEM_CREATE: frozenset({"item"}),
    live.DECISION_ITEM_DELETE: frozenset({"item_id"}),
    live.RESPONSE_ITEM_CREATE: frozenset({"item"}),
    live.RESPONSE_CREATE: frozenset(),
    live.SESSION_CLOSE: frozenset(),
    live.DTMF_SEND: frozenset({"event"}),
}
"""Fields (besides ``type`` and ``event_id``) each client event takes."""
PRIMARY_EVENTS = tuple(k for k in ENVELOPE_KEYS if k != live.DTMF_SEND)
"""What a primary WebSocket may send (``ClientEvent``)."""
SIDEBAND_EVENTS = tuple(k for k in ENVELOPE_KEYS if k in live.SIDEBAND_CLIENT_EVENTS)
"""What a sideband may send (``ConnectClientEvent``)."""

_REQUIRED: dict[str, tuple[str, ...]] = {
    live.SESSION_START: ("session",), live.SESSION_UPDATE: ("session",),
    live.INPUT_APPEND: ("audio",), live.FIXTURE_PLAY: ("audio",),
    live.INSTRUCTIONS_APPEND: ("content", "delegation_id"),
    live.THINKING_APPEND: ("content", "delegation_id"),
    live.COMMENTARY_APPEND: ("content", "delegation_id"),
    live.DECISION_CREATE: ("event_id",), live.DECISION_ITEM_CREATE: ("item",),
    live.DECISION_ITEM_DELETE: ("item_id",), live.RESPONSE_ITEM_CREATE: ("item",),
    live.DTMF_SEND: ("event",),
}
_SESSION_KEYS = frozenset({"model", "instructions", "input", "audio", "client", "delegation",
                           "safety_identifier", "store", "triggers"})
_AUDIO_KEYS = frozenset({"format", "output"})
_FORMAT_RATES = {"audio/pcm": (16000, 24000), "audio/pcmu": (8000,), "audio/pcma": (8000,)}
_DELEGATION_KEYS = {"client": frozenset({"type", "acknowledgement_delay_ms"}),
                    "responses": frozenset({"type", "responses", "acknowledgement_delay_ms"}),
                    "decisions": frozenset({"type", "decisions", "acknowledgement_delay_ms"})}
_RESPONSES_KEYS = frozenset({"model", "instructions", "max_output_tokens",
                             "parallel_tool_calls", "reasoning", "service_tier", "text",
                             "tool_choice", "tools"})
_FUNCTION_TOOL_KEYS = frozenset({"type", "name", "description", "parameters", "strict"})
_ITEM_KEYS = frozenset({"type", "role", "content", "id", "status"})
_ROLES = ("developer", "user", "assistant")


@dataclass(frozen=True, slots=True)
class LiveError(Exception):
    """A refused client event: the body of a Live ``error`` event."""

    code: str
    message: str
    param: str | None = None
    type: str = "invalid_request_error"

    def body(self, client_event_id: str | None) -> dict[str, Any]:
        """The ``error`` object (``openai.types.live.Error``)."""
        out: dict[str, Any] = {"type": self.type, "code": self.code, "message": self.message,
                               "param": self.param}
        if client_event_id is not None:
            out["client_event_id"] = client_event_id
        return out


def _unknown(obj: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        param = f"{where}.{extra[0]}" if where else extra[0]
        raise LiveError(live.ERROR_UNKNOWN_PARAMETER, f"Unknown parameter: '{param}'.", param)


def _invalid(param: str, message: str) -> LiveError:
    return LiveError("invalid_value", message, param)


def _object(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise LiveError("invalid_type", f"Invalid type for '{param}': expected an object.",
                        param)
    return value


def check_event(event: dict[str, Any], allowed: tuple[str, ...] = PRIMARY_EVENTS) -> str:
    """The event's type once its envelope is valid (its type one of ``allowed``: the
    primary WebSocket's by default); LiveError otherwise."""
    kind = event.get("type")
    if not isinstance(kind, str) or kind not in allowed:
        raise _invalid("type", f"Invalid value: {kind!r}. Supported values are: "
                       + ", ".join(f"'{t}'" for t in allowed) + ".")
    _unknown(event, ENVELOPE_KEYS[kind] | {"type", "event_id"}, "")
    event_id = event.get("event_id")
    if event_id is not None and (not isinstance(event_id, str) or len(event_id) > 512):
        raise _invalid("event_id", "'event_id' must be a string of at most 512 characters.")
    for key in _REQUIRED.get(kind, ()):
        if key not in event:
            raise LiveError("missing_required_parameter",
                            f"Missing required parameter: '{key}'.", key)
    return kind


def check_session(session: Any, *, update: bool = False) -> dict[str, Any]:
    """A ``session.start`` (or sparse ``session.update``) session object, strictly checked."""
    session = _object(session, "session")
    _unknown(session, frozenset({"delegation", "triggers"}) if update else _SESSION_KEYS,
             "session")
    if not update and not (isinstance(session.get("model"), str) and session["model"]):
        raise LiveError("missing_required_parameter",
                        "Missing required parameter: 'session.model'.", "session.model")
    if "audio" in session:
        audio = _object(session["audio"], "session.audio")
        _unknown(audio, _AUDIO_KEYS, "session.audio")
        if "format" in audio:
            fmt = _object(audio["format"], "session.audio.format")
            _unknown(fmt, frozenset({"type", "rate"}), "session.audio.format")
            rates = _FORMAT_RATES.get(fmt.get("type"))  # type: ignore[arg-type]
            if rates is None or fmt.get("rate") not in rates:
                raise _invalid("session.audio.format", "Unsupported audio format: use "
                               "audio/pcm at 16000 or 24000, or audio/pcmu or audio/pcma "
                               "at 8000.")
        if "output" in audio:
            output = _object(audio["output"], "session.audio.output")
            _unknown(output, frozenset({"voice"}), "session.audio.output")
            voice = output.get("voice")
            if isinstance(voice, dict):
                _unknown(voice, frozenset({"id"}), "session.audio.output.voice")
            elif voice is not None and not isinstance(voice, str):
                raise _invalid("session.audio.output.voice", "Invalid voice.")
    if "input" in session:
        _check_input(session["input"])
    if session.get("delegation") is not None:
        _check_delegation(_object(session["delegation"], "session.delegation"), update)
    return session


def _check_input(items: Any) -> None:
    if not isinstance(items, list) or len(items) > 128:
        raise _invalid("session.input", "'session.input' must be a list of at most 128 "
                       "messages.")
    for i, item in enumerate(items):
        where = f"session.input[{i}]"
        item = _object(item, where)
        _unknown(item, _ITEM_KEYS, where)
        if item.get("role") not in _ROLES:
            raise _invalid(f"{where}.role", "Invalid role.")
        content = item.get("content")
        if not isinstance(content, list) or len(content) != 1:
            raise _invalid(f"{where}.content", "Each message takes exactly one text part.")
        part = _object(content[0], f"{where}.content[0]")
        _unknown(part, frozenset({"type", "text"}), f"{where}.content[0]")


def _check_delegation(delegation: dict[str, Any], update: bool) -> None:
    kind = delegation.get("type")
    if kind not in _DELEGATION_KEYS:
        raise _invalid("session.delegation.type", f"Invalid value: {kind!r}. Supported "
                       "values are: 'client', 'responses' and 'decisions'.")
    _unknown(delegation, _DELEGATION_KEYS[kind], "session.delegation")
    if kind == "responses":
        if "responses" not in delegation and update:
            return
        responses = _object(delegation.get("responses"), "session.delegation.responses")
        _unknown(responses, _RESPONSES_KEYS, "session.delegation.responses")
        if not update and not isinstance(responses.get("model"), str):
            raise LiveError("missing_required_parameter", "Missing required parameter: "
                            "'session.delegation.responses.model'.",
                            "session.delegation.responses.model")
        for i, tool in enumerate(responses.get("tools") or []):
            where = f"session.delegation.responses.tools[{i}]"
            tool = _object(tool, where)
            if tool.get("type") == "function":
                _unknown(tool, _FUNCTION_TOOL_KEYS, where)


def function_tools(session: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The function tools of a Responses delegation (empty for any other delegation)."""
    delegation = session.get("delegation")
    responses = delegation.get("responses") if isinstance(delegation, dict) else None
    tools = responses.get("tools") if isinstance(responses, dict) else None
    return tuple(t for t in tools or () if isinstance(t, dict) and t.get("type") == "function")


def delegation_target(session: dict[str, Any]) -> str:
    """``client`` (also for a null delegation: "your application"), ``responses`` or
    ``decisions``."""
    delegation = session.get("delegation")
    kind = delegation.get("type") if isinstance(delegation, dict) else None
    return kind if kind in ("responses", "decisions") else "client"
