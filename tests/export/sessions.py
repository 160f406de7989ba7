"""Synthetic sessions for the export tests, with hand-computed expectations."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner, Result

from rtcapture.cli import cli
from rtcapture.protocol import BETA_NAMES, GA_NAMES, Flavour
from rtcapture.store import Store
from tests.factories import Frame, b64, make_session

PCM_100MS = b"\x01\x02" * 2400
"""100 ms of PCM16 at 24 kHz (4,800 bytes)."""
ULAW_100MS = b"\x7f" * 800
"""100 ms of G.711 at 8 kHz (800 bytes)."""

USAGE = {"total_tokens": 30, "input_tokens": 20, "output_tokens": 10,
         "input_token_details": {"text_tokens": 5, "audio_tokens": 15, "cached_tokens": 4},
         "output_token_details": {"text_tokens": 3, "audio_tokens": 7}}


def three_turns(flavour: Flavour) -> list[Frame]:
    """A server-VAD turn, a manual commit turn, and a response.create-only text turn."""
    n = GA_NAMES if flavour is Flavour.GA else BETA_NAMES
    ulaw: dict[str, Any] = ({"audio": {"output": {"format": {"type": "audio/pcmu"}}}}
                            if flavour is Flavour.GA else {"output_audio_format": "g711_ulaw"})
    return [
        ("server", {"type": "session.created", "event_id": "event_1", "session": {}}, 0),
        # turn 1: server VAD; trigger = speech_stopped at 1000 ms
        ("client", {"type": "input_audio_buffer.append", "audio": b64(PCM_100MS)}, 100),
        ("server", {"type": "input_audio_buffer.speech_started", "event_id": "event_2",
                    "audio_start_ms": 0, "item_id": "item_u1"}, 250),
        ("client", {"type": "input_audio_buffer.append", "audio": b64(PCM_100MS)}, 300),
        ("server", {"type": "input_audio_buffer.speech_stopped", "event_id": "event_3",
                    "audio_end_ms": 900, "item_id": "item_u1"}, 1000),
        ("server", {"type": "input_audio_buffer.committed", "event_id": "event_4",
                    "item_id": "item_u1"}, 1010),
        ("server", {"type": "response.created", "event_id": "event_5",
                    "response": {"id": "resp_1", "status": "in_progress"}}, 1020),
        ("server", {"type": n.transcript_delta, "event_id": "event_6", "response_id": "resp_1",
                    "item_id": "item_a1", "output_index": 0, "content_index": 0,
                    "delta": "Hel"}, 1100),
        ("server", {"type": n.audio_delta, "event_id": "event_7", "response_id": "resp_1",
                    "item_id": "item_a1", "output_index": 0, "content_index": 0,
                    "delta": b64(PCM_100MS)}, 1150),
        ("server", {"type": n.audio_delta, "event_id": "event_8", "response_id": "resp_1",
                    "item_id": "item_a1", "output_index": 0, "content_index": 0,
                    "delta": b64(PCM_100MS[:2400])}, 1160),
        ("server", {"type": n.transcript_delta, "event_id": "event_9", "response_id": "resp_1",
                    "item_id": "item_a1", "output_index": 0, "content_index": 0,
                    "delta": "lo!"}, 1170),
        ("server", {"type": n.transcript_done, "event_id": "event_10", "response_id": "resp_1",
                    "item_id": "item_a1", "output_index": 0, "content_index": 0,
                    "transcript": "Hello!"}, 1180),
        ("server", {"type": "response.done", "event_id": "event_11",
                    "response": {"id": "resp_1", "status": "completed", "usage": USAGE}}, 1200),
        # turn 2: manual commit, then response.create; trigger = commit at 2500 ms
        ("client", {"type": "input_audio_buffer.append", "audio": b64(PCM_100MS)}, 2100),
        ("client", {"type": "input_audio_buffer.commit"}, 2500),
        ("server", {"type": "input_audio_buffer.committed", "event_id": "event_12",
                    "item_id": "item_u2"}, 2510),
        ("client", {"type": "response.create"}, 2520),
        ("server", {"type": "response.created", "event_id": "event_13",
                    "response": {"id": "resp_2", "status": "in_progress", **ulaw}}, 2600),
        ("server", {"type": n.audio_delta, "event_id": "event_14", "response_id": "resp_2",
                    "item_id": "item_a2", "output_index": 0, "content_index": 0,
                    "delta": b64(ULAW_100MS)}, 2700),
        ("server", {"type": n.transcript_delta, "event_id": "event_15", "response_id": "resp_2",
                    "item_id": "item_a2", "output_index": 0, "content_index": 0,
                    "delta": "Sure"}, 2750),
        ("server", {"type": "response.done", "event_id": "event_16",
                    "response": {"id": "resp_2", "status": "completed", "usage": USAGE}}, 2800),
        # a response.create the server refuses: it must not be taken as turn 3's trigger
        ("client", {"type": "response.create", "event_id": "evt_refused"}, 2900),
        ("server", {"type": "error", "event_id": "event_17",
                    "error": {"type": "invalid_request_error", "code": "invalid_value",
                              "message": "bad", "event_id": "evt_refused"}}, 2910),
        # turn 3: text only, response.create at 3100 ms is the trigger
        ("client", {"type": "conversation.item.create", "item": {
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "hi"}]}}, 3000),
        ("server", {"type": n.item_created, "event_id": "event_18",
                    "item": {"id": "item_u3", "type": "message"}}, 3010),
        ("client", {"type": "response.create", "response": {"output_modalities": ["text"]}},
         3100),
        ("server", {"type": "response.created", "event_id": "event_19",
                    "response": {"id": "resp_3", "status": "in_progress"}}, 3180),
        ("server", {"type": n.text_delta, "event_id": "event_20", "response_id": "resp_3",
                    "item_id": "item_a3", "output_index": 0, "content_index": 0,
                    "delta": "Hi"}, 3300),
        ("server", {"type": n.text_delta, "event_id": "event_21", "response_id": "resp_3",
                    "item_id": "item_a3", "output_index": 0, "content_index": 0,
                    "delta": " there"}, 3320),
        ("server", {"type": "response.done", "event_id": "event_22", "response": {
            "id": "resp_3", "status": "incomplete",
            "status_details": {"type": "incomplete", "reason": "max_output_tokens"},
            "usage": {"total_tokens": 7, "input_tokens": 4, "output_tokens": 3}}}, 3400),
    ]


EXPECTED_RESPONSES = [
    {"response_id": "resp_1", "trigger": "speech_stopped", "trigger_t_ms": 1000.0,
     "created_t_ms": 1020.0, "first_text_t_ms": 1100.0, "first_audio_t_ms": 1150.0,
     "done_t_ms": 1200.0, "first_audio_latency_ms": 150.0, "first_text_latency_ms": 100.0,
     "output_audio_ms": 150.0, "transcript": "Hello!", "status": "completed",
     "status_reason": None, "total_tokens": 30, "input_cached_tokens": 4,
     "output_audio_tokens": 7},
    {"response_id": "resp_2", "trigger": "commit", "trigger_t_ms": 2500.0,
     "created_t_ms": 2600.0, "first_text_t_ms": 2750.0, "first_audio_t_ms": 2700.0,
     "done_t_ms": 2800.0, "first_audio_latency_ms": 200.0, "first_text_latency_ms": 250.0,
     "output_audio_ms": 100.0, "transcript": "Sure", "status": "completed",
     "status_reason": None, "total_tokens": 30, "input_cached_tokens": 4,
     "output_audio_tokens": 7},
    {"response_id": "resp_3", "trigger": "response.create", "trigger_t_ms": 3100.0,
     "created_t_ms": 3180.0, "first_text_t_ms": 3300.0, "first_audio_t_ms": None,
     "done_t_ms": 3400.0, "first_audio_latency_ms": None, "first_text_latency_ms": 200.0,
     "output_audio_ms": 0.0, "transcript": "Hi there", "status": "incomplete",
     "status_reason": "max_output_tokens", "total_tokens": 7, "input_cached_tokens": None,
     "output_audio_tokens": None},
]
"""Worked out by hand from :func:`three_turns` (same for both dialects)."""


def make_three_turns(store: Store, flavour: Flavour = Flavour.GA, **kwargs: Any) -> str:
    """Store :func:`three_turns` as a session; returns its id."""
    return make_session(store, three_turns(flavour), flavour=flavour, **kwargs)


def run_cli(url: str, *args: str) -> Result:
    """``rtcapture --db URL ARGS...`` in-process; a traceback in the output fails the test."""
    result = CliRunner().invoke(cli, ["--db", url, *args])
    assert "Traceback" not in result.output, result.output
    return result
