"""The export's turn analysis (fed from its own chunks) equals check's (fed event by event)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from rtcapture.check import session_turns
from rtcapture.check.turns import analyse
from rtcapture.export.parquet import ParquetOptions, write_dataset
from rtcapture.export.payload import audio_cut, build_payloads
from rtcapture.export.tables import SessionScan, scan_chunk, turn_rows
from rtcapture.store import Store, open_store
from rtcapture.store import columnar as source
from tests.factories import Frame, b64, make_session

PCM_20MS = bytes(960)
DELTA = "response.output_audio.delta"
TRANSCRIPT = "response.output_audio_transcript.delta"


def _delta(rid: str, item: str, data: bytes, t: float) -> Frame:
    return ("server", {"type": DELTA, "response_id": rid, "item_id": item, "output_index": 0,
                       "content_index": 0, "delta": b64(data)}, t)


def _frames() -> list[Frame]:
    """Two replies: a barge-in with a truncate and a cancel, then a G.711 reply with a tool
    call; appends all along (one not whole samples, two at the same instant), a parse
    error, a binary frame and a refused client event."""
    f: list[Frame] = [("server", {"type": "session.created", "session": {}}, 0.0)]
    t = 0.0
    for _ in range(40):  # 800 ms of microphone
        t += 20
        f.append(("client", {"type": "input_audio_buffer.append", "audio": b64(PCM_20MS)}, t))
    f.append(("client", {"type": "input_audio_buffer.append", "audio": b64(bytes(961))}, t))
    f.append(("server", {"type": "input_audio_buffer.speech_started", "audio_start_ms": 100,
                         "item_id": "u1"}, 200.0))
    f.append(("server", {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 700,
                         "item_id": "u1"}, 820.0))
    f.append(("server", {"type": "response.created",
                         "response": {"id": "r1", "status": "in_progress"}}, 850.0))
    for k in range(30):  # 100 ms deltas, 10 ms apart, the microphone still running
        f.append(_delta("r1", "a1", bytes(4800), 900.0 + 10 * k))
        f.append(("client", {"type": "input_audio_buffer.append", "audio": b64(PCM_20MS)},
                  905.0 + 10 * k))
        if k % 7 == 0:
            f.append(("server", {"type": TRANSCRIPT, "response_id": "r1", "item_id": "a1",
                                 "delta": "la "}, 906.0 + 10 * k))
    f.append(("server", b"{not json", 1205.0))
    f.append(("server", b"\x00\x01binary", 1206.0))
    f.append(("server", {"type": "input_audio_buffer.speech_started", "audio_start_ms": 1000,
                         "item_id": "u2"}, 1500.0))
    f.append(("client", {"type": "conversation.item.truncate", "event_id": "c_trunc",
                         "item_id": "a1", "content_index": 0, "audio_end_ms": 500}, 1600.0))
    f.append(("client", {"type": "response.cancel", "event_id": "c_cancel"}, 1610.0))
    f.append(_delta("r1", "a1", bytes(4800), 1620.0))
    f.append(("server", {"type": "response.done",
                         "response": {"id": "r1", "status": "cancelled"}}, 1700.0))
    f.append(("client", {"type": "session.update", "event_id": "c_upd", "session": {
        "type": "realtime", "audio": {"output": {"format": {"type": "audio/pcmu"}}}}}, 1750.0))
    f.append(("server", {"type": "session.updated", "session": {
        "type": "realtime", "audio": {"output": {"format": {"type": "audio/pcmu"}}}}}, 1760.0))
    f.append(("server", {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 1400,
                         "item_id": "u2"}, 2000.0))
    f.append(("server", {"type": "response.created",
                         "response": {"id": "r2", "status": "in_progress"}}, 2050.0))
    for k in range(10):
        f.append(_delta("r2", "a2", bytes(800), 2100.0 + 50 * k))
    f.append(("server", {"type": "response.function_call_arguments.done", "response_id": "r2",
                         "call_id": "call_1", "arguments": "{}"}, 2700.0))
    f.append(("server", {"type": "response.done",
                         "response": {"id": "r2", "status": "completed"}}, 2710.0))
    f.append(("client", {"type": "conversation.item.create", "event_id": "c_out", "item": {
        "type": "function_call_output", "call_id": "call_1", "output": "{}"}}, 2900.0))
    f.append(("client", {"type": "response.create", "event_id": "c_bad"}, 2950.0))
    f.append(("server", {"type": "error", "error": {
        "type": "invalid_request_error", "code": "x", "message": "no", "event_id": "c_bad"}},
        2960.0))
    return f


def _store_session(store: Store) -> str:
    sid = make_session(store, _frames())
    with store.engine.begin() as conn:  # the client left: the last deltas never reached it
        conn.exec_driver_sql(
            "UPDATE events SET delivered = false WHERE session_id = ? AND type = ? "
            "AND t_ns >= ?", (sid, DELTA, 2300 * 10**6))
    return sid


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, str]:
    monkeypatch.setattr(source, "MAX_CHUNK_ROWS", 7)  # many chunk boundaries
    monkeypatch.setattr(source, "MIN_CHUNK_ROWS", 7)
    store = open_store(f"sqlite:///{tmp_path}/t.db")
    return store, _store_session(store)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("keep_audio", [True, False])
def test_chunk_fed_analysis_equals_event_fed(session: tuple[Store, str], fast: bool,
                                             keep_audio: bool) -> None:
    store, sid = session
    expected_turns, expected_obs, _ = analyse(store.events(sid))
    scan = SessionScan.with_turns()
    chunks = list(store.read_chunks(sid, cut=None if keep_audio else audio_cut(), fast=fast))
    assert len(chunks) > 10
    for chunk in chunks:
        scan_chunk(scan, chunk, build_payloads(chunk, keep_audio=keep_audio))
    assert scan.finish_turns() == expected_turns
    assert scan.analyzer is not None and scan.analyzer.obs == expected_obs
    # the session exercises what can go wrong: interruption, cut and undelivered audio
    assert [t.interrupted for t in expected_turns if t.response_id] == [True, False]
    heard = {t.response_id: (t.audio_sent_ms, t.audio_heard_ms) for t in expected_turns}
    assert heard["r1"][1] < heard["r1"][0] and heard["r2"][1] < heard["r2"][0]
    assert expected_obs.bad_appends and expected_obs.truncates and expected_obs.errors
    assert expected_obs.tools[0].output_t is not None


def test_parquet_turns_equal_check(session: tuple[Store, str], tmp_path: Path) -> None:
    store, sid = session
    write_dataset(store, [store.session(sid)], tmp_path / "out", ParquetOptions())
    table: list[dict[str, Any]] = pq.read_table(tmp_path / "out" / "turns").to_pylist()
    assert table == turn_rows(sid, session_turns(store, store.session(sid))[0])
    assert len(table) >= 2
