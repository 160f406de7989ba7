"""The mock serves WebRTC calls: events on ``oai-events``, speech on the track, server VAD
on the incoming track, ``output_audio_buffer.*`` (all inside a loopback-only namespace)."""

from __future__ import annotations

from .netns import run_scenario


def test_mock_call_text_voice_barge_in() -> None:
    result = run_scenario("mock_call")
    assert result["status"] == 201
    assert result["location"].startswith("/v1/realtime/calls/rtc_")
    types = result["types"]
    assert types[0] == "session.created"
    assert "response.output_audio.delta" not in types  # audio goes on the track
    for kind in ("response.done", "output_audio_buffer.started", "output_audio_buffer.stopped",
                 "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                 "output_audio_buffer.cleared", "conversation.item.truncated"):
        assert kind in types, kind
    assert types.index("output_audio_buffer.started") < types.index(
        "output_audio_buffer.stopped")
    assert result["heard_peak"] > 1000  # the mock's voice came through the track
