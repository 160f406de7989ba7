"""Digests and diff rules: what counts as a difference, at which path."""

from __future__ import annotations

import json

import pytest

from rtcapture.replay.diff import DiffOptions, compare_digests, text_similarity
from rtcapture.replay.digest import digest_events
from rtcapture.replay.paths import parse_ignores
from tests.replay.helpers import call_response, records, text_response, user_item

SESSION = ("server", {"type": "session.created", "event_id": "event_s", "session": {
    "id": "sess_1", "expires_at": 1, "instructions": "Be brief.", "voice": "alloy"}}, 1.0)


def session(text: str = "Hello there, how can I help?", *, rid: str = "resp_1",
            item: str = "item_a", ga: bool = True, created_ms: float = 200, audio_ms: int = 0,
            usage: dict | None = None, instructions: str = "Be brief.",
            args: dict | None = None) -> list:
    head = ("server", {"type": "session.created", "event_id": f"event_{rid}s", "session": {
        "id": f"sess_{rid}", "expires_at": 1, "instructions": instructions, "voice": "alloy"}},
        1.0)
    frames = [head, *user_item(f"item_u{rid}", "hi", 10),
              ("client", {"type": "response.create"}, 100),
              *text_response(rid, item, text, created_ms=created_ms, ga=ga, audio_ms=audio_ms,
                             usage=usage)]
    if args is not None:
        frames += [("client", {"type": "response.create"}, 400),
                   *call_response(rid + "c", item + "c", "call_" + rid, args, created_ms=450)]
    return frames


def diff(a: list, b: list, **options: object):
    return compare_digests(digest_events(records(a)), digest_events(records(b)),
                           DiffOptions(**options))  # type: ignore[arg-type]


def paths(result) -> list[str]:
    return [d.path_text for d in result.differences]


def test_same_behaviour_with_other_ids_and_deltas_is_equal() -> None:
    """Ids, event ids, expires_at, rate limits and delta boundaries are not differences."""
    result = diff(session(rid="resp_1", item="item_a"), session(rid="resp_2", item="item_b"))
    assert result.equal, paths(result)


def test_digest_joins_text_and_measures_latency_from_the_trigger() -> None:
    """Text deltas join per response; latency counts from response.create."""
    digest = digest_events(records(session(created_ms=200, audio_ms=480)))
    (resp,) = digest.responses
    assert resp.joined("text") == "Hello there, how can I help?"
    assert resp.trigger == "response.create"
    assert resp.latency() == {"first_audio_ms": 105.0, "first_text_ms": 110.0}
    assert resp.tree()["audio_ms"] == 480.0
    assert "session.created" in digest.events


def test_changed_text_is_reported_with_old_and_new() -> None:
    """Text below the similarity threshold is a difference at response[N].output_text."""
    result = diff(session("The weather is sunny."), session("I cannot help with that."))
    (d,) = result.differences
    assert d.path_text == "response[0].output_text"
    assert (d.old, d.new, d.rule) == ("The weather is sunny.", "I cannot help with that.",
                                      "text")
    assert "similarity" in (d.note or "")


def test_similar_text_passes_the_threshold() -> None:
    """A small wording change stays under a lenient threshold."""
    a, b = "The weather in Paris is sunny today.", "The weather in Paris is sunny today!"
    assert text_similarity(a, b) > 0.9
    assert diff(session(a), session(b)).equal
    assert not diff(session(a), session(b), text_threshold=1.0).equal


def test_audio_duration_tolerance() -> None:
    """Audio is compared by total duration per response, within the tolerance."""
    assert diff(session(audio_ms=1000), session(audio_ms=1100)).equal
    result = diff(session(audio_ms=1000), session(audio_ms=1500))
    assert paths(result) == ["response[0].audio_ms"]
    assert (result.differences[0].old, result.differences[0].new) == (1000.0, 1500.0)


def test_token_counts_are_compared_with_a_relative_tolerance() -> None:
    """Usage counts within the tolerance pass; beyond it they are reported."""
    base = {"total_tokens": 100, "output_tokens": 50}
    assert diff(session(usage=base), session(usage={"total_tokens": 105,
                                                    "output_tokens": 52})).equal
    result = diff(session(usage=base), session(usage={"total_tokens": 100,
                                                      "output_tokens": 80}))
    assert paths(result) == ["response[0].usage.output_tokens"]
    strict = diff(session(usage=base), session(usage={"total_tokens": 101,
                                                      "output_tokens": 50}),
                  token_tolerance=0.0)
    assert paths(strict) == ["response[0].usage.total_tokens"]


