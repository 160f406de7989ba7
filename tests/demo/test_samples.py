"""The sample cassettes: they import, replay against playback with no difference, show the
flow they are named after, and the script regenerates them byte for byte."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from rtcapture.demo.samples import DIALECTS, SAMPLES, generate_samples, sample_filename
from rtcapture.protocol import (
    ERROR,
    FUNCTION_ARGS_DONE,
    ITEM_TRUNCATE,
    ITEM_TRUNCATED,
    RESPONSE_CANCEL,
    RESPONSE_DONE,
    SPEECH_STARTED,
    SPEECH_STOPPED,
    TRANSCRIPTION_COMPLETED,
)

from .helpers import SAMPLES as SAMPLES_DIR
from .helpers import run_cli

CASSETTES = SAMPLES_DIR / "cassettes"
FILES = sorted(CASSETTES.glob("*.jsonl"))
MAX_BYTES = 300 * 1024


def _read(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header's session and every frame's event (with its direction)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    events = []
    for line in lines[1:]:
        frame = json.loads(line)
        events.append({"direction": frame["direction"], **json.loads(frame["text"])})
    return json.loads(lines[0])["session"], events


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """Every cassette imported with ``rtcapture import`` into one fresh database."""
    db = f"sqlite:///{tmp_path_factory.mktemp('samples') / 'samples.db'}"
    result = run_cli("--db", db, "import", *map(str, FILES))
    assert result.exit_code == 0, result.output
    ids = result.stdout.split()
    return db, {path.name: sid for path, sid in zip(FILES, ids, strict=True)}


def test_one_cassette_per_flow_and_dialect() -> None:
    """Each flow in both dialects, nothing else, each small."""
    expected = {sample_filename(s, f) for s in SAMPLES for f in DIALECTS}
    assert {p.name for p in FILES} == expected
    assert {"text-turn", "voice-turn", "function-call", "barge-in", "cancel", "error",
            "dropped"} == {s.name for s in SAMPLES}
    for path in FILES:
        assert path.stat().st_size < MAX_BYTES, path.name


def test_every_cassette_imports(imported: tuple[str, dict[str, str]]) -> None:
    """All cassettes load as distinct sessions with their labels and dialects."""
    db, ids = imported
    assert len(set(ids.values())) == len(FILES)
    listing = run_cli("--db", db, "sessions", "--json")
    by_id = {s["id"]: s for s in json.loads(listing.stdout)}
    for name, sid in ids.items():
        session, _ = _read(CASSETTES / name)
        assert by_id[sid]["label"] == session["label"] == f"sample-{name[:-6]}"
        assert by_id[sid]["flavour"] == name[:-6].rsplit("-", 1)[1]


@pytest.mark.parametrize("name", [p.name for p in FILES])
def test_replays_against_playback_with_no_difference(
        name: str, imported: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    """``replay --target playback --diff`` of each cassette exits 0 and reports no
    difference."""
    db, ids = imported
    report = tmp_path / "report.json"
    result = run_cli("--db", db, "replay", ids[name], "--target", "playback", "--diff",
                     "--fast", "--report", str(report))
    assert result.exit_code == 0, result.output
    doc = json.loads(report.read_text())
    assert doc["equal"] is True and doc["differences"] == []


@pytest.mark.parametrize("name", ["text-turn-ga.jsonl", "function-call-beta.jsonl",
                                  "cancel-ga.jsonl"])
def test_real_time_replay_matches_latency_too(
        name: str, imported: tuple[str, dict[str, str]]) -> None:
    """Paced at the recorded gaps, latencies are compared as well: still no difference."""
    db, ids = imported
    result = run_cli("--db", db, "replay", ids[name], "--target", "playback", "--diff")
    assert result.exit_code == 0, result.output


def _types(events: list[dict[str, Any]], direction: str | None = None) -> list[str]:
    return [e["type"] for e in events if direction is None or e["direction"] == direction]


def _done(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["response"] for e in events if e["type"] == RESPONSE_DONE]


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_each_cassette_shows_its_flow(dialect: str) -> None:
    """What samples/README.md says each cassette holds, it holds."""

    def load(flow: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return _read(CASSETTES / f"{flow}-{dialect}.jsonl")

    _, text = load("text-turn")
    assert [r["status"] for r in _done(text)] == ["completed"]
    _, voice = load("voice-turn")
    server = _types(voice, "server")
    assert server.index(SPEECH_STARTED) < server.index(SPEECH_STOPPED) < \
        server.index(RESPONSE_DONE)
    assert TRANSCRIPTION_COMPLETED in server
    _, call = load("function-call")
    assert FUNCTION_ARGS_DONE in _types(call)
    assert any(e["type"] == "conversation.item.create" and
               e["item"]["type"] == "function_call_output" for e in call)
    assert [r["status"] for r in _done(call)] == ["completed", "completed"]
    _, barge = load("barge-in")
    kinds = _types(barge)
    assert kinds.count(SPEECH_STARTED) == 2
    second_speech = len(kinds) - 1 - kinds[::-1].index(SPEECH_STARTED)
    assert kinds[second_speech + 1] == ITEM_TRUNCATE  # the client stops playback at once
    assert ITEM_TRUNCATED in kinds
    _, cancel = load("cancel")
    assert RESPONSE_CANCEL in _types(cancel, "client")
    assert [(r["status"], r["status_details"]["reason"]) for r in _done(cancel)] == \
        [("cancelled", "client_cancelled")]
    _, error = load("error")
    errors = [e for e in error if e["type"] == ERROR]
    assert [e["error"]["code"] for e in errors] == ["rate_limit_exceeded"]
    assert [r["status"] for r in _done(error)] == ["completed"]
    session, dropped = load("dropped")
    assert (session["close_code"], session["closed_by"]) == (1006, "server")
    assert _done(dropped) == [] and session["output_audio_ms"] > 0


def test_regenerated_byte_for_byte(tmp_path: Path) -> None:
    """The script makes exactly the committed cassettes, byte for byte."""
    paths = generate_samples(SAMPLES_DIR / "scenarios", tmp_path)
    assert sorted(p.name for p in paths) == [p.name for p in FILES]
    for path in paths:
        assert path.read_bytes() == (CASSETTES / path.name).read_bytes(), path.name


def test_readme_lists_every_cassette() -> None:
    """samples/README.md names every cassette file."""
    readme = (SAMPLES_DIR / "README.md").read_text(encoding="utf-8")
    for path in FILES:
        assert f"`{path.name}`" in readme, path.name


def test_packaged_demo_scenario_is_the_sample() -> None:
    """The scenario shipped inside the package is samples/scenarios/demo.toml, unchanged."""
    packaged = resources.files("rtcapture.demo").joinpath("demo.toml").read_bytes()
    assert packaged == (SAMPLES_DIR / "scenarios" / "demo.toml").read_bytes()
