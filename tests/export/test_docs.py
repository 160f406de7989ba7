"""The worked examples of docs/analysis.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd
from click.testing import CliRunner

from rtcapture.cli import cli
from rtcapture.protocol import Flavour
from rtcapture.store import open_store
from tests.export.sessions import make_three_turns

DOC = Path(__file__).resolve().parents[2] / "docs" / "analysis.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), flags=re.S)


def test_pandas_and_duckdb_examples(sqlite_url, tmp_path, monkeypatch, capsys):
    """The pandas and DuckDB latency-per-turn examples give the same medians."""
    store = open_store(sqlite_url)
    make_three_turns(store, Flavour.GA)
    make_three_turns(store, Flavour.BETA)
    store.close()
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "export", "--all", "--partition-by",
                                      "date", "--out", str(tmp_path / "dataset")])
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(tmp_path)
    pandas_code = next(b for b in _blocks("python") if "read_parquet" in b)
    exec(compile(pandas_code, str(DOC), "exec"), {})  # noqa: S102 - the documented example
    assert "speech_stopped" in capsys.readouterr().out
    rows = duckdb.sql(_blocks("sql")[0].rstrip().rstrip(";")).fetchall()
    medians = {trigger: p50 for _, trigger, _, p50, _ in rows}
    assert medians == {"speech_stopped": 150.0, "commit": 200.0, "response.create": None}
    df = pd.read_parquet(tmp_path / "dataset" / "responses")
    assert len(df) == sum(turns for _, _, turns, _, _ in rows)
