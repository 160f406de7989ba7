"""A new user's typical mistakes each get one clear line: a mistyped database or session,
an ambiguous prefix, a port in use, a base URL with the wrong scheme."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from rtcapture.cli import cli
from rtcapture.store import open_store
from tests.factories import make_session

FRAMES = [("server", {"type": "session.created", "event_id": "e1"}, 0)]


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("command", [
    ["sessions"], ["show", "last"], ["audio", "last"], ["export", "--all", "--out", "x"],
    ["diff", "a", "b"], ["replay", "last", "--target", "playback"], ["db", "current"],
    ["mock", "--playback", "last", "--listen", "127.0.0.1:0"],
    ["report", "last"], ["check", "last"],
])
def test_read_commands_never_create_a_database(tmp_path, monkeypatch, command) -> None:
    """A command that only reads, given a database that does not exist, says so (exit 2)
    and leaves no file behind (a typo used to create a stray rtcapture.db)."""
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    result = _run("--db", url, *command)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (f"Error: no database at {url} (nothing recorded there "
                                     "yet: record first, or point --db / RTCAPTURE_DB at a "
                                     "recording)")
    assert list(tmp_path.iterdir()) == []


def test_no_session_names_the_database(sqlite_url) -> None:
    """'no session matches' (and 'no session labelled') say which database was searched,
    with its secrets redacted."""
    make_session(open_store(sqlite_url), FRAMES, label="demo")
    result = _run("--db", sqlite_url, "show", "01XYZ")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: no session matches '01XYZ' in {sqlite_url}"
    result = _run("--db", sqlite_url, "show", "@dmeo")
    assert result.stderr.strip() == f"Error: no session labelled 'dmeo' in {sqlite_url}"


def test_no_session_redacts_the_url(pg_url) -> None:
    """A PostgreSQL URL with a password is named without it."""
    make_session(open_store(pg_url), FRAMES)
    with_password = pg_url.replace("postgres@", "postgres:hunter2@")
    result = _run("--db", with_password, "show", "01XYZ")
    assert "hunter2" not in result.output and "no session matches '01XYZ' in" in result.stderr


def test_ambiguous_prefix_lists_candidates(sqlite_url) -> None:
    """An ambiguous prefix lists at most five of the sessions it matches."""
    store = open_store(sqlite_url)
    ids = sorted(make_session(store, FRAMES, session_id=f"01AMBIG{n:02d}") for n in range(7))
    two = [make_session(store, FRAMES, session_id=f"01TWO{n}") for n in range(2)]
    store.close()
    result = _run("--db", sqlite_url, "show", "01AMBIG")
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: session prefix '01AMBIG' is ambiguous: "
                                     f"{', '.join(ids[:5])} ... (give more characters)")
    result = _run("--db", sqlite_url, "show", "01TWO")
    assert result.stderr.strip() == (f"Error: session prefix '01TWO' is ambiguous: "
                                     f"{two[0]}, {two[1]} (give more characters)")


@pytest.mark.parametrize("command", [["record"], ["mock"]])
def test_address_in_use_suggests_port_zero(sqlite_url, command) -> None:
    """A port already taken: the error suggests --listen 127.0.0.1:0."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run("--db", sqlite_url, *command, "--listen", f"127.0.0.1:{port}")
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert line.startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")
    assert line.endswith("(another process holds it: --listen 127.0.0.1:0 picks a free port)")


@pytest.mark.parametrize("url,kind", [
    ("ftp://api.openai.com", "scheme"), ("api.openai.com", "scheme"),
    ("wss://api.openai.com/v1?model=x", "query"), ("wss://h:99999", "port"),
])
def test_one_base_url_rule_for_upstream_and_target(sqlite_url, url, kind) -> None:
    """record --upstream and replay --target take the same URLs and refuse the same ones
    with the same message (but for the option's name and its keywords)."""
    make_session(open_store(sqlite_url), FRAMES)
    record = _run("--db", sqlite_url, "record", "--upstream", url).stderr.strip()
    replay = _run("--db", sqlite_url, "replay", "last", "--target", url).stderr.strip()
    assert record.startswith("Error: --upstream ") and replay.startswith("Error: --target ")
    words = {"scheme": "must be a ws://, wss://, http:// or https:// URL",
             "query": "takes no query or fragment", "port": "has an invalid port"}[kind]
    assert words in record and words in replay
    def strip(line):
        return (line.replace(", or 'mock'", "").replace(", 'mock' or 'playback'", "")
                 .replace("--upstream", "--target"))
    assert strip(record) == strip(replay)


@pytest.mark.parametrize("url,expected", [
    ("http://127.0.0.1:1", "ws://127.0.0.1:1"), ("https://api.openai.com", "wss://api.openai.com"),
    ("wss://x.openai.azure.com/openai", "wss://x.openai.azure.com/openai"),
])
def test_http_spellings_mean_websocket(url, expected) -> None:
    """http:// and https:// are accepted by both options as ws:// and wss://."""
    from rtcapture.baseurl import websocket_base
    from rtcapture.replay.target import join_url

    assert websocket_base(url, "--upstream") == expected
    assert join_url(url, "/v1/realtime?model=m") == expected + "/v1/realtime?model=m"
