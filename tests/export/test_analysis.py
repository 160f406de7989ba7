"""The notebook API: rtcapture.open(db_url) -> pandas DataFrames."""

from __future__ import annotations

import builtins
import subprocess
import sys

import pandas as pd
import pytest

import rtcapture
from rtcapture.protocol import Flavour
from rtcapture.store import open_store
from tests.export.sessions import make_three_turns


def test_frames_match_the_parquet_tables(db_url):
    """sessions(), events(), responses() give the export's columns, for any backend."""
    store = open_store(db_url)
    ga = make_three_turns(store, Flavour.GA, label="x")
    beta = make_three_turns(store, Flavour.BETA)
    store.close()
    with rtcapture.open(db_url) as rec:
        sessions = rec.sessions()
        events = rec.events("@x")
        audio = rec.events(ga, types=["input_audio_buffer.append"], direction="client")
        responses = rec.responses()
        one = rec.responses([beta[:10]])
    assert list(sessions["session_id"]) == [beta, ga]
    assert len(events) == 30 and events["seq"].tolist() == list(range(30))
    assert str(events["time"].dtype) == "datetime64[us, UTC]"
    assert len(audio) == 3 and audio["payload"].str.contains("<audio 4800 bytes>").all()
    assert len(responses) == 6 and set(one["session_id"]) == {beta}
    per_turn = responses.groupby("trigger")["first_audio_latency_ms"].median()
    assert per_turn.to_dict() == pytest.approx({"speech_stopped": 150.0, "commit": 200.0,
                                                "response.create": float("nan")},
                                               nan_ok=True)


def test_unknown_session_is_a_clear_error(sqlite_url):
    """A selector that matches nothing raises the same one-line error as the CLI."""
    open_store(sqlite_url).close()
    with rtcapture.open(sqlite_url) as rec, pytest.raises(Exception, match="no session"):
        rec.events("nope")


def test_missing_pandas_says_how_to_install(sqlite_url, monkeypatch):
    """Without pandas, the API names the extra to install."""
    open_store(sqlite_url).close()
    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with rtcapture.open(sqlite_url) as rec, pytest.raises(ImportError, match=r"pip install pandas \(the 'analysis' extra\)"):
        rec.sessions()


def test_import_rtcapture_stays_light():
    """import rtcapture loads neither pandas, pyarrow nor SQLAlchemy."""
    code = ("import sys, rtcapture; "
            "print(sorted(m for m in ('pandas', 'pyarrow', 'sqlalchemy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_nullable_integers_stay_integers(sqlite_url):
    """A nullable integer column (close_code of a session still open) reads as pandas'
    Int64 with <NA>, not float64; booleans as ``boolean``."""
    store = open_store(sqlite_url)
    closed = make_three_turns(store, Flavour.GA)
    store.update_session(closed, close_code=1000)
    make_three_turns(store, Flavour.BETA)
    store.close()
    with rtcapture.open(sqlite_url) as rec:
        sessions = rec.sessions()
        events = rec.events(closed)
    assert str(sessions["close_code"].dtype) == "Int64"
    codes = dict(zip(sessions["session_id"], sessions["close_code"], strict=True))
    assert codes[closed] == 1000 and codes[next(i for i in codes if i != closed)] is pd.NA
    assert str(events["seq"].dtype) == "Int64" and str(events["parse_error"].dtype) == "boolean"


def test_open_never_creates_a_database(tmp_path):
    """rtcapture.open on a path with no database is an error, and leaves no file."""
    with pytest.raises(Exception, match="no database at"):
        rtcapture.open(f"sqlite:///{tmp_path / 'typo.db'}")
    assert list(tmp_path.iterdir()) == []