def test_latency_is_compared_only_when_asked() -> None:
    """First-audio latency beyond the tolerance is a difference; None disables it."""
    slow = diff(session(created_ms=200, audio_ms=100), session(created_ms=2200, audio_ms=100))
    assert paths(slow) == ["response[0].latency.first_audio_ms",
                           "response[0].latency.first_text_ms"]
    assert slow.differences[0].old == 105.0 and slow.differences[0].new == 2105.0
    assert diff(session(created_ms=200), session(created_ms=2200),
                latency_tolerance_ms=None).equal


def test_function_arguments_compare_as_json() -> None:
    """Arguments are parsed: key order does not matter, a changed value has its own path."""
    same = diff(session(args={"city": "Paris", "unit": "c"}),
                session(args={"unit": "c", "city": "Paris"}))
    assert same.equal
    changed = diff(session(args={"city": "Paris"}), session(args={"city": "Lyon"}))
    assert paths(changed) == ["response[1].output[0].arguments.city"]
    assert (changed.differences[0].old, changed.differences[0].new) == ("Paris", "Lyon")


def test_session_fields_and_missing_responses() -> None:
    """Session events compare field by field; an extra response is reported whole."""
    result = diff(session(instructions="Be brief."), session(instructions="Be verbose.",
                                                             args={"city": "Oslo"}))
    assert paths(result) == ["response[1]", "session.created[0].session.instructions"]
    added = result.differences[0]
    assert added.kind == "added" and added.old is None
    assert added.new["output"] == [{"type": "function_call", "name": "get_weather",
                                    "arguments": {"city": "Oslo"}}]


def test_status_and_error_changes() -> None:
    """A new error event and a changed status are differences; ids inside messages are not."""
    def with_error(frames: list, message: str) -> list:
        return frames + [("server", {"type": "error", "event_id": "event_e", "error": {
            "type": "invalid_request_error", "code": "item_not_found", "message": message}},
            900)]

    a = with_error(session(), "Item item_AAAAAAAAAAAA not found")
    assert diff(a, with_error(session(), "Item item_BBBBBBBBBBBB not found")).equal
    assert paths(diff(session(), a)) == ["error[0]"]
    cancelled = session()
    done = cancelled[-1][1]
    done["response"]["status"] = "cancelled"
    result = diff(session(), cancelled)
    assert paths(result) == ["response[0].status"]
    assert (result.differences[0].old, result.differences[0].new) == ("completed", "cancelled")


def test_dialects_compare_by_meaning() -> None:
    """A beta recording and a GA one of the same exchange do not differ."""
    assert diff(session(ga=False), session(ga=True)).equal
    beta = digest_events(records(session(ga=False)))
    assert beta.responses[0].joined("text") == "Hello there, how can I help?"


@pytest.mark.parametrize("pattern, left", [
    ("response[0].output_text", []),
    ("response[*].output_text", []),
    ("response.output_text", []),
    ("response[1]", ["response[0].output_text"]),
])
def test_ignore_suppresses_and_counts(pattern: str, left: list[str]) -> None:
    """--ignore drops matching differences and says how many each pattern hid."""
    result = diff(session("The weather is sunny."), session("I cannot help with that."),
                  ignore=parse_ignores([pattern]))
    assert paths(result) == left
    assert result.suppressed == {pattern: 1 - len(left)}


def test_reported_paths_can_be_pasted_into_ignore() -> None:
    """Every path a diff prints, given back as --ignore, silences exactly it."""
    a = session("Sunny.", audio_ms=100, usage={"output_tokens": 10}, args={"city": "Paris"})
    b = session("Rain and storms all week.", audio_ms=900, usage={"output_tokens": 90},
                instructions="Other.", args={"city": "Lyon"})
    found = paths(diff(a, b))
    assert len(found) >= 5
    for path in found:
        assert path not in paths(diff(a, b, ignore=parse_ignores([path])))
    assert diff(a, b, ignore=parse_ignores(found)).equal


def test_differences_serialise_to_json() -> None:
    """The report form has the path as printed, kind, rule, old and new."""
    (d,) = diff(session(args={"city": "Paris"}), session(args={"city": "Lyon"})).differences
    assert json.loads(json.dumps(d.to_json())) == {
        "path": "response[1].output[0].arguments.city", "kind": "changed", "rule": "exact",
        "old": "Paris", "new": "Lyon"}
