"""The session-writing rules the writer process and the replay share (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

from rtcapture.proxy.writing import Batch, Heartbeat, session_end
from rtcapture.store.records import Status

ENDED = datetime(2026, 1, 2, tzinfo=UTC)


def test_batch_is_due_after_its_interval_or_at_its_rows() -> None:
    batch: Batch[int] = Batch(rows=3, interval=0.5)
    assert not batch.due(100.0) and batch.wait(100.0) == 0.5
    batch.add(1, 10.0)
    batch.add(2, 10.4)
    assert not batch.due(10.45) and abs(batch.wait(10.2) - 0.3) < 1e-9
    assert batch.due(10.5)  # the oldest row has waited the interval
    assert batch.take() == [1, 2] and len(batch) == 0
    for i in range(3):
        batch.add(i, 20.0)
    assert batch.due(20.0)  # full


def test_heartbeat_is_due_once_per_interval() -> None:
    beat = Heartbeat(0.0, interval=2.0)
    assert [beat.due(t) for t in (1.0, 2.0, 3.0, 4.1)] == [False, True, False, True]


def test_lost_frames_make_a_closed_session_incomplete() -> None:
    fields = session_end({"client_events": 4}, ended=ENDED, lost=2, status=Status.CLOSED,
                         closed_by="client")
    assert fields == {"client_events": 4, "closed_by": "client", "ended": ENDED,
                      "status": Status.INCOMPLETE,
                      "status_reason": "2 frames could not be stored", "lost_frames": 2}


def test_a_failed_session_keeps_its_status_and_reason() -> None:
    fields = session_end({}, ended=ENDED, lost=2, status=Status.FAILED,
                         status_reason="HTTP 502")
    assert (fields["status"], fields["status_reason"], fields["lost_frames"]) == (
        Status.FAILED, "HTTP 502", 2)
    closed = session_end({}, ended=ENDED, lost=0, status=Status.CLOSED, status_reason="bye")
    assert (closed["status"], closed["status_reason"]) == (Status.CLOSED, "bye")
