"""Export of Live recordings: utterances with latency, wrapped Responses types, usage."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from rtcapture.cli import cli

from .recorded import record_conversation
from .test_mock import RESPONSES


def export(db: str, out: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", db, "export", "--all", "--out", str(out)])
    assert result.exit_code == 0, result.output


async def test_utterances_latency_usage_and_wrapped_types(sqlite_url: str,
                                                          tmp_path: Path) -> None:
    rec = await record_conversation(sqlite_url, RESPONSES)
    export(sqlite_url, tmp_path / "ds")
    utts = pq.read_table(tmp_path / "ds" / "utterances").to_pylist()
    assert [(u["speaker"], u["text"]) for u in utts] == [
        ("user", "What time is it?"), ("assistant", "It is noon."),
        ("user", "Thank you."), ("assistant", "You are welcome.")]
    for user, reply in zip(utts[::2], utts[1::2], strict=True):
        assert user["latency_ms"] is None
        assert reply["latency_ms"] == reply["start_ms"] - user["end_ms"]
        assert 0 <= reply["latency_ms"] < 1500
    sessions = pq.read_table(tmp_path / "ds" / "sessions").to_pylist()
    closed = next(e for e in rec.events if e["type"] == "session.closed")
    assert sessions[0]["usage_seconds"] == closed["usage"]["seconds"] > 0
    assert sessions[0]["flavour"] == "live"
    delegations = pq.read_table(tmp_path / "ds" / "delegations").to_pylist()
    assert delegations == []  # no tool was mentioned: nothing delegated


async def test_wrapped_type_of_delegated_events(sqlite_url: str, tmp_path: Path) -> None:
    from rtcapture.protocol import Flavour
    from rtcapture.store import open_store
    from tests.factories import make_session

    store = open_store(sqlite_url)
    make_session(store, [("server", {"type": "response.event", "event_id": "e1",
                                     "delegation_id": "del_1", "event": {
                                         "type": "response.completed",
                                         "response": {"id": "resp_1"}}}, 0)],
                 flavour=Flavour.LIVE, model="gpt-live-1")
    store.close()
    export(sqlite_url, tmp_path / "ds")
    (row,) = pq.read_table(tmp_path / "ds" / "delegations").to_pylist()
    assert (row["type"], row["wrapped_type"], row["delegation_id"], row["response_id"]) == (
        "response.event", "response.completed", "del_1", "resp_1")
