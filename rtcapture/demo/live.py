"""``rtcapture demo --api live``: the demo's conversation on GPT-Live.

The same mock scenario (``demo.toml``) and the same steps as the Realtime demo, on the Live
wire: a spoken question answered through a Responses delegation that calls
``get_weather``, then a story the user talks over. Live has no typed input, so the text
turn is left out. Then WAVs, Parquet (with ``utterances``), a cassette and a playback
replay diffed by turn.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from ..codec import encode_samples
from ..mock.synth import silence, synthesize
from ..protocol import PCM16, live
from .client import DEMO_API_KEY
from .files import CASSETTE_FILE, DATASET_DIR, DIFF_FILE
from .run import (
    INSTRUCTIONS,
    WEATHER,
    DemoError,
    DemoOptions,
    Progress,
    demo_recorder,
    prepare_out,
    replay_and_diff,
)

CHUNK_MS = 100
STORY_HEARD_MS = 1500
LIVE_TABLES = ("utterances", "delegations")
TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                         "required": ["city"]}}]


class _LiveUser:
    """A Live client streaming audio like a microphone (real time unless ``fast``)."""

    def __init__(self, ws: ClientConnection, fast: bool, timeout_s: float) -> None:
        self.ws = ws
        self.fast = fast
        self.timeout_s = timeout_s
        self.events: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name="live-demo-reader")

    async def _read(self) -> None:
        async for frame in self.ws:
            self.events.append(json.loads(frame))
            self._arrived.set()

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def wait_for(self, kind: str, after: int = 0, **fields: Any) -> dict[str, Any]:
        """The first event of ``kind`` (matching ``fields``) at index ``after`` or later."""
        async with asyncio.timeout(self.timeout_s):
            while True:
                for event in self.events[after:]:
                    if event["type"] == "error":
                        raise DemoError(f"the mock refused an event: {event['error']}")
                    if event["type"] == kind and all(
                            _get(event, k) == v for k, v in fields.items()):
                        return event
                self._arrived.clear()
                await self._arrived.wait()

    async def stream(self, samples: np.ndarray, until: Any = None) -> None:
        """Send 100 ms chunks; stop early once ``until()`` holds."""
        data = encode_samples(samples, PCM16)
        step = int(CHUNK_MS * PCM16.bytes_per_ms)
        t0 = time.monotonic()
        for n, i in enumerate(range(0, len(data), step)):
            if until is not None and until():
                return
            await self.send({"type": live.INPUT_APPEND,
                             "audio": base64.b64encode(data[i:i + step]).decode()})
            if not self.fast:
                await asyncio.sleep(max(0.0, t0 + (n + 1) * CHUNK_MS / 1000 - time.monotonic()))
            else:
                await asyncio.sleep(0)  # let the reader see the answers

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


def _get(event: dict[str, Any], dotted: str) -> Any:
    node: Any = event
    for part in dotted.split("__"):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _speech(text: str) -> np.ndarray:
    return np.concatenate([silence(300), synthesize(text, 24000, voice="user-voice").samples,
                           silence(900)])


async def _start(user: _LiveUser) -> None:
    await user.send({"type": live.SESSION_START, "event_id": "demo-start", "session": {
        "model": "gpt-live-1", "instructions": INSTRUCTIONS,
        "audio": {"format": {"type": "audio/pcm", "rate": 24000},
                  "output": {"voice": "marin"}},
        "delegation": {"type": "responses", "responses": {"model": "gpt-5.2",
                                                          "tools": TOOLS}}}})
    await user.wait_for(live.SESSION_STARTED)


async def _converse(user: _LiveUser) -> None:
    await user.stream(_speech("What's the weather like in Paris today?"))
    done = await user.wait_for(live.RESPONSE_EVENT, event__type="response.output_item.done")
    await user.send({"type": live.RESPONSE_ITEM_CREATE, "item": {
        "type": "function_call_output", "call_id": done["event"]["item"]["call_id"],
        "output": json.dumps(WEATHER)}})
    await user.send({"type": live.RESPONSE_CREATE})
    mark = len(user.events)
    await user.stream(silence(3500))
    await user.wait_for(live.OUTPUT_TRANSCRIPT_DELTA, after=mark)
    mark = len(user.events)

    def story_started() -> bool:
        return any(e["type"] == live.OUTPUT_TRANSCRIPT_DELTA for e in user.events[mark:])
    await user.stream(np.concatenate([_speech("Tell me a story."), silence(3000)]),
                      until=story_started)
    await user.stream(silence(STORY_HEARD_MS))  # the user listens, then talks over it
    await user.stream(np.concatenate([_speech("Stop, that's enough."), silence(2500)]))
    await user.send({"type": live.SESSION_CLOSE, "event_id": "demo-close"})
    await user.wait_for(live.SESSION_CLOSED)


@dataclass
class LiveDemoResult:
    session_id: str = ""
    replay_id: str = ""
    files: list[Any] = field(default_factory=list)
    utterances: list[dict[str, Any]] = field(default_factory=list)
    diff_equal: bool = False
    elapsed_s: float = 0.0


async def _record(options: DemoOptions, echo: Progress) -> str:
    async with demo_recorder(options, echo) as recorder:
        ws = await connect(f"{recorder.url}/v1/live/sessions", max_size=None,
                           additional_headers={"Authorization": f"Bearer {DEMO_API_KEY}"})
        user = _LiveUser(ws, options.fast, options.timeout_s)
        try:
            await _start(user)
            ids = [r.session_id for r in recorder.sessions.values()]
            await _converse(user)
        finally:
            await user.close()
    if len(ids) != 1:
        raise DemoError(f"expected one recorded session, found {len(ids)}")
    return ids[0]


def run_live_demo(options: DemoOptions, progress: Progress, echo: Progress) -> LiveDemoResult:
    """Record the demo's conversation on Live, then write its files; like ``run_demo``."""
    from ..audio import extract_audio
    from ..export.cassette import write_cassette
    from ..export.live import utterance_rows
    from ..export.parquet import ParquetOptions, write_dataset
    from ..store import open_store

    started = time.monotonic()
    out = options.out
    prepare_out(options)
    for table in LIVE_TABLES:
        shutil.rmtree(out / DATASET_DIR / table, ignore_errors=True)
    pace = "as fast as possible" if options.fast else "in real time, about 20 s"
    progress(f"[1/4] mock server and recorder up; playing the conversation on GPT-Live ({pace})")
    result = LiveDemoResult(asyncio.run(_record(options, echo)))
    store = open_store(options.database)
    try:
        record = store.session(result.session_id)
        progress("[2/4] writing WAVs (input, output, conversation, one per utterance)")
        result.files = extract_audio(store, result.session_id, out, per_turn=True).files
        progress("[3/4] exporting Parquet (events, sessions, utterances, delegations) and a "
                 "JSONL cassette")
        write_dataset(store, [record], out / DATASET_DIR, ParquetOptions())
        write_cassette(store, record, out / CASSETTE_FILE)
        progress("[4/4] replaying the recording against playback and diffing by turn")
        result.replay_id, diff = replay_and_diff(store, result.session_id, out)
        result.diff_equal = diff.equal
        from ..export.live import LiveScan

        scan = LiveScan()
        scan.deltas = [(ev.seq, json.loads(ev.data)) for ev in store.events(
            result.session_id, types=sorted(live.SPEAKER_OF))]
        result.utterances = utterance_rows(result.session_id, scan)
    finally:
        store.close()
    result.elapsed_s = time.monotonic() - started
    return result


def live_tour_lines(options: DemoOptions, result: LiveDemoResult) -> list[str]:
    """What the Live demo did and where its files are."""
    lines = [f"GPT-Live demo session {result.session_id} recorded "
             f"in {result.elapsed_s:.1f} s; utterances (timeline ms):"]
    for u in result.utterances:
        latency = f"  latency {u['latency_ms']:.0f} ms" if u["latency_ms"] is not None else ""
        lines.append(f"  {u['start_ms']:>7.0f}  {u['speaker']:<9} {u['text']!r}{latency}")
    for f in result.files:
        lines.append(f"  {f.kind:<15} {f.path}  {f.duration_s:.2f} s")
    out = options.out
    lines.append(f"  dataset         {out / DATASET_DIR}")
    lines.append(f"  cassette        {out / CASSETTE_FILE}")
    verdict = "no differences" if result.diff_equal else "differences"
    lines.append(f"  replay {result.replay_id} against playback: {verdict} "
                 f"({out / DIFF_FILE})")
    return lines
