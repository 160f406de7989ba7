"""``rtcapture check`` on sessions recorded through the real recorder in front of the mock.

A scripted client streams a microphone in real time (20 ms appends), the mock's VAD and
scenario answer, and the client barges in (or fails to) as each case scripts.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import junitparser
import numpy as np
import pytest
from click.testing import CliRunner
from websockets.asyncio.client import connect

from rtcapture.check import RuleSet, check_session, session_turns
from rtcapture.cli import cli as main
from rtcapture.mock.synth import silence, synthesize
from rtcapture.proxy.recorder import Recorder, parse_upstream
from rtcapture.proxy.relay import RelayConfig
from rtcapture.store import open_store
from tests.conftest import deadline
from tests.mock.test_cli import mock_process

CHUNK_MS = 10
RATE = 24000
SILENCE_MS = 200  # the session's server_vad silence window


def _scenario(path: Path, latency_ms: float, error: bool = False) -> Path:
    """A scenario file: a long story (sent faster than real time), then a short reply."""
    fault = ('[[rules]]\nmatch = "story"\n'
             'error = { type = "server_error", code = "boom", message = "Injected." }\n'
             if error else "")
    path.write_text(f"""rtcapture_scenario = 1
name = "check"
[[user_audio]]
transcript = "Tell me a story."
[[user_audio]]
transcript = "Stop."
{fault}
[[rules]]
match = "story"
pacing = 8
latency_ms = {latency_ms}
reply = "{'Once upon a time there was a lighthouse. ' * 4}"
[[rules]]
pacing = 8
latency_ms = {latency_ms}
reply = "Sure, I will stop."
""", encoding="utf-8")
    return path


_SPOKEN: dict[str, np.ndarray] = {}


def _speech(text: str) -> np.ndarray:
    """An utterance and 600 ms of silence (synthesised once: never while the mic runs)."""
    if text not in _SPOKEN:
        _SPOKEN[text] = np.concatenate([synthesize(text, RATE, voice="user-voice").samples,
                                        silence(600, RATE)]).astype(np.int16)
    return _SPOKEN[text]


@dataclass
class Client:
    """A real-time microphone and a player model, over one WebSocket."""

    ws: Any
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    queue: list[np.ndarray] = field(default_factory=list)
    onsets: list[float] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def mic(self) -> None:
        """Streams 20 ms chunks at real time: queued speech, else silence."""
        step = RATE * CHUNK_MS // 1000
        pending = np.zeros(0, dtype=np.int16)
        start = time.monotonic()
        n = 0
        while True:
            if pending.size == 0 and self.queue:
                pending = self.queue.pop(0)
                self.onsets.append(time.monotonic())
            chunk, pending = pending[:step], pending[step:]
            if chunk.size < step:
                chunk = np.concatenate([chunk, np.zeros(step - chunk.size, dtype=np.int16)])
            await self.send({"type": "input_audio_buffer.append",
                             "audio": base64.b64encode(chunk.tobytes()).decode()})
            n += 1
            ahead = start + n * CHUNK_MS / 1000 - time.monotonic()
            if ahead < 0:  # the loop stalled: carry on at real time, never in a burst
                start -= ahead
                ahead = 0.0
            await asyncio.sleep(ahead)

    async def reader(self) -> None:
        async for frame in self.ws:
            self.events.append((time.monotonic(), json.loads(frame)))
            self.changed.set()

    async def wait(self, etype: str, after: int = 0, timeout: float = 20) -> tuple[int, float,
                                                                                  dict]:
        async with asyncio.timeout(deadline(timeout)):
            while True:
                for i in range(after, len(self.events)):
                    if self.events[i][1]["type"] == etype:
                        return i, self.events[i][0], self.events[i][1]
                self.changed.clear()
                await self.changed.wait()

    def audio(self, upto: int | None = None) -> tuple[str | None, float, float | None]:
        """(item id, ms delivered, time of the first delta) of the assistant's audio."""
        item, ms, first = None, 0.0, None
        for t, ev in self.events[:upto]:
            if ev["type"] == "response.output_audio.delta" and item in (None, ev["item_id"]):
                item = ev["item_id"]
                first = first if first is not None else t
                ms += len(base64.b64decode(ev["delta"])) / 48
        return item, ms, first


@asynccontextmanager
async def recorded(db_url: str, tmp_path: Path, latency_ms: float, error: bool = False
                   ) -> AsyncIterator[Client]:
    """The mock (its own process: its speech synthesis must not stall this client) behind
    the recorder, and a connected client whose microphone is running."""
    _speech("Tell me a story.")
    _speech("Stop.")
    scenario = _scenario(tmp_path / "scenario.toml", latency_ms, error)
    async with mock_process("--scenario", str(scenario)) as (_, mock_url):
        rec = Recorder("127.0.0.1", 0, mock_url, db_url,
                       RelayConfig(upstream=parse_upstream(mock_url)), echo=lambda _: None)
        await rec.start()
        try:
            async with connect(f"{rec.url}/v1/realtime?model=gpt-realtime", max_size=None,
                               additional_headers={"Authorization": "Bearer sk-test-0"}) as ws:
                client = Client(ws)
                await client.send({"type": "session.update", "session": {
                    "type": "realtime", "output_modalities": ["audio"],
                    "audio": {"input": {"turn_detection": {
                        "type": "server_vad", "silence_duration_ms": SILENCE_MS}}}}})
                tasks = [asyncio.create_task(client.reader()), asyncio.create_task(client.mic())]
                try:
                    await client.wait("session.updated")
                    yield client
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await rec.stop()


