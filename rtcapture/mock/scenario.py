"""Scenario files: what the mock replies, when it calls tools, how fast, which errors.

A scenario is a JSON or TOML document (format in the mock docs). Rules are tried in order
for every response; the first whose conditions all hold decides the reply. Without a file
the built-in ``DEFAULT_SCENARIO`` echoes the user and calls a configured tool the user
mentions.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
PACING_NAMES = ("realtime", "fast")


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message is one line."""


@dataclass(frozen=True, slots=True)
class Pacing:
    """How a reply is streamed. ``speed`` None means as fast as possible."""

    latency_ms: float = 200.0
    speed: float | None = 1.0
    text_rate: float = 120.0
    """Characters per second of text deltas and function-call arguments."""
    audio_chunk_ms: int = 100


@dataclass(frozen=True, slots=True)
class ToolCallSpec:
    name: str
    """A tool name, or ``"*"``: the tool the user mentioned (else the first configured)."""
    arguments: Any = None
    """A JSON object or string; None derives example arguments from the tool's schema."""


@dataclass(frozen=True, slots=True)
class UserAudio:
    """What the mock "hears" in one committed user audio item."""

    transcript: str
    fail: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    """Conditions (all must hold) and what to do."""

    turn: tuple[int, ...] = ()
    match: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    after_tool: str | None = None
    tool_mentioned: bool | None = None
    once: bool = False
    reply: str | None = None
    tool_call: ToolCallSpec | None = None
    error: dict[str, Any] | None = None
    fail: dict[str, Any] | None = None
    close: tuple[int, str] | None = None
    pacing: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A parsed scenario."""

    name: str = "default"
    description: str = ""
    pacing: Pacing = Pacing()
    transcript: str = "Hello, can you hear me?"
    fallback: str = "You said: {user_text}"
    greeting: str = "Hello! This is the rtcapture mock Realtime server."
    user_audio: tuple[UserAudio, ...] = ()
    rules: tuple[Rule, ...] = ()


DEFAULT_RULES = (
    Rule(after_tool="*", reply="The {tool_name} tool returned: {tool_output}"),
    Rule(tool_mentioned=True, tool_call=ToolCallSpec("*")),
)
DEFAULT_SCENARIO = Scenario(
    description="Echoes the user; calls a configured tool the user mentions.",
    rules=DEFAULT_RULES,
)


# --------------------------------------------------------------------------- parsing

_TOP_KEYS = {"rtcapture_scenario", "name", "description", "defaults", "user_audio", "rules"}
_DEFAULT_KEYS = {"latency_ms", "pacing", "text_rate", "audio_chunk_ms", "transcript",
                 "fallback", "greeting"}
_PACING_KEYS = {"latency_ms", "pacing", "text_rate", "audio_chunk_ms"}
_RULE_KEYS = {"turn", "match", "regex", "after_tool", "tool_mentioned", "once", "reply",
              "tool_call", "error", "fail", "close"} | _PACING_KEYS


def _fail(where: str, message: str) -> ScenarioError:
    return ScenarioError(f"{where}: {message}")


def _expect(value: Any, kinds: type | tuple[type, ...], where: str, what: str) -> Any:
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise _fail(where, f"expected {what}")
    if not isinstance(value, kinds):
        raise _fail(where, f"expected {what}")
    return value


def _pacing_overrides(raw: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "latency_ms" in raw:
        value = _expect(raw["latency_ms"], (int, float), f"{where}.latency_ms", "a number")
        if value < 0:
            raise _fail(f"{where}.latency_ms", "must be >= 0")
        out["latency_ms"] = float(value)
    if "pacing" in raw:
        value = raw["pacing"]
        if value == "fast":
            out["speed"] = None
        elif value == "realtime":
            out["speed"] = 1.0
        elif isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            out["speed"] = float(value)
        else:
            raise _fail(f"{where}.pacing", "expected 'realtime', 'fast' or a positive number")
    if "text_rate" in raw:
        value = _expect(raw["text_rate"], (int, float), f"{where}.text_rate", "a number")
        if value <= 0:
            raise _fail(f"{where}.text_rate", "must be > 0")
        out["text_rate"] = float(value)
    if "audio_chunk_ms" in raw:
        value = _expect(raw["audio_chunk_ms"], int, f"{where}.audio_chunk_ms", "an integer")
        if not 10 <= value <= 5000:
            raise _fail(f"{where}.audio_chunk_ms", "must be between 10 and 5000")
        out["audio_chunk_ms"] = value
    return out


def _error_spec(value: Any, where: str) -> dict[str, Any]:
    _expect(value, dict, where, "a table/object")
    unknown = set(value) - {"type", "code", "message", "param"}
    if unknown:
        raise _fail(where, f"unknown key {sorted(unknown)[0]!r}")
    for key in ("type", "code", "message", "param"):
        if key in value and value[key] is not None:
            _expect(value[key], str, f"{where}.{key}", "a string")
    return {"type": value.get("type", "invalid_request_error"), "code": value.get("code"),
            "message": value.get("message", "Injected error."), "param": value.get("param")}


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(_expect(v, str, where, "a string or a list of strings") for v in items)


def _rule(raw: Any, where: str) -> Rule:
    _expect(raw, dict, where, "a table/object")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise _fail(where, f"unknown key {sorted(unknown)[0]!r}")
    kw: dict[str, Any] = {}
    if "turn" in raw:
        turns = raw["turn"] if isinstance(raw["turn"], list) else [raw["turn"]]
        kw["turn"] = tuple(_expect(t, int, f"{where}.turn", "an integer or a list of integers")
                           for t in turns)
    if "match" in raw:
        kw["match"] = tuple(m.lower() for m in _str_list(raw["match"], f"{where}.match"))
    if "regex" in raw:
        try:
            kw["regex"] = re.compile(_expect(raw["regex"], str, f"{where}.regex", "a string"),
                                     re.IGNORECASE)
        except re.error as exc:
            raise _fail(f"{where}.regex", f"invalid regular expression: {exc}") from None
    if "after_tool" in raw:
        kw["after_tool"] = _expect(raw["after_tool"], str, f"{where}.after_tool", "a string")
    for key in ("tool_mentioned", "once"):
        if key in raw:
            kw[key] = _expect(raw[key], bool, f"{where}.{key}", "true or false")
    if "reply" in raw:
        kw["reply"] = _expect(raw["reply"], str, f"{where}.reply", "a string")
    if "tool_call" in raw:
        tc = _expect(raw["tool_call"], dict, f"{where}.tool_call", "a table/object")
        unknown = set(tc) - {"name", "arguments"}
        if unknown:
            raise _fail(f"{where}.tool_call", f"unknown key {sorted(unknown)[0]!r}")
        name = _expect(tc.get("name"), str, f"{where}.tool_call.name", "a string")
        args = tc.get("arguments")
        if args is not None:
            _expect(args, (dict, str), f"{where}.tool_call.arguments", "an object or a string")
        kw["tool_call"] = ToolCallSpec(name, args)
    if "error" in raw:
        kw["error"] = _error_spec(raw["error"], f"{where}.error")
    if "fail" in raw:
        kw["fail"] = _error_spec(raw["fail"], f"{where}.fail")
    if "close" in raw:
        close = _expect(raw["close"], dict, f"{where}.close", "a table/object")
        code = _expect(close.get("code"), int, f"{where}.close.code", "an integer")
        if not (code == 1000 or 1001 <= code <= 1003 or 1007 <= code <= 1014 or
                3000 <= code <= 4999):
            raise _fail(f"{where}.close.code", f"{code} is not a close code a server may send")
        reason = _expect(close.get("reason", ""), str, f"{where}.close.reason", "a string")
        kw["close"] = (code, reason)
    kw["pacing"] = _pacing_overrides(raw, where)
    return Rule(**kw)


def parse_scenario(data: Any, source: str = "scenario") -> Scenario:
    """A Scenario from a decoded JSON/TOML document; ScenarioError if it is not valid."""
    _expect(data, dict, source, "a table/object at the top level")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise _fail(source, f"unknown key {sorted(unknown)[0]!r}")
    version = data.get("rtcapture_scenario", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise _fail(source, f"unsupported rtcapture_scenario version {version!r} "
                    f"(this rtcapture reads {FORMAT_VERSION})")
    defaults = _expect(data.get("defaults", {}), dict, f"{source}: defaults", "a table/object")
    unknown = set(defaults) - _DEFAULT_KEYS
    if unknown:
        raise _fail(f"{source}: defaults", f"unknown key {sorted(unknown)[0]!r}")
    kw: dict[str, Any] = {}
    for key in ("transcript", "fallback", "greeting"):
        if key in defaults:
            kw[key] = _expect(defaults[key], str, f"{source}: defaults.{key}", "a string")
    for key in ("name", "description"):
        if key in data:
            kw[key] = _expect(data[key], str, f"{source}: {key}", "a string")
    pacing = replace(Pacing(), **_pacing_overrides(defaults, f"{source}: defaults"))
    user_audio = []
    for i, raw in enumerate(_expect(data.get("user_audio", []), list,
                                    f"{source}: user_audio", "a list")):
        where = f"{source}: user_audio[{i}]"
        _expect(raw, dict, where, "a table/object")
        if set(raw) - {"transcript", "fail"}:
            raise _fail(where, f"unknown key {sorted(set(raw) - {'transcript', 'fail'})[0]!r}")
        transcript = _expect(raw.get("transcript", ""), str, f"{where}.transcript", "a string")
        fail = _expect(raw.get("fail", False), bool, f"{where}.fail", "true or false")
        user_audio.append(UserAudio(transcript, fail))
    if "rules" in data:
        rules = tuple(_rule(raw, f"{source}: rules[{i}]") for i, raw in enumerate(
            _expect(data["rules"], list, f"{source}: rules", "a list")))
    else:  # no rules given: the built-in ones (an empty list means none at all)
        rules = DEFAULT_RULES
    return Scenario(pacing=pacing, user_audio=tuple(user_audio), rules=rules, **kw)


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file (``.toml``, else JSON); ScenarioError with a one-line message."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError, RecursionError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScenarioError(f"{path.name}: not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'}: {detail}") from None
    return parse_scenario(data, path.name)
