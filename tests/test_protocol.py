"""Protocol core: parsing never raises, ids and dialects found, secrets redacted."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from rtcapture import protocol as p


def test_parse_ids_top_level_and_nested() -> None:
    """item_id/response_id/call_id come from the top level or item.id / response.id."""
    f = p.parse_frame(json.dumps({"type": "conversation.item.created", "event_id": "event_1",
                                  "item": {"id": "item_1", "call_id": "call_9"}}).encode())
    assert (f.type, f.event_id, f.item_id, f.call_id, f.response_id) == (
        "conversation.item.created", "event_1", "item_1", "call_9", None)
    f = p.parse_frame(b'{"type": "response.done", "response": {"id": "resp_1"}}')
    assert f.response_id == "resp_1" and f.parse_error is None
    f = p.parse_frame(b'{"type": "response.function_call_arguments.delta", "item_id": "i",'
                      b' "response_id": "r", "call_id": "c"}')
    assert (f.item_id, f.response_id, f.call_id) == ("i", "r", "c")


def test_parse_errors_are_values() -> None:
    """Bad frames give parse_error, never an exception."""
    assert p.parse_frame(b"\xff\xfe").parse_error == "invalid UTF-8"
    assert p.parse_frame(b"{").parse_error.startswith("invalid JSON")
    assert p.parse_frame(b"[" * 100000).parse_error == "JSON nested too deeply"
    assert p.parse_frame(b"42").parse_error == "JSON value is not an object"
    assert p.parse_frame(b'{"type": 3}').parse_error == "missing or non-string type"
    assert p.parse_frame(b"{}", "binary").parse_error == "binary frame"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_parse_never_raises_on_bytes(data: bytes) -> None:
    """Any byte string parses to a value."""
    assert isinstance(p.parse_frame(data), p.ParsedFrame)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                      children, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "event_id", "item", "response", "item_id",
                                        "response_id", "call_id"]), json_values))
def test_parse_never_raises_on_odd_shapes(obj: dict) -> None:
    """Ids of the wrong type are ignored, not trusted."""
    f = p.parse_frame(json.dumps(obj).encode())
    for value in (f.type, f.event_id, f.item_id, f.response_id, f.call_id):
        assert value is None or isinstance(value, str)


def test_flavour_rules_in_order() -> None:
    """Handshake header, then subprotocol, then session shape, then server event names."""
    assert p.flavour_from_handshake([("OpenAI-Beta", "realtime=v1")], []) is p.Flavour.BETA
    assert p.flavour_from_handshake([], ["realtime", "openai-beta.realtime-v1"]) \
        is p.Flavour.BETA
    assert p.flavour_from_handshake([("Authorization", "x")], ["realtime"]) is None
    ga = {"type": "session.update", "session": {"type": "realtime"}}
    beta = {"type": "session.update", "session": {"modalities": ["text"]}}
    assert p.flavour_from_event("client", ga) is p.Flavour.GA
    assert p.flavour_from_event("client", beta) is p.Flavour.BETA
    assert p.flavour_from_event("server", {"type": "response.output_text.delta"}) \
        is p.Flavour.GA
    assert p.flavour_from_event("server", {"type": "response.audio.delta"}) is p.Flavour.BETA
    assert p.flavour_from_event("server", {"type": "response.done"}) is None
    assert p.flavour_from_path("/openai/realtime?api-version=2024-10-01-preview") \
        is p.Flavour.BETA
    tracker = p.FlavourTracker()
    assert tracker.flavour is p.Flavour.GA
    tracker.observe("server", {"type": "response.text.delta"})
    tracker.observe("server", {"type": "response.output_text.delta"})
    assert tracker.flavour is p.Flavour.BETA  # the first decisive event wins


def test_redaction_keeps_last_four_and_is_stable() -> None:
    """Same secret, same marker; last 4 characters kept; other text untouched."""
    key = "sk-proj-abcdefghijklmnop1234"
    m1, m2 = p.secret_marker(key), p.secret_marker(key)
    assert m1 == m2 and m1.endswith("-1234") and key not in m1
    assert p.secret_marker("sk-other-key-000001234") != m1
    assert p.redact_header("Authorization", f"Bearer {key}") == f"Bearer {m1}"
    assert p.redact_header("api-key", key) == m1
    assert p.redact_header("User-Agent", "OpenAI/Python 3.57.0") == "OpenAI/Python 3.57.0"
    assert p.redact_subprotocols(["realtime", f"openai-insecure-api-key.{key}"]) == [
        "realtime", f"openai-insecure-api-key.{m1}"]


def test_redact_url_query_forms() -> None:
    """api-key=, Authorization= and bare sk-/ek_ values in a URL are replaced."""
    url = ("/openai/realtime?api-version=2025-04-01-preview&api-key=azurekey000000009999"
           "&Authorization=Bearer%20ek_abcdefgh12345678&x=sk-abcdefgh00001111")
    out = p.redact_url(url)
    for secret in ("azurekey000000009999", "ek_abcdefgh12345678", "sk-abcdefgh00001111"):
        assert secret not in out
    assert "api-version=2025-04-01-preview" in out and out.count("REDACTED-") == 3
    assert p.redact_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert p.redact_url("sqlite:////data/x.db?timeout=2") == "sqlite:////data/x.db?timeout=2"
    assert p.redact_url("sqlite:///x.db?timeout=2") == "sqlite:///x.db?timeout=2"
    assert "hunter2" not in p.redact_url("postgresql://u:hunter2@h/db")


def test_audio_formats_both_dialects() -> None:
    """Beta names and GA objects map to the same formats; durations from byte counts."""
    assert p.parse_audio_format("g711_ulaw") == p.parse_audio_format({"type": "audio/pcmu"})
    assert p.parse_audio_format({"type": "audio/pcm", "rate": 24000}) == p.PCM16
    assert p.PCM16.ms_of(960) == 20.0 and p.G711_ALAW.ms_of(160) == 20.0
    ga = {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcma"}},
                                        "output": {"format": {"type": "audio/pcmu"}}}}
    assert p.session_audio_formats(ga) == (p.G711_ALAW, p.G711_ULAW)
    assert p.session_audio_formats({"input_audio_format": "pcm16"}) == (p.PCM16, None)
    assert p.b64_decoded_len("AAAA") == 3 and p.b64_decoded_len("AA==") == 1
    assert p.b64_decoded_len("AAA") is None


def test_strip_audio_marker() -> None:
    """Audio base64 is replaced by a short marker naming its decoded size."""
    out = p.strip_audio({"type": "input_audio_buffer.append", "audio": "AAAA" * 10})
    assert out["audio"] == "<audio 30 bytes>"
    delta = {"type": "response.output_audio.delta", "delta": "AA=="}
    assert p.strip_audio(delta)["delta"] == "<audio 1 bytes>"
    assert p.strip_audio({"type": "x", "delta": "hello"}) == {"type": "x", "delta": "hello"}


def test_redaction_is_idempotent() -> None:
    """Redacting what is already redacted changes nothing (exports re-check sessions)."""
    key = "sk-proj-abcdefghijklmnop1234"
    header = p.redact_header("Authorization", f"Bearer {key}")
    assert p.redact_header("Authorization", header) == header
    assert p.redact_header("api-key", p.redact_header("api-key", key)) == \
        p.redact_header("api-key", key)
    protos = p.redact_subprotocols([f"openai-insecure-api-key.{key}"])
    assert p.redact_subprotocols(protos) == protos
    url = p.redact_url(f"/openai/realtime?api-key={key}&Authorization=Bearer%20{key}&x={key}")
    assert p.redact_url(url) == url and key not in url
