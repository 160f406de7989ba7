"""JSONL cassettes: lossless round trip, idempotent import, whole-file rejection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtcapture.protocol import Flavour
from rtcapture.render import iso_ns
from rtcapture.store import open_store
from tests.export.sessions import make_three_turns, run_cli
from tests.factories import make_session


def _source(url: str) -> list[str]:
    store = open_store(url)
    ids = [make_three_turns(store, Flavour.GA, label="ga"),
           make_session(store, [("client", b"\xff\xfe\x00raw", 0.0),
                                ("server", {"type": "x", "t": "caf\u00e9 \u2028"}, 1.5),
                                ("client", b"not json", 2.25)], status="incomplete")]
    store.update_session(ids[1], headers=[("Authorization", "Bearer REDACTED-1234abcd-wxyz"),
                                          ("User-Agent", "test")],
                         subprotocols=["realtime"], close_code=1006, closed_by="client",
                         input_audio_ms=12.345678)
    store.close()
    return ids


def _session_count(url: str) -> int:
    store = open_store(url)
    n = len(store.sessions())
    store.close()
    return n


def _rows(url: str, sid: str) -> tuple:
    store = open_store(url)
    rec = store.session(sid)
    events = list(store.events(sid))
    store.close()
    return rec, events


def test_round_trip_is_byte_identical(db_url, tmp_path):
    """export -> import into an empty database -> export gives identical files and rows
    (wall time to the microsecond, as the cassette's ISO time carries it)."""
    ids = _source(db_url)
    first, second = tmp_path / "first", tmp_path / "second"
    assert run_cli(db_url, "export", "--all", "--format", "jsonl", "--out", str(first)).exit_code == 0
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    files = sorted(str(p) for p in first.iterdir())
    result = run_cli(empty, "import", *files)
    assert result.exit_code == 0, result.output
    assert run_cli(empty, "export", "--all", "--format", "jsonl", "--out", str(second)).exit_code == 0
    for name in (f"{i}.jsonl" for i in ids):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    for sid in ids:
        (rec_a, ev_a), (rec_b, ev_b) = _rows(db_url, sid), _rows(empty, sid)
        assert rec_a == rec_b
        assert [(e.seq, e.direction, e.t_ns, e.opcode, e.data, e.type, e.parse_error,
                 e.audio_bytes, iso_ns(e.wall_ns)) for e in ev_a] == \
               [(e.seq, e.direction, e.t_ns, e.opcode, e.data, e.type, e.parse_error,
                 e.audio_bytes, iso_ns(e.wall_ns)) for e in ev_b]


def test_import_twice_does_not_duplicate(sqlite_url, tmp_path):
    """The same cassette imported twice leaves one session."""
    ids = _source(sqlite_url)
    path = tmp_path / "one.jsonl"
    assert run_cli(sqlite_url, "export", ids[0], "--format", "jsonl",
                "--out", str(path)).exit_code == 0
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert run_cli(target, "import", str(path)).exit_code == 0
    result = run_cli(target, "import", str(path))
    assert result.exit_code == 0 and "skipped" in result.output
    assert _session_count(target) == 1


def _cassette(url: str, tmp_path: Path) -> Path:
    sid = _source(url)[0]
    path = tmp_path / "c.jsonl"
    run_cli(url, "export", sid, "--format", "jsonl", "--out", str(path))
    return path


def _cut(path: Path, keep_lines: int | None = None, keep_bytes: int | None = None) -> Path:
    data = path.read_bytes()
    if keep_lines is not None:
        data = b"".join(data.splitlines(keepends=True)[:keep_lines])
    if keep_bytes is not None:
        data = data[:keep_bytes]
    bad = path.with_name("bad.jsonl")
    bad.write_bytes(data)
    return bad


def _edit(path: Path, line: int, change) -> Path:
    lines = path.read_bytes().splitlines(keepends=True)
    obj = json.loads(lines[line - 1])
    change(obj)
    lines[line - 1] = json.dumps(obj).encode() + b"\n"
    bad = path.with_name("bad.jsonl")
    bad.write_bytes(b"".join(lines))
    return bad


BAD = {
    "cut mid-line": (lambda p: _cut(p, keep_bytes=len(p.read_bytes()) - 40), "last",
                     "truncated"),
    "cut at a line": (lambda p: _cut(p, keep_lines=10), "line 11", "truncated"),
    "bad json": (lambda p: _edit(p, 5, lambda o: None).write_bytes(
        p.read_bytes().replace(b'"seq": 3,', b'"seq": 3', 1)) and p.with_name("bad.jsonl"),
        "line 5", "JSON"),
    "seq gap": (lambda p: _edit(p, 6, lambda o: o.update(seq=3)), "line 6", "seq 3"),
    "bad base64": (lambda p: _edit(p, 3, lambda o: o.update(text=None) or o.pop("text")
                                   or o.update(data_b64="@@@")), "line 3", "base64"),
    "version 2": (lambda p: _edit(p, 1, lambda o: o.update(rtcapture_cassette=2)), "line 1",
                  "version 2"),
    "no header": (lambda p: _cut(p, keep_lines=0).write_bytes(b'{"seq": 0}\n')
                  and p.with_name("bad.jsonl"), "line 1", "not an rtcapture cassette"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_cassette_is_rejected_whole(sqlite_url, tmp_path, case):
    """A malformed or truncated cassette: exit 2, the file and line named, nothing imported."""
    make, line, words = BAD[case]
    good = _cassette(sqlite_url, tmp_path)
    if line == "last":
        line = f"line {len(good.read_bytes().splitlines())}"
    bad = make(good)
    target = f"sqlite:///{tmp_path / 't.db'}"
    result = run_cli(target, "import", str(bad))
    assert result.exit_code == 2
    assert f"{bad} {line}" in result.output and words in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert _session_count(target) == 0


def test_good_files_import_alongside_a_bad_one(sqlite_url, tmp_path):
    """Several files: the good ones are imported, the bad one reported, exit 2."""
    ids = _source(sqlite_url)
    out = tmp_path / "c"
    run_cli(sqlite_url, "export", "--all", "--format", "jsonl", "--out", str(out))
    bad = out / "zz.jsonl"
    bad.write_bytes(b'{"rtcapture_cassette": 1, "session": {"id": "X"}}\n')
    target = f"sqlite:///{tmp_path / 't.db'}"
    result = run_cli(target, "import", *sorted(str(p) for p in out.iterdir()))
    assert result.exit_code == 2
    assert "zz.jsonl line 1" in result.output
    assert _session_count(target) == len(ids)


def test_single_file_needs_one_session_and_refuses_overwrite(sqlite_url, tmp_path):
    """--out FILE.jsonl takes one session; an existing file needs --force."""
    ids = _source(sqlite_url)
    path = tmp_path / "x.jsonl"
    assert run_cli(sqlite_url, "export", "--all", "--format", "jsonl",
                "--out", str(path)).exit_code == 2
    assert run_cli(sqlite_url, "export", ids[0], "--format", "jsonl",
                "--out", str(path)).exit_code == 0
    assert run_cli(sqlite_url, "export", ids[1], "--format", "jsonl",
                "--out", str(path)).exit_code == 2
    assert run_cli(sqlite_url, "export", ids[1], "--format", "jsonl", "--out", str(path),
                "--force").exit_code == 0
    assert json.loads(path.read_text().splitlines()[0])["session"]["id"] == ids[1]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_cassette_bytes_match_the_golden_file(db_url, tmp_path):
    """The writer gives, byte for byte, the file the pre-``Store`` writer gave for the same
    session; importing that file and writing it again gives it once more."""
    from rtcapture.export.cassette import import_cassette, write_cassette
    from tests.export.golden import GOLDEN, build

    with open_store(db_url) as store:
        sid = build(store)
        assert write_cassette(store, store.session(sid), tmp_path / "a.jsonl") == 8
    assert (tmp_path / "a.jsonl").read_bytes() == GOLDEN.read_bytes()
    with open_store(f"sqlite:///{tmp_path / 'empty.db'}") as store:
        assert import_cassette(store, GOLDEN).imported
        assert not import_cassette(store, GOLDEN).imported
        write_cassette(store, store.session(sid), tmp_path / "b.jsonl")
    assert (tmp_path / "b.jsonl").read_bytes() == GOLDEN.read_bytes()
