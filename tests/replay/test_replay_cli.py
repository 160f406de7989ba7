"""Acceptance: replay and diff end to end, through the CLI, against the embedded mock."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from rtcapture.cli import cli
from rtcapture.mock import parse_scenario, serve_mock
from rtcapture.protocol import Flavour
from rtcapture.store import open_store
from tests.conftest import deadline
from tests.replay.scripts import FLOWS, record_flow, weather_answer

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "samples").rglob("*.jsonl"))
PLAYBACK_FLOWS = ["text", "vad_audio", "function_call", "barge_in", "cancel"]
BASE_SCENARIO = """
[defaults]
pacing = 20
"""
CHANGED_SCENARIO = """
[defaults]
pacing = 20
latency_ms = 1500

[[rules]]
after_tool = "*"
reply = "Bring an umbrella, it is pouring down in the city today."

[[rules]]
tool_mentioned = true
tool_call = { name = "get_weather", arguments = { city = "Lyon" } }
"""


def run(db: str, *args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, ["--db", db, "-q", *args], env=env, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


async def _record(db: str, flows: list[tuple[str, Flavour, bool]]) -> dict[str, str]:
    """Record flows against the mock (fast unless paced); returns label -> session id."""
    store = open_store(db)
    ids: dict[str, str] = {}
    try:
        for name, flavour, paced in flows:
            scenario = parse_scenario(tomllib.loads(BASE_SCENARIO)) if name == "weather" else None
            async with serve_mock(fast=not paced, scenario=scenario) as mock:
                label = f"{name}-{flavour}"
                ids[label] = await record_flow(store, mock.url, FLOWS.get(name, weather_answer),
                                               flavour, label=label, realtime_audio=False)
    finally:
        store.close()
    return ids


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """Fresh mock recordings of every flow in both dialects, in one SQLite database."""
    db = f"sqlite:///{tmp_path_factory.mktemp('replay') / 'rec.db'}"
    flows = [(name, flavour, name == "cancel") for name in [*PLAYBACK_FLOWS, "id_references"]
             for flavour in (Flavour.GA, Flavour.BETA)]
    flows.append(("weather", Flavour.GA, True))
    return db, asyncio.run(_record(db, flows))


@pytest.mark.parametrize("flavour", ["ga", "beta"])
@pytest.mark.parametrize("flow", PLAYBACK_FLOWS)
def test_playback_of_a_fresh_recording_has_no_differences(
        recorded: tuple[str, dict[str, str]], flow: str, flavour: str, tmp_path: Path) -> None:
    """replay --target playback --diff of a freshly recorded mock session exits 0."""
    db, ids = recorded
    original = ids[f"{flow}-{flavour}"]
    report = tmp_path / "report.json"
    result = run(db, "replay", original, "--target", "playback", "--diff",
                 "--report", str(report))
    assert result.exit_code == 0, result.output
    assert "no differences" in result.output
    doc = json.loads(report.read_text())
    assert doc["equal"] is True and doc["differences"] == [] and doc["exit_code"] == 0
    with open_store(db) as store:
        replay = store.session(doc["b"]["id"])
        source = store.session(original)
    assert replay.replay_of == original and replay.flavour == source.flavour == flavour
    assert replay.client_events == source.client_events
    assert replay.server_events == source.server_events


@pytest.mark.parametrize("flavour", ["ga", "beta"])
def test_replay_against_the_mock_translates_ids(recorded: tuple[str, dict[str, str]],
                                                flavour: str) -> None:
    """Truncate, delete, retrieve, a function call round trip and an item_reference,
    replayed against a mock handing out other ids: the same events, no error."""
    db, ids = recorded
    original = ids[f"id_references-{flavour}"]
    result = run(db, "replay", original, "--target", "mock", "--seed", "7", "--fast",
                 "--diff", "--report", "-")
    doc = json.loads(result.stdout)
    assert result.exit_code == 0, doc["differences"]
    replay_id = doc["b"]["id"]
    assert doc["replay"]["ids_translated"] >= 8
    with open_store(db) as store:
        old = [json.loads(e.data) for e in store.events(original)]
        new = [json.loads(e.data) for e in store.events(replay_id)]
        new_server = [json.loads(e.data) for e in store.events(replay_id, direction="server")]
    assert not [e for e in new if e["type"] == "error"]
    assert [e["type"] for e in old if "delta" not in e["type"]] == \
        [e["type"] for e in new if "delta" not in e["type"]]
    sent = {e["type"]: e for e in new if e["type"] in (
        "conversation.item.truncate", "conversation.item.delete", "conversation.item.retrieve")}
    recorded_sent = {e["type"]: e for e in old if e["type"] in sent}
    server_ids = {e["item"]["id"] for e in new_server if isinstance(e.get("item"), dict)}
    for etype, event in sent.items():
        assert event["item_id"] != recorded_sent[etype]["item_id"]
        assert event["item_id"] in server_ids
    outputs = [e for e in new if e["type"] == "conversation.item.create"
               and e["item"]["type"] == "function_call_output"]
    calls = {e["call_id"] for e in new if e["type"] == "response.function_call_arguments.done"}
    assert outputs and outputs[0]["item"]["call_id"] in calls
    reference = next(e for e in new if e["type"] == "response.create" and e.get("response"))
    assert reference["response"]["input"][0]["id"] in server_ids


def test_a_changed_scenario_is_reported_at_its_paths(recorded: tuple[str, dict[str, str]],
                                                     tmp_path: Path) -> None:
    """Other reply text, other tool arguments and slower first audio: exit 1, each change
    at its path with old and new values; the unchanged scenario gives exit 0."""
    db, ids = recorded
    original = ids["weather-ga"]
    base = tmp_path / "base.toml"
    base.write_text(BASE_SCENARIO)
    same = run(db, "replay", original, "--target", "mock", "--seed", "3", "--scenario",
               str(base), "--diff")
    assert same.exit_code == 0, same.output
    scenario = tmp_path / "changed.toml"
    scenario.write_text(CHANGED_SCENARIO)
    report = tmp_path / "report.json"
    result = run(db, "replay", original, "--target", "mock", "--seed", "3",
                 "--scenario", str(scenario), "--diff", "--report", str(report))
    assert result.exit_code == 1, result.output
    found = {d["path"]: d for d in json.loads(report.read_text())["differences"]}
    city = found["response[0].output[0].arguments.city"]
    assert (city["old"], city["new"]) == ("Oslo", "Lyon")
    transcript = found["response[1].transcript"]
    assert "umbrella" in transcript["new"] and "umbrella" not in transcript["old"]
    latency = found["response[1].latency.first_audio_ms"]
    assert latency["new"] > latency["old"] + 1000
    for path in ("response[0].output[0].arguments.city", "response[1].transcript",
                 "response[1].latency.first_audio_ms"):
        assert path in result.output
    ignored = run(db, "diff", original, json.loads(report.read_text())["b"]["id"],
                  *[arg for path in found for arg in ("--ignore", path)])
    assert ignored.exit_code == 0, ignored.output


def test_refused_target_exits_3_within_the_timeout(recorded: tuple[str, dict[str, str]]
                                                    ) -> None:
    """Nothing listening: exit 3 with a one-line reason, well within --timeout + 1 s."""
    db, ids = recorded
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    result = run(db, "replay", ids["text-ga"], "--target", f"ws://127.0.0.1:{port}",
                 "--timeout", "1")
    assert time.monotonic() - start < 1 + 1
    assert result.exit_code == 3
    assert result.output.strip().count("\n") == 0 and "Connection refused" in result.output


def test_silent_targets_exit_3_within_the_timeout(recorded: tuple[str, dict[str, str]]) -> None:
    """A target that never answers the handshake, or accepts and never sends, exits 3."""
    from websockets.sync.server import serve

    db, ids = recorded
    with socket.socket() as listener:  # completes TCP, never answers the upgrade
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        start = time.monotonic()
        result = run(db, "replay", ids["vad_audio-ga"], "--target",
                     f"ws://127.0.0.1:{listener.getsockname()[1]}", "--timeout", "1")
        assert time.monotonic() - start < 1 + 1
        assert result.exit_code == 3 and "handshake" in result.output

    def silent(ws: Any) -> None:
        for _ in ws:
            pass

    with serve(silent, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        start = time.monotonic()
        result = run(db, "replay", ids["vad_audio-ga"], "--target",
                     f"ws://127.0.0.1:{server.socket.getsockname()[1]}", "--timeout", "1")
        assert time.monotonic() - start < 1 + 1
        server.shutdown()
    assert result.exit_code == 3, result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: the target")


@pytest.fixture
def mock_url() -> Iterator[str]:
    """The mock in a background thread (so the CLI under test connects over the network)."""
    ready: list[str] = []
    stop = threading.Event()
    started = threading.Event()

    async def main() -> None:
        async with serve_mock(fast=True) as mock:
            ready.append(mock.url)
            started.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)  # poll the thread's stop flag

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert started.wait(deadline(5))
    yield ready[0]
    stop.set()
    thread.join(deadline(5))


def test_the_key_never_reaches_the_database_or_the_output(
        recorded: tuple[str, dict[str, str]], mock_url: str, tmp_path: Path) -> None:
    """OPENAI_API_KEY and --header keys are sent, never stored, printed or reported."""
    db, ids = recorded
    canary, other = "sk-canary-REPLAY-0000111122223333", "hunter2-azure-key-9876"
    report = tmp_path / "r.json"
    result = run(db, "-v", "replay", ids["text-ga"], "--target", mock_url, "--diff",
                 "--header", f"api-key: {other}", "--report", str(report),
                 env={"OPENAI_API_KEY": canary})
    assert result.exit_code == 0, result.output
    doc = json.loads(report.read_text())
    with open_store(db) as store:
        replay = store.session(doc["b"]["id"])
    assert ("Authorization", f"Bearer {canary}") not in replay.headers
    assert any(name == "api-key" and value.startswith("REDACTED-")
               for name, value in replay.headers)
    db_path = Path(db.removeprefix("sqlite:///"))
    for path in [db_path, Path(f"{db_path}-wal"), report]:
        if path.exists():
            data = path.read_bytes()
            assert canary.encode() not in data and other.encode() not in data
    assert canary not in result.output and other not in result.output


def test_usage_errors_exit_2_without_traceback(recorded: tuple[str, dict[str, str]]) -> None:
    """Bad options and unknown sessions: exit 2 and one line."""
    db, ids = recorded
    sid = ids["text-ga"]
    cases = [
        (["replay", sid, "--target", "playback", "--speed", "2", "--fast"], "--fast"),
        (["replay", sid, "--target", "playback", "--scenario", "x.toml"], "--scenario"),
        (["replay", sid, "--target", "playback", "--ignore", "response[0]"], "needs --diff"),
        (["replay", sid, "--target", "playback", "--diff", "--ignore", "a[x]"], "--ignore"),
        (["replay", sid, "--target", "ftp://example"], "--target"),
        (["replay", sid, "--target", "ws://127.0.0.1:1", "--path", "v1"], "--path"),
        (["replay", "nope", "--target", "playback"], "no session"),
        (["diff", sid, "nope"], "no session"),
        (["replay", sid, "--target", "mock", "--scenario", __file__], "scenario"),
    ]
    for args, needle in cases:
        result = run(db, *args)
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.output, (args, result.output)


def test_diff_command_reports_and_ignores(recorded: tuple[str, dict[str, str]]) -> None:
    """diff A B: exit 1 with a JSON report on stdout; the reported paths silence it."""
    db, ids = recorded
    result = run(db, "diff", ids["text-ga"], ids["function_call-ga"], "--report", "-")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["equal"] is False and doc["a"]["id"] == ids["text-ga"]
    paths = [d["path"] for d in doc["differences"]]
    assert "response[1]" in paths
    assert {"old", "new", "kind", "rule"} <= set(doc["differences"][0])
    quiet = run(db, "diff", ids["text-ga"], ids["function_call-ga"],
                *[arg for p in paths for arg in ("--ignore", p)])
    assert quiet.exit_code == 0 and f"({len(paths)} suppressed by --ignore)" in quiet.output
    same = run(db, "diff", ids["text-ga"], ids["text-ga"])
    assert same.exit_code == 0 and "no differences" in same.output


def test_playback_replay_is_stored_on_postgresql(pg_url: str) -> None:
    """The replay is recorded through the store on PostgreSQL too."""
    ids = asyncio.run(_record(pg_url, [("text", Flavour.GA, False)]))
    result = run(pg_url, "replay", ids["text-ga"], "--target", "playback", "--diff",
                 "--label", "pg-replay")
    assert result.exit_code == 0, result.output
    with open_store(pg_url) as store:
        (replay,) = store.sessions(label="pg-replay")
        assert replay.replay_of == ids["text-ga"] and replay.status == "closed"
        assert store.count_events(replay.id) == store.count_events(ids["text-ga"])


@pytest.mark.parametrize("cassette", SAMPLES, ids=[p.name for p in SAMPLES])
def test_playback_of_every_sample_has_no_differences(cassette: Path, sqlite_url: str) -> None:
    """replay --target playback --diff of every cassette in samples/ exits 0."""
    imported = run(sqlite_url, "import", str(cassette))
    assert imported.exit_code == 0, imported.output
    sid = json.loads(cassette.read_text(encoding="utf-8").splitlines()[0])["session"]["id"]
    result = run(sqlite_url, "replay", sid, "--target", "playback", "--diff")
    assert result.exit_code == 0, result.output
    assert "no differences" in result.output
