"""Session ids from cassettes cannot steer where files are written.

``import`` takes only ids as the recorder makes them; and should a database hold another
one all the same (imported by an older rtcapture), every file named after it stays inside
the folder the user gave, or the command stops with one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rtcapture.cli import cli
from rtcapture.ids import new_id
from rtcapture.store import open_store
from tests.audio.builders import PCM, appends, delta, ga_session, tone
from tests.factories import make_session

BAD_IDS = ["../../escaped", "/tmp/escaped-abs", "..", "a/b", "",
           "01KDWCYWS0S679M8TZXE1A5DE",  # 25 characters
           "01KDWCYWS0S679M8TZXE1A5DEXX",  # 27
           "01kdwcyws0s679m8tzxe1a5dex",  # lower case
           "01KDWCYWS0S679M8TZXE1A5DEI",  # I is not in the alphabet
           "01KDWCYWS0S679M8TZXE1A5D/X", 7, None]


def _run(db_url: str, *args: str):
    return CliRunner().invoke(cli, ["--db", db_url, *args])


def _cassette(tmp_path: Path, sid: object, **session: object) -> Path:
    header = {"rtcapture_cassette": 1, "frames": 0, "session": {
        "id": sid, "started": "2026-01-01T09:00:00Z", "status": "closed", **session}}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(header) + "\n")
    return path


@pytest.mark.parametrize("sid", BAD_IDS)
def test_import_refuses_ids_the_recorder_never_makes(sqlite_url: str, tmp_path: Path,
                                                     sid: object) -> None:
    """A path-like, short, long, lower-case or off-alphabet id: exit 2, one line naming the
    file and line, nothing imported."""
    path = _cassette(tmp_path, sid)
    result = _run(sqlite_url, "import", str(path))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"{path} line 1: session id" in lines[0], result.output
    assert "Traceback" not in result.output
    with open_store(sqlite_url) as store:
        assert store.sessions() == []


def test_import_refuses_a_path_like_replay_of(sqlite_url: str, tmp_path: Path) -> None:
    """``replay_of`` names a session too: it is held to the same rule."""
    path = _cassette(tmp_path, new_id(), replay_of="../../x")
    result = _run(sqlite_url, "import", str(path))
    assert result.exit_code == 2 and "line 1: session replay_of" in result.output


def test_import_takes_a_recorder_id(sqlite_url: str, tmp_path: Path) -> None:
    """The rule admits what the recorder makes."""
    sid = new_id()
    result = _run(sqlite_url, "import", str(_cassette(tmp_path, sid)))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == sid


@pytest.fixture
def bad_db(tmp_path: Path) -> tuple[str, Path]:
    """A database that already holds a session with a path-like id (and audio)."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with open_store(url) as store:
        frames = [("server", ga_session("session.created", PCM, PCM), 0),
                  *appends(tone(1.0), 2400, 10, 100), ("server", delta(tone(0.5), "i"), 1200)]
        make_session(store, frames, session_id="../../escaped", label="bad")
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    return url, work


def _outside(root: Path, inside: Path) -> list[Path]:
    return [p for p in root.rglob("*escaped*") if inside not in p.parents]


def test_jsonl_export_stays_in_out(bad_db: tuple[str, Path]) -> None:
    """``export --format jsonl --out DIR`` writes nothing outside DIR: it stops, one line."""
    url, work = bad_db
    out = work / "out"
    result = _run(url, "export", "--all", "--format", "jsonl", "--out", str(out))
    assert result.exit_code == 2, result.output
    assert "refusing to write '../../escaped.jsonl'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert _outside(work.parent.parent, out) == []


def test_parquet_partition_stays_in_out(bad_db: tuple[str, Path]) -> None:
    """``--partition-by session`` folders are held to the same rule."""
    url, work = bad_db
    out = work / "ds"
    result = _run(url, "export", "--all", "--partition-by", "session", "--out", str(out))
    assert result.exit_code == 2, result.output
    assert "refusing to write 'session_id=../../escaped'" in result.output
    assert _outside(work.parent.parent, out) == []


def test_audio_default_folder_stays_here(bad_db: tuple[str, Path],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """``audio`` without ``--out`` never follows the id out of the current folder."""
    url, work = bad_db
    monkeypatch.chdir(work)
    result = _run(url, "audio", "@bad")
    assert result.exit_code == 2, result.output
    assert "must stay inside the current folder" in result.output
    assert _outside(work.parent.parent, work) == []
    assert not any(work.parent.parent.rglob("*.wav"))
