"""The worked examples of docs/analysis.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd
from click.testing import CliRunner

from rtcapture.cli import cli
from rtcapture.export.live import DELEGATIONS_SCHEMA, UTTERANCES_SCHEMA
from rtcapture.export.tables import EVENTS_SCHEMA, RESPONSES_SCHEMA, SESSIONS_SCHEMA, TURNS_SCHEMA
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


def _documented_names(*pages: str) -> set[str]:
    """Every backticked name in the given docs pages (tables and column lists)."""
    docs = DOC.parent
    return {name for page in pages
            for name in re.findall(r"`([a-z0-9_]+)`", (docs / page).read_text())}


def test_every_parquet_column_is_documented() -> None:
    """Each column of each Parquet table is named in the page that documents that table,
    so a column added to a schema cannot go undocumented."""
    pages = {"analysis.md": [EVENTS_SCHEMA, SESSIONS_SCHEMA, RESPONSES_SCHEMA],
             "check.md": [TURNS_SCHEMA], "live.md": [UTTERANCES_SCHEMA, DELEGATIONS_SCHEMA]}
    for page, schemas in pages.items():
        named = _documented_names(page)
        missing = [f"{page}: {field.name}" for schema in schemas for field in schema
                   if field.name not in named]
        assert not missing, missing
