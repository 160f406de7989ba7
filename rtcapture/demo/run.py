"""The demo end to end: the mock and the recorder in-process on free ports, one scripted
session through them, then WAVs, a Parquet dataset, a JSONL cassette and a replay diff.

The steps after the recording call the same functions as ``rtcapture audio``, ``export``
and ``replay --target playback --diff``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..mock import Scenario, parse_scenario, serve_mock
from ..protocol import (
    INPUT_AUDIO_COMMITTED,
    ITEM_CREATE,
    RESPONSE_DONE,
    Direction,
    Flavour,
    decode_event,
)
from ..style import unstyle
from .client import FlowError, open_client
from .files import (
    CASSETTE_FILE,
    DATASET_DIR,
    DB_FILE,
    DIFF_FILE,
    REPORT_FILE,
    clear_demo_files,
)
from .flows import (
    BargeIn,
    ResponseSeen,
    Script,
    barge_in,
    configure,
    function_call_round_trip,
    text_turn,
    voice_turn,
)

DEMO_LABEL = "demo"
REPLAY_LABEL = "demo-replay"
INSTRUCTIONS = "You are a friendly voice assistant. Keep answers short."
WEATHER = {"city": "Paris", "temperature_c": 18, "sky": "sunny"}
STORY_HEARD_MS = 1500
"""How much of the story the user hears before talking over it."""

Progress = Callable[[str], None]


class DemoError(Exception):
    """The demo could not run (the message is one line for the user)."""


def demo_scenario() -> Scenario:
    """The scenario shipped with the package (a copy of ``samples/scenarios/demo.toml``)."""
    import tomllib

    text = resources.files(__package__).joinpath("demo.toml").read_text(encoding="utf-8")
    return parse_scenario(tomllib.loads(text), "demo.toml")


@dataclass
class Conversation:
    """The scripted session, as the client saw it."""

    text: ResponseSeen
    call: ResponseSeen
    answer: ResponseSeen
    barge: BargeIn


async def converse(s: Script) -> Conversation:
    """A text turn; a spoken question answered through a tool call; a story cut short."""
    await configure(s, audio=True, vad=True, tools=True, transcription=True,
                    instructions=INSTRUCTIONS)
    text = await text_turn(s, "Hello! Who am I talking to?")
    call = await voice_turn(s, "What's the weather like in Paris today?")
    answer = await function_call_round_trip(s, call, WEATHER)
    barge = await barge_in(s, "Tell me a story.", "Stop, that's enough.",
                            after_ms=STORY_HEARD_MS)
    return Conversation(text, call, answer, barge)


@dataclass
class DemoOptions:
    """What ``rtcapture demo`` was asked for."""

    out: Path
    db_url: str | None = None
    """None: the demo's own SQLite file in ``out`` (replaced on every run)."""
    client: str = "auto"
    flavour: Flavour = Flavour.GA
    fast: bool = False
    timeout_s: float = 30.0

    @property
    def own_db(self) -> bool:
        return self.db_url is None

    @property
    def database(self) -> str:
        return self.db_url or f"sqlite:///{self.out / DB_FILE}"


@dataclass
class DemoResult:
    """Everything the tour reports."""

    options: DemoOptions
    session_id: str
    replay_id: str
    client_name: str
    conversation: Conversation
    record: Any = None
    """The recorded session's ``SessionRecord``."""
    audio_files: list[Any] = field(default_factory=list)
    dataset: Path | None = None
    cassette_frames: int = 0
    typed_turns: int = 0
    spoken_turns: int = 0
    calls: dict[str, str] = field(default_factory=dict)
    """Function calls by response id: ``name(arguments)``."""
    diff_equal: bool = False
    differences: int = 0
    elapsed_s: float = 0.0


@asynccontextmanager
async def demo_recorder(options: DemoOptions, echo: Progress) -> AsyncIterator[Any]:
    """The mock (demo scenario) and a recorder in front of it, on free ports."""
    from ..proxy.recorder import Recorder, parse_upstream
    from ..proxy.relay import RelayConfig

    async with serve_mock("127.0.0.1", 0, scenario=demo_scenario(), fast=options.fast) as mock:
        recorder = Recorder("127.0.0.1", 0, mock.url, options.database,
                            RelayConfig(upstream=parse_upstream(mock.url)), label=DEMO_LABEL,
                            echo=echo)
        await recorder.start()
        try:
            yield recorder
        finally:
            await recorder.stop()


