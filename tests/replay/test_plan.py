"""Pacing decisions: which server events each recorded client frame waits for."""

from __future__ import annotations

import json

from rtcapture.replay.plan import (
    EventKey,
    EventKeyer,
    PlanEnd,
    PlannedFrame,
    Planner,
    RecordedIds,
    is_milestone,
    is_tracked,
)
from rtcapture.replay.source import plan_items
from tests.replay.helpers import audio_b64, call_response, records, text_response, user_item

SESSION_CREATED = ("server", {"type": "session.created", "event_id": "event_s",
                              "session": {"id": "sess_1"}}, 1.0)


def frames_of(items: list) -> list[PlannedFrame]:
    return [i for i in items if isinstance(i, PlannedFrame)]


def test_untracked_and_milestone_types() -> None:
    """Deltas, rate limits and conversation.created are never waited for; nor errors."""
    assert not is_tracked("response.output_audio.delta")
    assert not is_tracked("rate_limits.updated")
    assert not is_tracked("conversation.created")
    assert is_tracked("error") and not is_milestone("error")
    assert is_tracked("conversation.item.input_audio_transcription.completed")
    assert not is_milestone("conversation.item.input_audio_transcription.completed")
    assert is_milestone("response.done")


def test_keys_survive_different_ids_and_delta_counts() -> None:
    """Two runs of the same exchange give the same keys, whatever the ids and deltas."""
    def keys(rid: str, item: str, deltas: int) -> list[EventKey]:
        keyer = EventKeyer()
        out = []
        for ev in records(text_response(rid, item, "Hello world", created_ms=0,
                                        deltas=deltas)):
            key = keyer.key(json.loads(ev.data))
            if key is not None:
                out.append(key)
        return out

    first, second = keys("resp_a", "item_a", 2), keys("resp_b", "item_b", 5)
    assert first == second
    assert EventKey(0, "response.done", 0) in first
    assert all(k.response == 0 for k in first)


def test_items_of_a_response_are_scoped_to_it() -> None:
    """Events about a response's item (e.g. its truncation) belong to that response."""
    keyer = EventKeyer()
    for ev in records(text_response("resp_1", "item_1", "hi", created_ms=0)):
        keyer.key(json.loads(ev.data))
    key = keyer.key({"type": "conversation.item.truncated", "item_id": "item_1"})
    assert key == EventKey(0, "conversation.item.truncated", 0)
    assert keyer.key({"type": "conversation.item.deleted", "item_id": "item_user"}) == \
        EventKey(None, "conversation.item.deleted", 0)


def test_next_item_waits_for_the_previous_response_done() -> None:
    """The conversation.item.create after a response waits for its response.done."""
    frames = [SESSION_CREATED, *user_item("item_u1", "hi", 10),
              ("client", {"type": "response.create"}, 12),
              *text_response("resp_1", "item_a1", "Hello", created_ms=20),
              *user_item("item_u2", "again", 500)]
    planned = frames_of(list(plan_items(records(frames))))
    create_after = planned[-1]
    assert create_after.type == "conversation.item.create"
    assert EventKey(0, "response.done", 0) in create_after.deps
    assert create_after.anchor == EventKey(0, "response.done", 0)
    assert create_after.anchor_gap_ns == int((500 - 72) * 1e6)
    first = planned[0]
    assert first.deps == (EventKey(None, "session.created", 0),)


def test_function_output_waits_for_the_call_and_references_it() -> None:
    """function_call_output depends on the arguments and translates the call id."""
    frames = [SESSION_CREATED, *user_item("item_u1", "weather?", 10),
              ("client", {"type": "response.create"}, 12),
              *call_response("resp_1", "item_fc", "call_abc", {"city": "Paris"},
                             created_ms=20)[:4],
              ("client", {"type": "conversation.item.create", "item": {
                  "type": "function_call_output", "call_id": "call_abc", "output": "{}"}},
               30)]
    planned = frames_of(list(plan_items(records(frames))))
    output = planned[-1]
    assert output.refs == ("call_abc",)
    assert EventKey(0, "response.function_call_arguments.done", 0) in output.deps
    assert EventKey(0, "response.output_item.added", 0) in output.deps  # introduced the call


