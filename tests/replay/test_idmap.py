"""Id learning and the rewriting of client frames."""

from __future__ import annotations

import json

from rtcapture.replay.idmap import IdMap, dumps_like, id_values, rewrite_frame


def learnt(pairs: dict[str, str]) -> IdMap:
    idmap = IdMap()
    for n, (old, new) in enumerate(pairs.items()):
        idmap.recorded(n, {("item", "id"): old})
        idmap.replayed(n, {("item", "id"): new})
    return idmap


def test_id_values_finds_ids_at_any_depth() -> None:
    """Item, response, call and previous-item ids are found, event_id is not."""
    event = {"type": "response.done", "event_id": "event_1", "response": {
        "id": "resp_1", "output": [{"id": "item_1", "call_id": "call_1"}]},
        "previous_item_id": "item_0"}
    assert id_values(event) == {("response", "id"): "resp_1",
                                ("response", "output", 0, "id"): "item_1",
                                ("response", "output", 0, "call_id"): "call_1",
                                ("previous_item_id",): "item_0"}


def test_pairs_form_in_either_order_and_first_pairing_wins() -> None:
    """The replay's event may arrive before the recording's is read, or after."""
    idmap = IdMap()
    idmap.replayed("k1", {("item", "id"): "item_new"})
    idmap.recorded("k1", {("item", "id"): "item_old"})
    idmap.recorded("k2", {("response_id",): "resp_old", ("item_id",): "item_old"})
    idmap.replayed("k2", {("response_id",): "resp_new", ("item_id",): "item_other"})
    assert idmap.mapping == {"item_old": "item_new", "resp_old": "resp_new"}
    assert idmap.get("nope") is None


def test_rewrite_keeps_every_other_byte() -> None:
    """Only the id changes; separators and key order stay as recorded (SDK style)."""
    data = json.dumps({"type": "conversation.item.truncate", "item_id": "item_old",
                       "content_index": 0, "audio_end_ms": 1500}).encode()
    out, unmapped = rewrite_frame(data, ["item_old"], learnt({"item_old": "item_NEW123"}))
    assert out == data.replace(b"item_old", b"item_NEW123")
    assert unmapped == []


def test_rewrite_keeps_compact_json_compact() -> None:
    """Node-style compact JSON stays compact."""
    data = b'{"type":"response.cancel","response_id":"resp_old"}'
    out, _ = rewrite_frame(data, ["resp_old"], learnt({"resp_old": "resp_new"}))
    assert out == b'{"type":"response.cancel","response_id":"resp_new"}'


def test_rewrite_every_reference_kind() -> None:
    """previous_item_id, function output call_id and item_reference ids are all mapped."""
    idmap = learnt({"item_a": "item_A", "call_b": "call_B", "item_c": "item_C"})
    create = {"type": "conversation.item.create", "previous_item_id": "item_a",
              "item": {"type": "function_call_output", "call_id": "call_b", "output": "{}"}}
    out, _ = rewrite_frame(json.dumps(create).encode(), ["item_a", "call_b"], idmap)
    assert json.loads(out)["previous_item_id"] == "item_A"
    assert json.loads(out)["item"]["call_id"] == "call_B"
    ref = {"type": "response.create", "response": {"input": [
        {"type": "item_reference", "id": "item_c"}]}}
    out, _ = rewrite_frame(json.dumps(ref).encode(), ["item_c"], idmap)
    assert json.loads(out)["response"]["input"][0]["id"] == "item_C"


def test_ids_inside_text_are_left_alone() -> None:
    """An id quoted in free text is not an id field: the frame is re-serialised instead."""
    event = {"type": "conversation.item.create", "previous_item_id": "item_a",
             "item": {"type": "message", "role": "user", "content": [
                 {"type": "input_text", "text": "item_a"}]}}
    data = json.dumps(event).encode()
    out, _ = rewrite_frame(data, ["item_a"], learnt({"item_a": "item_Z"}))
    decoded = json.loads(out)
    assert decoded["previous_item_id"] == "item_Z"
    assert decoded["item"]["content"][0]["text"] == "item_a"
    assert out == json.dumps(decoded).encode()  # still the recording's style


def test_unlearnt_references_are_reported_and_sent_unchanged() -> None:
    """A reference the replay never learnt is returned as unmapped; bytes untouched."""
    data = b'{"type": "conversation.item.delete", "item_id": "item_gone"}'
    out, unmapped = rewrite_frame(data, ["item_gone"], IdMap())
    assert out == data
    assert unmapped == ["item_gone"]


def test_swapped_ids_do_not_collide() -> None:
    """Substitution is simultaneous: a->b and b->a swap cleanly."""
    data = json.dumps({"type": "x", "item_id": "item_a", "previous_item_id": "item_b"}).encode()
    out, _ = rewrite_frame(data, ["item_a", "item_b"],
                           learnt({"item_a": "item_b", "item_b": "item_a"}))
    assert json.loads(out) == {"type": "x", "item_id": "item_b", "previous_item_id": "item_a"}


def test_dumps_like_keeps_ascii_escaping_choice() -> None:
    """Non-ASCII stays raw when the recording had it raw, escaped when it was escaped."""
    raw = json.dumps({"t": "héllo", "id": "a"}, ensure_ascii=False).encode()
    escaped = json.dumps({"t": "héllo", "id": "a"}).encode()
    new = {"t": "héllo", "id": "b"}
    assert dumps_like(raw, new) == json.dumps(new, ensure_ascii=False).encode()
    assert dumps_like(escaped, new) == json.dumps(new).encode()