async def _record(options: DemoOptions, echo: Progress) -> tuple[str, str, Conversation]:
    async with demo_recorder(options, echo) as recorder:
        client = await open_client(options.client, recorder.url, options.flavour,
                                   realtime=not options.fast, timeout_s=options.timeout_s)
        session_ids = [r.session_id for r in recorder.sessions.values()]
        try:
            conversation = await converse(Script(client))
        finally:
            await client.close()
    if len(session_ids) != 1:
        raise DemoError(f"expected one recorded session, found {len(session_ids)}")
    return session_ids[0], client.name, conversation


def prepare_out(options: DemoOptions) -> None:
    """Check ``--out`` and remove what an earlier demo run wrote there."""
    out = options.out
    if out.exists() and not out.is_dir():
        raise DemoError(f"--out {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    clear_demo_files(out, own_db=options.own_db)


def run_demo(options: DemoOptions, progress: Progress, echo: Progress) -> DemoResult:
    """Run the whole demo; ``progress`` gets one line per step, ``echo`` the recorder's."""
    started = time.monotonic()
    prepare_out(options)
    pace = "as fast as possible" if options.fast else "in real time, about 15 s"
    progress(f"[1/4] mock server and recorder up; playing a scripted session ({pace})")
    try:
        session_id, client_name, conversation = asyncio.run(_record(options, echo))
    except FlowError as exc:
        raise DemoError(f"the scripted session failed: {exc}") from None
    result = DemoResult(options, session_id, "", client_name, conversation)
    from ..store import open_store

    store = open_store(options.database)
    try:
        _write_files(store, result, progress)
    finally:
        store.close()
    result.elapsed_s = time.monotonic() - started
    return result


def _write_files(store: Any, result: DemoResult, progress: Progress) -> None:
    from ..audio import extract_audio
    from ..export.cassette import write_cassette
    from ..export.parquet import ParquetOptions, write_dataset

    out, sid = result.options.out, result.session_id
    record = result.record = store.session(sid)
    _tally(store, result)
    progress("[2/4] writing WAVs (input, output, conversation, one per turn)")
    result.audio_files = extract_audio(store, sid, out, per_turn=True).files
    progress("[3/4] exporting Parquet (events, sessions, responses) and a JSONL cassette")
    result.dataset = out / DATASET_DIR
    write_dataset(store, [record], result.dataset, ParquetOptions())
    result.cassette_frames = write_cassette(store, record, out / CASSETTE_FILE)
    progress("[4/4] replaying the recording against playback and diffing")
    result.replay_id, diff = replay_and_diff(store, sid, out)
    result.diff_equal = diff.equal
    result.differences = len(diff.differences)


def replay_and_diff(store: Any, sid: str, out: Path) -> tuple[str, Any]:
    """Replay the recording against playback, diff it, write the report and the diff text;
    the replay's id and the diff result."""
    from ..replay.diff import DiffOptions
    from ..replay.report import report_json, summary_lines
    from ..replay.run import PLAYBACK, ReplayRequest, diff_sessions, replay_session

    info = replay_session(store, sid, ReplayRequest(target=PLAYBACK, fast=True,
                                                    label=REPLAY_LABEL))
    if not info.connected or info.endpoint_error:
        raise DemoError(f"the replay failed: {info.endpoint_error or 'could not connect'}")
    options = DiffOptions(latency_tolerance_ms=None)  # a fast replay has no latencies to compare
    a, b, diff = diff_sessions(store, sid, info.session_id, options)
    doc = report_json(a, b, diff, options, info, 0 if diff.equal else 1)
    (out / REPORT_FILE).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
                                   encoding="utf-8")
    (out / DIFF_FILE).write_text("\n".join(unstyle(line) for line in
                                           summary_lines(a, b, diff, info)) + "\n",
                                 encoding="utf-8")
    return info.session_id, diff


def _tally(store: Any, result: DemoResult) -> None:
    """Typed and spoken user turns, and the function calls, from the stored events."""
    for ev in store.events(result.session_id,
                           types=[ITEM_CREATE, INPUT_AUDIO_COMMITTED, RESPONSE_DONE]):
        event = decode_event(ev.data) or {}
        if ev.type == ITEM_CREATE and ev.direction == Direction.CLIENT:
            item = event.get("item") or {}
            if item.get("type") == "message" and item.get("role") == "user":
                result.typed_turns += 1
        elif ev.type == INPUT_AUDIO_COMMITTED:
            result.spoken_turns += 1
        elif ev.type == RESPONSE_DONE:
            response = event.get("response") or {}
            for item in response.get("output") or []:
                if isinstance(item, dict) and item.get("type") == "function_call":
                    result.calls[str(response.get("id"))] = \
                        f"{item.get('name')}({item.get('arguments')})"
