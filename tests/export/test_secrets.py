"""No secret reaches an export: canary keys everywhere, every output byte checked."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import rtcapture
from rtcapture.cli import cli
from rtcapture.store import open_store
from tests.factories import make_session

SK = "sk-canaryAAAA1111bbbb2222cccc"
EK = "ek_canaryDDDD3333eeee4444ffff"
AZURE = "azurecanary5555gggg6666"
BEARER = "canarybearer7777hhhh8888"
CANARIES = [SK, EK, AZURE, BEARER]


def _store_leaky_session(url: str) -> str:
    """A session whose stored fields and frames hold raw keys (as if written by a buggy
    recorder, or frames a client sent), so the exports must redact on their own."""
    store = open_store(url)
    sid = make_session(store, [
        ("client", {"type": "session.update", "session": {"instructions": f"key {SK}"}}, 0),
        ("client", {"type": "input_audio_buffer.append", "audio": "AAAA", "x": EK}, 1),
        ("server", {"type": "error", "event_id": "e1", "error": {"message": f"bad {SK}"}}, 2),
        ("client", f"not json {EK}".encode(), 3),
        ("client", b"\xff\x00binary " + SK.encode(), 4),
        ("server", {"type": "response.created", "event_id": "e2", "response": {"id": "r1"}}, 5),
        ("server", {"type": "response.output_text.delta", "event_id": "e3",
                    "response_id": "r1", "item_id": "i", "delta": f"say {SK}"}, 6),
        ("server", {"type": "response.done", "event_id": "e4",
                    "response": {"id": "r1", "status": "completed"}}, 7),
    ], label="leak")
    store.update_session(
        sid, headers=[("Authorization", f"Bearer {BEARER}"), ("api-key", AZURE),
                      ("Sec-WebSocket-Protocol", f"realtime, openai-insecure-api-key.{AZURE}")],
        subprotocols=["realtime", f"openai-insecure-api-key.{AZURE}"],
        upstream_url=f"wss://example.test/openai/realtime?api-key={AZURE}&x={SK}",
        path=f"/v1/realtime?model=m&Authorization=Bearer%20{BEARER}",
        close_reason=f"closed {EK}", status_reason=f"reason {SK}")
    store.close()
    return sid


def _leaks(data: bytes) -> list[str]:
    found = [c for c in CANARIES if c.encode() in data]
    found += [c for c in CANARIES if base64.b64encode(c.encode()) in data]
    return found


def _parquet_text(path: Path) -> bytes:
    """Every cell of a Parquet file, decoded, as bytes to scan."""
    table = pq.read_table(path)
    return "\n".join(str(v) for col in table.columns for v in col.to_pylist()).encode()


@pytest.mark.parametrize("args", [
    ["--format", "parquet"],
    ["--format", "parquet", "--keep-audio", "--partition-by", "session"],
    ["--format", "jsonl"],
])
def test_no_canary_in_any_export_file(sqlite_url, tmp_path, args):
    """Raw bytes and decoded Parquet cells of every output file are free of the keys."""
    _store_leaky_session(sqlite_url)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "export", "--all", "--out",
                                      str(out), *args])
    assert result.exit_code == 0, result.output
    assert not _leaks(result.output.encode())
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert not _leaks(path.read_bytes()), path
        if path.suffix == ".parquet":
            assert not _leaks(_parquet_text(path)), path


def test_no_redact_keeps_payload_keys_but_not_header_secrets(sqlite_url, tmp_path):
    """--no-redact keeps keys in frames (they are data) and still masks session secrets."""
    _store_leaky_session(sqlite_url)
    out = tmp_path / "c"
    CliRunner().invoke(cli, ["--db", sqlite_url, "export", "--all", "--format", "jsonl",
                             "--no-redact", "--out", str(out)])
    data = next(out.iterdir()).read_bytes()
    assert SK.encode() in data.split(b"\n", 1)[1]
    assert AZURE.encode() not in data and BEARER.encode() not in data


def test_notebook_api_is_redacted(sqlite_url):
    """DataFrames from rtcapture.open carry no key either."""
    sid = _store_leaky_session(sqlite_url)
    with rtcapture.open(sqlite_url) as rec:
        frames = [rec.sessions(), rec.events(sid), rec.responses(sid)]
    for df in frames:
        assert not _leaks(df.to_csv().encode())


def test_imported_cassette_secrets_do_not_reach_the_database(sqlite_url, tmp_path):
    """A hand-made cassette with raw session secrets is stored redacted."""
    _store_leaky_session(sqlite_url)
    out = tmp_path / "c"
    CliRunner().invoke(cli, ["--db", sqlite_url, "export", "--all", "--format", "jsonl",
                             "--no-redact", "--out", str(out)])
    target = tmp_path / "t.db"
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{target}", "import",
                                      *map(str, out.iterdir())])
    assert result.exit_code == 0, result.output
    store = open_store(f"sqlite:///{target}")
    rec = store.sessions()[0]
    store.close()
    assert not _leaks(repr(rec).encode())


def test_json_escaped_key_in_a_payload(sqlite_url, tmp_path):
    """A frame spelling the key's dash as ``\\u002d`` (valid JSON for the same string) is
    redacted in ``show --jsonl`` and in cassettes, raw and decoded."""
    store = open_store(sqlite_url)
    escaped = SK.replace("-", "\\u002d").encode()
    make_session(store, [("client", b'{"type": "session.update", "session": '
                                    b'{"instructions": "key ' + escaped + b'"}}', 0)],
                 label="escaped")
    store.close()
    inner = SK[3:].encode()

    def clean(data: bytes) -> bool:
        decoded = "\n".join(json.dumps(json.loads(line)) for line in data.splitlines() if line)
        return inner not in data and inner not in decoded.encode() and \
            "\\u002d" + SK[3:] not in decoded

    shown = CliRunner().invoke(cli, ["--db", sqlite_url, "show", "@escaped", "--jsonl"])
    assert shown.exit_code == 0, shown.output
    assert clean(shown.output.encode())
    out = tmp_path / "c"
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "export", "@escaped", "--format",
                                      "jsonl", "--out", str(out)])
    assert result.exit_code == 0, result.output
    (cassette,) = out.iterdir()
    assert clean(cassette.read_bytes())
