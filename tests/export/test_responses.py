"""The responses table: triggers, latencies, audio ms, transcripts and tokens."""

from __future__ import annotations

import pandas as pd
import pytest

import rtcapture
from rtcapture.protocol import Flavour
from rtcapture.store import open_store
from tests.export.sessions import EXPECTED_RESPONSES, make_three_turns
from tests.factories import make_session


def _rows(df: pd.DataFrame) -> list[dict]:
    rows = df.astype(object).where(df.notna(), None).to_dict("records")
    return [{k: row[k] for k in EXPECTED_RESPONSES[0]} for row in rows]


@pytest.mark.parametrize("flavour", [Flavour.GA, Flavour.BETA])
def test_three_turn_kinds_match_hand_computed_values(sqlite_url, flavour):
    """VAD, manual-commit and response.create-only turns give the hand-computed figures."""
    store = open_store(sqlite_url)
    sid = make_three_turns(store, flavour)
    store.close()
    with rtcapture.open(sqlite_url) as rec:
        df = rec.responses(sid)
    assert _rows(df) == EXPECTED_RESPONSES
    assert set(df["session_id"]) == {sid}


def test_metadata_links_out_of_band_responses(sqlite_url):
    """Two creates in a row: each response is linked to the create with its metadata."""
    store = open_store(sqlite_url)
    sid = make_session(store, [
        ("client", {"type": "response.create", "response": {"metadata": {"k": "a"}}}, 100),
        ("client", {"type": "response.create", "response": {"metadata": {"k": "b"}}}, 200),
        ("server", {"type": "response.created", "event_id": "e1",
                    "response": {"id": "resp_b", "metadata": {"k": "b"}}}, 300),
        ("server", {"type": "response.created", "event_id": "e2",
                    "response": {"id": "resp_a", "metadata": {"k": "a"}}}, 350),
    ])
    store.close()
    with rtcapture.open(sqlite_url) as rec:
        df = rec.responses(sid).set_index("response_id")
    assert df.loc["resp_b", "trigger_t_ms"] == 200.0
    assert df.loc["resp_a", "trigger_t_ms"] == 100.0


def test_speech_started_drops_a_stale_turn_end(sqlite_url):
    """A speech_stopped followed by new speech is not the next response's trigger."""
    store = open_store(sqlite_url)
    sid = make_session(store, [
        ("server", {"type": "input_audio_buffer.speech_stopped", "event_id": "e1"}, 100),
        ("server", {"type": "input_audio_buffer.speech_started", "event_id": "e2"}, 200),
        ("client", {"type": "response.create"}, 300),
        ("server", {"type": "response.created", "event_id": "e3",
                    "response": {"id": "resp_1"}}, 400),
    ])
    store.close()
    with rtcapture.open(sqlite_url) as rec:
        row = rec.responses(sid).iloc[0]
    assert (row["trigger"], row["trigger_t_ms"]) == ("response.create", 300.0)


def test_session_token_totals_and_counts(sqlite_url):
    """The sessions table sums response tokens and counts responses and error events."""
    store = open_store(sqlite_url)
    sid = make_three_turns(store)
    store.close()
    with rtcapture.open(sqlite_url) as rec:
        row = rec.sessions().set_index("session_id").loc[sid]
    assert row["responses"] == 3
    assert row["error_events"] == 1
    assert row["total_tokens"] == 30 + 30 + 7
    assert row["input_cached_tokens"] == 8