async def _barge_in(db_url: str, tmp_path: Path, mode: str) -> dict[str, Any]:
    """Ask for a story, interrupt it 1 s into playback; the client reacts per ``mode``."""
    facts: dict[str, Any] = {}
    async with recorded(db_url, tmp_path, 1000) as c:
        c.queue.append(_speech("Tell me a story."))
        i, _, _ = await c.wait("response.output_audio.delta")
        _, _, first = c.audio()
        await asyncio.sleep(max(0.0, first + 1.0 - time.monotonic()))  # playing for 1 s
        c.queue.append(_speech("Stop."))
        j, t_started, _ = await c.wait("input_audio_buffer.speech_started", i)
        item, delivered, first = c.audio(j)
        if mode in ("correct", "beyond"):
            await asyncio.sleep(0.3)
        elif mode == "late":
            await asyncio.sleep(1.5)
        if mode != "missing":
            t_tr = time.monotonic()
            heard = min(delivered, (t_tr - first) * 1000)
            end = delivered + 2000 if mode == "beyond" else heard
            await c.send({"type": "conversation.item.truncate", "item_id": item,
                          "content_index": 0, "audio_end_ms": int(end)})
            facts["truncate_after_started_ms"] = (t_tr - t_started) * 1000
            facts["overlap_ms"] = (t_tr - c.onsets[1]) * 1000
        await c.wait("response.done", j)
        facts["item"] = item
    return facts


def _check(db_url: str, rules: RuleSet | None = None) -> tuple[Any, list[Any], dict]:
    with open_store(db_url) as store:
        rec = store.sessions()[0]
        result = check_session(store, rec, rules)
        turns, _, _ = session_turns(store, rec)
        times = {}
        for ev in store.events(rec.id):
            times.setdefault(ev.type, []).append(ev.t_ns / 1e6)
    return result, turns, times


@pytest.mark.parametrize("mode", ["correct", "missing", "beyond", "late"])
async def test_barge_in(sqlite_url: str, tmp_path: Path, mode: str) -> None:
    """(a) correct: no violation; (b) no truncate; (c) beyond delivered; (d) 1.5 s late."""
    facts = await _barge_in(sqlite_url, tmp_path, mode)
    result, turns, times = _check(sqlite_url)
    story = turns[0]
    assert story.interrupted and story.item_id == facts["item"]
    rules = [v.rule for v in result.violations]
    t_started = times["input_audio_buffer.speech_started"][1]
    t_truncate = times.get("conversation.item.truncate", [None])[0]
    if mode == "correct":
        assert result.violations == []
        assert story.yield_by == "truncate"
        assert abs(story.talk_over_ms - facts["overlap_ms"]) <= 40
        return
    expected = {"missing": ("barge-in.missing-truncate", t_started),
                "beyond": ("barge-in.beyond-delivered", t_truncate),
                "late": ("barge-in.late-truncate", t_truncate)}[mode]
    assert expected[0] in rules, rules
    v = next(v for v in result.violations if v.rule == expected[0])
    assert abs(v.t_ms - expected[1]) <= 20 and v.item_id == facts["item"]


async def _one_turn(db_url: str, tmp_path: Path, latency_ms: float, error: bool = False) -> None:
    async with recorded(db_url, tmp_path, latency_ms, error) as c:
        c.queue.append(_speech("Tell me a story."))
        await c.wait("error" if error else "response.done", timeout=30)


async def test_latency_violation_and_perceived_latency(sqlite_url: str, tmp_path: Path) -> None:
    """(e) a reply 2.5 s late: latency.perceived; perceived = latency + VAD silence."""
    await _one_turn(sqlite_url, tmp_path, 2500)
    result, turns, times = _check(sqlite_url)
    turn = turns[0]
    assert abs(turn.perceived_latency_ms - (2500 + SILENCE_MS)) <= 20, turn
    v = next(v for v in result.violations if v.rule == "latency.perceived")
    assert abs(v.t_ms - times["response.output_audio.delta"][0]) <= 20
    assert v.item_id == turn.item_id is not None and v.response_id == turn.response_id


async def test_quick_reply_perceived_latency(sqlite_url: str, tmp_path: Path) -> None:
    """An 800 ms reply: perceived latency 800 ms + the silence window, no violation."""
    await _one_turn(sqlite_url, tmp_path, 800)
    result, turns, _ = _check(sqlite_url)
    assert abs(turns[0].perceived_latency_ms - (800 + SILENCE_MS)) <= 20
    assert abs(turns[0].vad_wait_ms - SILENCE_MS) <= 20
    assert result.violations == []


async def test_error_event_and_junit(sqlite_url: str, tmp_path: Path) -> None:
    """(f) an error event is a violation; --format junit parses and its counts match."""
    await _one_turn(sqlite_url, tmp_path, 800, error=True)
    result, _, times = _check(sqlite_url)
    v = next(v for v in result.violations if v.rule == "errors.server-error")
    assert abs(v.t_ms - times["error"][0]) <= 20 and v.item_id is None
    out = tmp_path / "check.xml"
    run = CliRunner().invoke(main, ["--db", sqlite_url, "check", "--all", "--format", "junit",
                                    "--out", str(out)])
    assert run.exit_code == 1, run.output
    xml = junitparser.JUnitXml.fromfile(str(out))
    cases = [case for suite in xml for case in suite]
    failed = {case.name for case in cases if case.result}
    assert len(cases) == len(RuleSet().enabled())
    assert failed == {v.rule for v in result.violations}
    assert CliRunner().invoke(main, ["--db", sqlite_url, "check"]).exit_code == 2
