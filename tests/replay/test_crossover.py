"""Crossing transports: media rows stream from the call's start; over a WebSocket the
WebRTC-only ``output_audio_buffer.*`` events are never waited for, and the diff between a
WebSocket and a WebRTC session does not compare them."""

from __future__ import annotations

import dataclasses

from rtcapture.replay.plan import PlanEnd, PlannedFrame
from rtcapture.replay.source import plan_items
from tests.replay.helpers import audio_b64, records

FLOW = [
    ("server", {"type": "session.created", "session": {"id": "sess_1"}}, 5.0),
    ("client", {"type": "input_audio_buffer.append", "audio": audio_b64(100)}, 900.0),
    ("client", {"type": "input_audio_buffer.append", "audio": audio_b64(100)}, 1000.0),
    ("server", {"type": "output_audio_buffer.started", "response_id": "resp_1"}, 1100.0),
    ("server", {"type": "output_audio_buffer.stopped", "response_id": "resp_1"}, 1500.0),
    ("client", {"type": "response.create"}, 1600.0),
]


def _webrtc_records() -> list:
    """FLOW with its appends as a call's media rows (opcode ``media``)."""
    return [dataclasses.replace(ev, opcode="media") if ev.type == "input_audio_buffer.append"
            else ev for ev in records(FLOW)]


def test_first_media_row_starts_with_the_call() -> None:
    frames = [i for i in plan_items(_webrtc_records()) if isinstance(i, PlannedFrame)]
    assert [f.prev_gap_ns for f in frames[:2]] == [0, 100_000_000]
    assert frames[0].deps == ()  # audio streams on its own clock
    # a WebSocket recording's first append keeps its recorded gap
    ws = [i for i in plan_items(records(FLOW)) if isinstance(i, PlannedFrame)]
    assert ws[0].prev_gap_ns == 900_000_000


def test_output_audio_buffer_is_not_waited_for_over_a_websocket() -> None:
    def last(absent: tuple[str, ...]) -> tuple[PlannedFrame, PlanEnd]:
        items = list(plan_items(_webrtc_records(), absent))
        frames = [i for i in items if isinstance(i, PlannedFrame)]
        return frames[-1], items[-1]

    frame, end = last(())
    assert {k.type for k in frame.deps} == {"output_audio_buffer.stopped"}
    assert any(k.type.startswith("output_audio_buffer.") for k in end.expected)
    frame, end = last(("output_audio_buffer.",))
    assert {k.type for k in frame.deps} == {"session.created"}
    assert not any(k.type.startswith("output_audio_buffer.") for k in end.expected)


def test_diff_skips_output_audio_buffer_across_transports() -> None:
    from datetime import UTC, datetime

    from rtcapture.replay.diff import DiffOptions, compare_digests
    from rtcapture.replay.digest import digest_events
    from rtcapture.store import SessionRecord

    def digest(transport: str, frames: list) -> object:
        rec = SessionRecord(id=transport, started=datetime.now(UTC), transport=transport)
        return digest_events(records(frames), rec)

    call = digest("webrtc", FLOW)
    socket = digest("websocket", [f for f in FLOW if "output_audio_buffer" not in str(f[1])])
    assert compare_digests(call, socket, DiffOptions()).equal  # type: ignore[arg-type]
    # between two calls they are compared
    other_call = digest("webrtc", FLOW[:4] + FLOW[5:])
    paths = [d.path for d in compare_digests(call, other_call, DiffOptions()).differences]  # type: ignore[arg-type]
    assert paths == [("output_audio_buffer", "stopped", 0)], paths
