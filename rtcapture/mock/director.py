"""Per-connection scenario state: picks each response's reply, tool call, pacing or fault."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from .scenario import Pacing, Rule, Scenario, ToolCallSpec, UserAudio

_GENERIC_WORDS = {"get", "set", "fetch", "find", "lookup", "look", "up", "check", "search",
                  "do", "make", "call", "run", "query", "the", "a", "an", "of", "for", "to"}
_PLACEHOLDER = re.compile(r"\{(user_text|tool_name|tool_output|turn)\}")


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What a response is answering."""

    turn: int
    user_text: str
    tool_name: str | None = None
    tool_output: str | None = None
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: Any = "auto"


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What one response does."""

    pacing: Pacing
    reply: str | None = None
    tool_call: ToolCall | None = None
    error: dict[str, Any] | None = None
    fail: dict[str, Any] | None = None
    close: tuple[int, str] | None = None


def _tool_names(tools: tuple[dict[str, Any], ...]) -> list[str]:
    return [t["name"] for t in tools if isinstance(t, dict) and t.get("type", "function") ==
            "function" and isinstance(t.get("name"), str)]


def mentioned_tool(text: str, tools: tuple[dict[str, Any], ...]) -> str | None:
    """The first function tool whose name, or a meaningful word of it, the text contains."""
    lowered = text.lower()
    for name in _tool_names(tools):
        if name.lower() in lowered:
            return name
        words = [w for w in re.split(r"[_\-\s.]+|(?<=[a-z])(?=[A-Z])", name)
                 if w and w.lower() not in _GENERIC_WORDS]
        if words and all(re.search(rf"\b{re.escape(w.lower())}", lowered) for w in words):
            return name
    return None


def example_arguments(schema: Any, user_text: str) -> dict[str, Any]:
    """Arguments that satisfy a JSON schema's shape; strings borrow a capitalised word."""
    if not isinstance(schema, dict):
        return {}
    props = raw if isinstance(raw := schema.get("properties"), dict) else {}
    words = re.findall(r"\b[A-Z][\w'-]*", user_text)
    proper = words[1:] if len(words) > 1 else words
    out: dict[str, Any] = {}
    for key, spec in props.items():
        spec = spec if isinstance(spec, dict) else {}
        enum = spec.get("enum")
        kind = spec.get("type")
        if isinstance(enum, list) and enum:
            out[key] = enum[0]
        elif kind in ("integer", "number"):
            out[key] = 1
        elif kind == "boolean":
            out[key] = True
        elif kind == "array":
            out[key] = []
        elif kind == "object":
            out[key] = example_arguments(spec, user_text)
        else:
            out[key] = proper[-1].strip("'?.!,") if proper else "example"
    return out


def fill(template: str, ctx: TurnContext) -> str:
    """Replace {user_text}, {tool_name}, {tool_output}, {turn}; other braces stay."""
    values = {"user_text": ctx.user_text, "tool_name": ctx.tool_name or "",
              "tool_output": ctx.tool_output or "", "turn": str(ctx.turn)}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


class Director:
    """Applies a scenario to one connection (turn counter, one-shot rules, user audio)."""

    def __init__(self, scenario: Scenario, *, fast: bool = False) -> None:
        self.scenario = scenario
        self.fast = fast
        self._used: set[int] = set()
        self._audio_index = 0

    def next_user_audio(self) -> UserAudio:
        """The transcript (or failure) of the next committed user audio item."""
        entries = self.scenario.user_audio
        if self._audio_index < len(entries):
            entry = entries[self._audio_index]
            self._audio_index += 1
            return entry
        self._audio_index += 1
        return UserAudio(self.scenario.transcript)

    def _matches(self, rule: Rule, ctx: TurnContext) -> bool:
        if rule.turn and ctx.turn not in rule.turn:
            return False
        text = ctx.user_text.lower()
        if rule.match and not any(m in text for m in rule.match):
            return False
        if rule.regex is not None and not rule.regex.search(ctx.user_text):
            return False
        if rule.after_tool is not None and (ctx.tool_name is None or rule.after_tool not in
                                            ("*", ctx.tool_name)):
            return False
        if rule.after_tool is None and ctx.tool_name is not None and (rule.match or rule.regex
                                                                     or rule.tool_mentioned):
            return False  # text conditions refer to the user's words, not a tool result
        return rule.tool_mentioned is None or (
            mentioned_tool(ctx.user_text, ctx.tools) is not None) == rule.tool_mentioned

    def decide(self, ctx: TurnContext) -> Decision:
        """The decision for one response."""
        chosen: Rule | None = None
        for index, rule in enumerate(self.scenario.rules):
            if rule.once and index in self._used:
                continue
            if self._matches(rule, ctx):
                chosen = rule
                self._used.add(index)
                break
        pacing = self.scenario.pacing
        if chosen is not None and chosen.pacing:
            pacing = replace(pacing, **chosen.pacing)
        if self.fast:
            pacing = replace(pacing, latency_ms=0.0, speed=None)
        if chosen is not None and (chosen.error or chosen.fail or chosen.close):
            return Decision(pacing, error=chosen.error, fail=chosen.fail, close=chosen.close)
        reply = fill(chosen.reply, ctx) if chosen is not None and chosen.reply is not None \
            else None
        call = self._tool_call(chosen.tool_call if chosen else None, ctx)
        if reply is None and call is None:
            reply = fill(self.scenario.fallback if ctx.user_text else self.scenario.greeting, ctx)
        return Decision(pacing, reply=reply, tool_call=call)

    def _tool_call(self, spec: ToolCallSpec | None, ctx: TurnContext) -> ToolCall | None:
        names = _tool_names(ctx.tools)
        choice = ctx.tool_choice
        if choice == "none" or not names:
            return None
        forced: str | None = None
        if isinstance(choice, dict) and choice.get("name") in names:
            forced = choice["name"]
        elif isinstance(choice, str) and choice in names:
            forced = choice
        elif choice == "required" and spec is None and ctx.tool_name is None:
            forced = mentioned_tool(ctx.user_text, ctx.tools) or names[0]
        if spec is None and forced is None:
            return None
        if forced is None and spec is not None and spec.name not in ("*", *names):
            return None  # the model can only call tools the session or response offers
        name = forced or (spec.name if spec and spec.name != "*" else None)
        name = name or mentioned_tool(ctx.user_text, ctx.tools) or names[0]
        args: Any = spec.arguments if spec is not None and spec.name in (name, "*") else None
        if args is None:
            tool = next(t for t in ctx.tools if t.get("name") == name) if name in names else {}
            args = example_arguments(tool.get("parameters"), ctx.user_text)
        text = args if isinstance(args, str) else json.dumps(args, separators=(",", ":"))
        return ToolCall(name, text)
