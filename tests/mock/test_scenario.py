"""Scenario files (parsing, errors, samples) and the per-connection director."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rtcapture.cli import cli
from rtcapture.mock import DEFAULT_SCENARIO, ScenarioError, load_scenario, parse_scenario
from rtcapture.mock.director import Director, TurnContext, example_arguments, mentioned_tool

from .helpers import GA_TOOLS

SAMPLES = sorted((Path(__file__).parents[2] / "samples" / "scenarios").glob("*.*"))
TOOLS = tuple(GA_TOOLS)


@pytest.mark.parametrize("path", [p for p in SAMPLES if p.suffix in (".toml", ".json")],
                         ids=lambda p: p.name)
def test_sample_scenarios_load(path: Path) -> None:
    """Every shipped sample is a valid scenario with a name and a description."""
    scenario = load_scenario(path)
    assert scenario.name and scenario.description and scenario.rules


def test_toml_and_json_read_the_same(tmp_path) -> None:
    """The same document as TOML or JSON gives the same scenario."""
    (tmp_path / "s.toml").write_text('name = "x"\n[defaults]\npacing = 2.5\n'
                                     '[[rules]]\nturn = [1, 2]\nreply = "hi"\n')
    (tmp_path / "s.json").write_text(json.dumps({"name": "x", "defaults": {"pacing": 2.5},
                                                 "rules": [{"turn": [1, 2], "reply": "hi"}]}))
    a, b = load_scenario(tmp_path / "s.toml"), load_scenario(tmp_path / "s.json")
    assert a == b and a.pacing.speed == 2.5 and a.rules[0].turn == (1, 2)


@pytest.mark.parametrize(("doc", "message"), [
    ({"rules": [{"rpely": "x"}]}, "rules[0]: unknown key 'rpely'"),
    ({"rules": [{"turn": "one"}]}, "rules[0].turn: expected an integer"),
    ({"rules": [{"regex": "("}]}, "rules[0].regex: invalid regular expression"),
    ({"rules": [{"close": {"code": 1006}}]}, "1006 is not a close code"),
    ({"defaults": {"pacing": "slow"}}, "defaults.pacing: expected 'realtime', 'fast'"),
    ({"defaults": {"latency_ms": -1}}, "latency_ms: must be >= 0"),
    ({"rtcapture_scenario": 9}, "unsupported rtcapture_scenario version 9"),
    ({"user_audio": [{"transcript": 3}]}, "user_audio[0].transcript: expected a string"),
    ([1, 2], "expected a table/object at the top level"),
])
def test_bad_scenarios_say_where(doc, message) -> None:
    """Each mistake is reported on one line naming its place in the file."""
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc, "s.json")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_unreadable_and_malformed_files(tmp_path) -> None:
    """Missing files and syntax errors are ScenarioErrors too."""
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "nope.json")
    (tmp_path / "bad.toml").write_text("[[rules]\n")
    with pytest.raises(ScenarioError, match="bad.toml: not valid TOML"):
        load_scenario(tmp_path / "bad.toml")


def test_rules_default_unless_given() -> None:
    """A file without ``rules`` keeps the built-in ones; ``rules = []`` means none."""
    assert parse_scenario({}).rules == DEFAULT_SCENARIO.rules
    assert parse_scenario({"rules": []}).rules == ()


def ctx(text: str = "", turn: int = 1, **kw) -> TurnContext:
    return TurnContext(turn=turn, user_text=text, **kw)


def test_rules_by_turn_text_regex_and_once() -> None:
    """Conditions combine; ``once`` rules fire a single time; first match wins."""
    director = Director(parse_scenario({"rules": [
        {"turn": 2, "reply": "second"},
        {"match": ["hello", "hi"], "once": True, "reply": "greeting {turn}"},
        {"regex": r"\border\s+\d+", "reply": "order for {user_text}"},
    ]}))
    assert director.decide(ctx("Hello!")).reply == "greeting 1"
    assert director.decide(ctx("hello", turn=2)).reply == "second"
    assert director.decide(ctx("hello", turn=3)).reply == "You said: hello"  # once: used
    assert director.decide(ctx("my ORDER 66", turn=4)).reply == "order for my ORDER 66"
    assert director.decide(ctx("", turn=5)).reply == DEFAULT_SCENARIO.greeting


def test_tool_calls_follow_rules_and_tool_choice() -> None:
    """Mentioned tools are called with schema-shaped arguments; tool_choice is honoured."""
    director = Director(DEFAULT_SCENARIO)
    call = director.decide(ctx("What's the weather in Lisbon?", tools=TOOLS)).tool_call
    assert call is not None and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Lisbon"}
    assert director.decide(ctx("weather?", tools=TOOLS, tool_choice="none")).tool_call is None
    forced = director.decide(ctx("hi", tools=TOOLS, tool_choice="required")).tool_call
    assert forced is not None and forced.name == "get_weather"
    named = director.decide(ctx("hi", tools=TOOLS, tool_choice={"type": "function",
                                                               "name": "get_weather"}))
    assert named.tool_call is not None
    after = director.decide(ctx("weather", tools=TOOLS, tool_name="get_weather",
                                tool_output="sunny"))
    assert after.tool_call is None and after.reply == "The get_weather tool returned: sunny"


def test_tool_helpers() -> None:
    """Mentions match meaningful name words; example arguments cover JSON schema types."""
    assert mentioned_tool("look up my ORDER status", ({"name": "getOrderStatus"},)) == \
        "getOrderStatus"
    assert mentioned_tool("nothing here", ({"name": "get_weather"},)) is None
    schema = {"properties": {"n": {"type": "integer"}, "ok": {"type": "boolean"},
                             "unit": {"enum": ["c", "f"]}, "tags": {"type": "array"},
                             "where": {"type": "object", "properties": {
                                 "city": {"type": "string"}}}}}
    assert example_arguments(schema, "Flights to Berlin") == {
        "n": 1, "ok": True, "unit": "c", "tags": [], "where": {"city": "Berlin"}}


def test_user_audio_then_default_transcript_and_fast_pacing() -> None:
    """user_audio entries are consumed in order; fast mode drops latency and pacing."""
    director = Director(parse_scenario({"user_audio": [{"transcript": "one"},
                                                       {"fail": True}]}), fast=True)
    assert director.next_user_audio().transcript == "one"
    assert director.next_user_audio().fail is True
    assert director.next_user_audio().transcript == DEFAULT_SCENARIO.transcript
    pacing = director.decide(ctx("x")).pacing
    assert pacing.speed is None and pacing.latency_ms == 0


def test_cli_rejects_a_bad_scenario_in_one_line(tmp_path) -> None:
    """A broken scenario file exits 2 with one line and no traceback."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"rules": [{"reply": 5}]}')
    result = CliRunner().invoke(cli, ["mock", "--scenario", str(bad)])
    assert result.exit_code == 2
    assert "rules[0].reply: expected a string" in result.output
    assert "Traceback" not in result.output
    both = CliRunner().invoke(cli, ["mock", "--scenario", str(bad), "--playback", "last"])
    assert both.exit_code == 2 and "cannot be used together" in both.output


def test_scenario_cannot_call_a_tool_that_is_not_offered() -> None:
    """A rule naming an unconfigured tool falls back to a reply."""
    director = Director(parse_scenario({"rules": [{"match": "x", "tool_call": {
        "name": "launch_rocket"}}]}))
    decision = director.decide(ctx("x marks the spot", tools=TOOLS))
    assert decision.tool_call is None and decision.reply == "You said: x marks the spot"