def test_appends_depend_on_nothing_and_keep_their_gaps() -> None:
    """Audio appends stream on their recorded clock."""
    frames = [SESSION_CREATED,
              *[("client", {"type": "input_audio_buffer.append", "audio": audio_b64(20)},
                 100 + 20 * i) for i in range(3)],
              ("server", {"type": "input_audio_buffer.speech_started", "event_id": "e",
                          "item_id": "item_u", "audio_start_ms": 0}, 150),
              ("client", {"type": "input_audio_buffer.append", "audio": audio_b64(20)}, 160)]
    planned = frames_of(list(plan_items(records(frames))))
    assert [p.deps for p in planned] == [()] * 4
    assert [p.prev_gap_ns for p in planned] == [100_000_000, 20_000_000, 20_000_000,
                                                 20_000_000]


def test_truncate_references_the_assistant_item() -> None:
    """A truncate names the item it cuts; the replay waits for that item and maps it."""
    frames = [SESSION_CREATED, ("client", {"type": "response.create"}, 5),
              *text_response("resp_1", "item_a1", "Hello", created_ms=10),
              ("client", {"type": "conversation.item.truncate", "item_id": "item_a1",
                          "content_index": 0, "audio_end_ms": 100}, 90)]
    items = list(plan_items(records(frames)))
    truncate = frames_of(items)[-1]
    assert truncate.refs == ("item_a1",)
    assert EventKey(0, "response.output_item.added", 0) in truncate.deps
    learnt = {i.key: i.ids for i in items if isinstance(i, RecordedIds)}
    assert learnt[EventKey(0, "response.output_item.added", 0)][("item", "id")] == "item_a1"


def test_client_chosen_ids_are_not_references_until_the_server_echoes_them() -> None:
    """An item id the client picks is not a dependency of the frame that creates it."""
    create = ("client", {"type": "conversation.item.create", "item": {
        "id": "my-item", "type": "message", "role": "user", "content": []}}, 10)
    echo = ("server", {"type": "conversation.item.added", "event_id": "e1",
                       "item": {"id": "my-item"}}, 11)
    delete = ("client", {"type": "conversation.item.delete", "item_id": "my-item"}, 20)
    planned = frames_of(list(plan_items(records([SESSION_CREATED, create, echo, delete]))))
    assert planned[0].refs == ()
    assert planned[1].refs == ("my-item",)
    assert EventKey(None, "conversation.item.added", 0) in planned[1].deps


def test_undelivered_client_frames_are_not_replayed() -> None:
    """Frames that never reached the server in the recording are skipped."""
    recs = records([SESSION_CREATED, ("client", {"type": "response.create"}, 5),
                    ("client", {"type": "response.cancel"}, 6)])
    recs[-1].delivered = False
    planned = frames_of(list(plan_items(recs)))
    assert [p.type for p in planned] == ["response.create"]


def test_the_end_waits_for_the_last_response_and_expects_every_tracked_event() -> None:
    """After the last client frame, the replay waits for the recording's final events."""
    frames = [SESSION_CREATED, ("client", {"type": "response.create"}, 5),
              *text_response("resp_1", "item_a1", "Hello", created_ms=10),
              ("server", {"type": "error", "event_id": "e", "error": {"code": "x"}}, 200)]
    end = list(plan_items(records(frames)))[-1]
    assert isinstance(end, PlanEnd)
    assert EventKey(0, "response.done", 0) in end.deps
    assert EventKey(None, "error", 0) in end.expected
    assert end.server_frames == sum(1 for f in frames if f[0] == "server")
    assert end.tail_ns == 0  # the error came last and is tracked
    cut = frames[:-1] + [("server", {"type": "response.output_audio.delta", "delta": "",
                                     "response_id": "resp_1"}, 300)]
    end = list(plan_items(records(cut)))[-1]
    assert end.tail_ns == int((300 - 62) * 1e6)  # after the response.done at 62 ms
    assert not any(k.type.endswith(".delta") or k.type == "rate_limits.updated"
                   for k in end.expected)


def test_finished_response_stands_in_for_its_missing_events() -> None:
    """A response's inner events can be proven absent by its response.done; others not."""
    assert EventKey(2, "response.function_call_arguments.done", 0).ends_with_response
    assert EventKey(2, "conversation.item.added", 0).ends_with_response
    assert not EventKey(2, "response.done", 0).ends_with_response
    assert not EventKey(2, "conversation.item.truncated", 0).ends_with_response
    assert not EventKey(None, "session.updated", 0).ends_with_response


def test_planner_is_incremental() -> None:
    """Feeding events one at a time gives the same plan as the generator."""
    frames = [SESSION_CREATED, ("client", {"type": "response.create"}, 5),
              *text_response("resp_1", "item_a1", "Hello", created_ms=10)]
    planner = Planner()
    fed = [item for ev in records(frames) if (item := planner.feed(ev)) is not None]
    assert fed + [planner.finish()] == list(plan_items(records(frames)))
