"""GPT-Live protocol knowledge: paths, dialect detection, parsed ids, audio fields."""

from __future__ import annotations

import pytest

from rtcapture.protocol import (
    PCM16,
    AudioFormat,
    Encoding,
    Flavour,
    FlavourTracker,
    audio_payload,
    fields_of,
    flavour_from_event,
    flavour_from_path,
    live,
    session_audio_formats,
    strip_audio,
)
from rtcapture.proxy.ingest import SessionTally


@pytest.mark.parametrize(("path", "kind"), [
    ("/v1/live/sessions", live.LiveEndpoint.PRIMARY),
    ("/openai/v1/live/sessions", live.LiveEndpoint.PRIMARY),
    ("/v1/live/sessions/", live.LiveEndpoint.PRIMARY),
    ("/v1/live/sessions/live_u1_abc/attach?graceful_close=true", live.LiveEndpoint.ATTACH),
    ("/openai/v1/live/sessions/live_123/fork", live.LiveEndpoint.FORK),
    ("/v1/realtime?model=gpt-realtime", None),
    ("/v1/live/sessions/live_1", None),
    ("/v1/live/sessionsX", None),
    ("/v1/realtime/translations", None),
])
def test_live_endpoint(path: str, kind: live.LiveEndpoint | None) -> None:
    assert live.live_endpoint(path) == kind
    assert (flavour_from_path(path) is Flavour.LIVE) == (kind is not None)


def test_dialect_from_opening_events_and_path() -> None:
    start = {"type": "session.start", "session": {"model": "gpt-live-1"}}
    assert flavour_from_event("client", start) is Flavour.LIVE
    assert flavour_from_event("server", {"type": "session.started", "event_id": "e",
                                         "session": {}}) is Flavour.LIVE
    # translations reuse these names; they must not make a session Live
    assert flavour_from_event("server", {"type": "session.output_audio.delta",
                                         "delta": ""}) is None
    tracker = FlavourTracker(handshake=Flavour.BETA, path_hint=Flavour.LIVE)
    assert tracker.flavour is Flavour.LIVE  # the Live path decides over a beta header
    tracker = FlavourTracker()
    tracker.observe("client", start)
    assert tracker.flavour is Flavour.LIVE


def test_response_event_takes_ids_of_the_wrapped_event() -> None:
    wrapped = {"type": "response.event", "event_id": "evt_1", "delegation_id": "del_1",
               "event": {"type": "response.output_item.done", "response_id": "resp_9",
                         "item": {"id": "fc_1", "type": "function_call", "call_id": "call_7"}}}
    parsed = fields_of(wrapped)
    assert (parsed.type, parsed.event_id, parsed.item_id, parsed.response_id,
            parsed.call_id) == ("response.event", "evt_1", "fc_1", "resp_9", "call_7")
    assert live.wrapped_type(wrapped) == "response.output_item.done"
    assert live.delegation_id(wrapped) == "del_1"
    created = {"type": "session.delegation.created", "event_id": "evt_2", "offset_ms": 10,
               "delegation": {"id": "del_2", "type": "delegation", "target": "responses",
                              "response_id": "resp_2"}}
    assert fields_of(created).response_id == "resp_2"
    assert fields_of(created).item_id is None
    assert live.delegation_id(created) == "del_2"


def test_audio_fields_and_one_format_for_both_directions() -> None:
    append = {"type": "session.input_audio.append", "audio": "AAAA"}
    delta = {"type": "session.output_audio.delta", "delta": "AAAAAA=="}
    assert audio_payload(append) == "AAAA" and audio_payload(delta) == "AAAAAA=="
    assert strip_audio(append)["audio"] == "<audio 3 bytes>"
    assert strip_audio(delta)["delta"] == "<audio 4 bytes>"
    pcm16k = AudioFormat(Encoding.PCM16, 16000)
    session = {"audio": {"format": {"type": "audio/pcm", "rate": 16000}}}
    assert session_audio_formats(session) == (pcm16k, pcm16k)
    assert live.timeline_ms({"start_ms": 100, "end_ms": 250}) == (100.0, 250.0)
    assert live.timeline_ms({"start_ms": True, "end_ms": 2}) is None


def test_tally_counts_live_audio_and_model() -> None:
    import base64
    import json

    tally = SessionTally()
    frames = [
        ("client", {"type": "session.start", "session": {
            "model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm", "rate": 16000}}}}),
        ("server", {"type": "session.started", "event_id": "evt_1", "session": {
            "id": "live_1", "model": "gpt-live-1",
            "audio": {"format": {"type": "audio/pcm", "rate": 16000}}}}),
        ("client", {"type": "session.input_audio.append",
                    "audio": base64.b64encode(bytes(3200)).decode()}),
        ("server", {"type": "session.output_audio.delta",
                    "delta": base64.b64encode(bytes(6400)).decode()}),
    ]
    for seq, (direction, event) in enumerate(frames):
        rec = tally.build("s", seq, direction, seq, seq, "text", json.dumps(event).encode())
    assert rec.audio_bytes == 6400
    totals = tally.totals()
    assert totals["flavour"] == "live" and totals["model"] == "gpt-live-1"
    assert totals["input_audio_ms"] == 100.0 and totals["output_audio_ms"] == 200.0
    assert tally.state.input != PCM16
