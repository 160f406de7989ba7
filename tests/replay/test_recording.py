"""A replay is stored by the recorder's own session-writing rules."""

from __future__ import annotations

from sqlalchemy import text

from rtcapture.ids import new_id
from rtcapture.replay.recording import ReplayRecorder
from rtcapture.store import SessionRecord, Status, open_store, utcnow

REFUSE_EVENTS = ("CREATE TRIGGER refuse_events BEFORE INSERT ON events "
                 "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")


def test_replay_that_lost_frames_ends_incomplete_saying_how_many(sqlite_url: str) -> None:
    """The database refuses every frame: the replay session ends ``incomplete`` with the
    recorder's reason, even though the replay itself gave no reason."""
    store = open_store(sqlite_url)
    try:
        with store.engine.begin() as conn:
            conn.execute(text(REFUSE_EVENTS))
        recorder = ReplayRecorder(store, SessionRecord(id=new_id(), started=utcnow()))
        recorder.start()
        for seq in range(3):
            recorder.frame("client", seq, "text", b'{"type": "input_audio_buffer.clear"}')
        recorder.finish(Status.CLOSED, status_reason=None, closed_by="client")
        session = store.session(recorder.session_id)
    finally:
        store.close()
    assert (session.status, session.status_reason, session.lost_frames) == (
        Status.INCOMPLETE, "3 frames could not be stored", 3)
    assert session.client_events == 3 and session.closed_by == "client"


def test_replay_frames_are_stored_with_their_totals(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    try:
        recorder = ReplayRecorder(store, SessionRecord(id=new_id(), started=utcnow()))
        recorder.start()
        for seq in range(5):
            recorder.frame("server" if seq % 2 else "client", seq, "text", b"{}")
        recorder.finish(Status.CLOSED)
        session = store.session(recorder.session_id)
        seqs = [ev.seq for ev in store.events(recorder.session_id)]
    finally:
        store.close()
    assert (session.status, session.status_reason, session.lost_frames) == (
        Status.CLOSED, None, 0)
    assert (session.client_events, session.server_events, seqs) == (3, 2, [0, 1, 2, 3, 4])
