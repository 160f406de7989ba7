"""The GPT-Live sample cassettes in ``samples/cassettes/live/``, byte for byte.

    python samples/make_live_samples.py          # or: python -m rtcapture.mock.live.samples

Each sample is a scripted client played against the Live mock in-process (fixed seed, fixed
clock, a virtual session clock: 100 ms per input chunk), stored as the recorder would store
it and written as a cassette by the export package's writer. Nothing depends on the wall
clock or on chance.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ...codec import encode_samples
from ...export.cassette import write_cassette
from ...protocol import (
    G711_ULAW,
    AudioFormat,
    ClosedBy,
    Direction,
    Flavour,
    Opcode,
    live,
    redact_headers,
)
from ...proxy.ingest import SessionTally
from ...store import EventRecord, SessionRecord, Status, open_store
from ..scenario import parse_scenario
from ..synth import silence, synthesize
from .connection import LiveMockConnection

EPOCH = datetime(2026, 1, 2, 9, 0, tzinfo=UTC)
MODEL = "gpt-live-1"
FORMAT: AudioFormat = G711_ULAW
CHUNK_MS = 100
PATH = "/v1/live/sessions"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


@dataclass
class Player:
    """Drives the mock like a client streaming real-time audio, on a virtual clock."""

    conn: LiveMockConnection
    frames: list[tuple[Direction, int, bytes]] = field(default_factory=list)
    t_ns: int = 0
    base_ns: int = 0
    """Where the next stretch of audio starts (audio streams without gaps in between)."""

    async def send(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """One client event; the server events it caused."""
        data = json.dumps(event, separators=(",", ":")).encode()
        self.t_ns += 1000
        self.frames.append((Direction.CLIENT, self.t_ns, data))
        before = len(self.conn.sent)
        await self.conn.on_frame(data.decode())
        out = []
        for raw in self.conn.sent[before:]:
            self.t_ns += 1000
            self.frames.append((Direction.SERVER, self.t_ns, raw))
            out.append(json.loads(raw))
        return out

    async def stream(self, pcm: np.ndarray) -> list[dict[str, Any]]:
        """Audio in 100 ms chunks, each sent 100 ms after the last."""
        got: list[dict[str, Any]] = []
        data = encode_samples(pcm, FORMAT)
        step = int(CHUNK_MS * FORMAT.bytes_per_ms)
        for i in range(0, len(data), step):
            self.t_ns = max(self.t_ns, (i // step) * CHUNK_MS * 1_000_000 + self.base_ns)
            got += await self.send({"type": live.INPUT_APPEND,
                                    "audio": base64.b64encode(data[i:i + step]).decode()})
        self.base_ns = self.t_ns + CHUNK_MS * 1_000_000
        return got


def speech(text: str, tail_ms: float = 2500) -> np.ndarray:
    """A user utterance with quiet around it, at the sample format's rate."""
    rate = FORMAT.rate
    return np.concatenate([silence(300, rate), synthesize(text, rate, voice="user-voice")
                           .samples, silence(tail_ms, rate)])


def _start(delegation: dict[str, Any] | None = None) -> dict[str, Any]:
    session: dict[str, Any] = {"model": MODEL, "instructions": "Be brief.",
                               "audio": {"format": {"type": "audio/pcmu", "rate": 8000},
                                         "output": {"voice": "marin"}}}
    if delegation is not None:
        session["delegation"] = delegation
    return {"type": live.SESSION_START, "event_id": "evt_client_start", "session": session}


async def _voice_turns(p: Player) -> None:
    await p.send(_start())
    await p.stream(speech("What time is it"))
    await p.stream(speech("Thank you"))
    await p.send({"type": live.SESSION_CLOSE, "event_id": "evt_client_close"})


async def _delegation(p: Player) -> None:
    await p.send(_start({"type": "responses", "responses": {"model": "gpt-5.2",
                                                            "tools": [WEATHER_TOOL]}}))
    got = await p.stream(speech("What is the weather in Paris", tail_ms=800))
    call = next(e["event"]["item"] for e in got if e["type"] == live.RESPONSE_EVENT
                and e["event"]["type"] == "response.output_item.done")
    await p.send({"type": live.RESPONSE_ITEM_CREATE, "item": {
        "type": "function_call_output", "call_id": call["call_id"],
        "output": json.dumps({"temperature_c": 18, "sky": "sunny"})}})
    await p.send({"type": live.RESPONSE_CREATE})
    await p.stream(silence(4000, FORMAT.rate))
    await p.send({"type": live.SESSION_CLOSE})


@dataclass(frozen=True)
class LiveSample:
    name: str
    summary: str
    scenario: dict[str, Any]
    run: Callable[[Player], Awaitable[None]]


SAMPLES = (
    LiveSample("live-voice-turn", "two spoken questions, two spoken answers (G.711 u-law)",
               {"user_audio": [{"transcript": "What time is it?"},
                               {"transcript": "Thank you."}],
                "rules": [{"turn": 1, "reply": "It is noon."},
                          {"turn": 2, "reply": "You are welcome."}]}, _voice_turns),
    LiveSample("live-delegation", "a question delegated to a Responses backend that calls "
               "get_weather; the function output goes back; Live speaks the answer",
               {"user_audio": [{"transcript": "What's the weather in Paris?"}]}, _delegation),
)


def _ulid(started: datetime, name: str) -> str:
    ms = int((started - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
    rand = int.from_bytes(hashlib.sha256(name.encode()).digest()[:10], "big")
    value = (ms << 80) | rand
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


async def play(sample: LiveSample) -> Player:
    conn = LiveMockConnection(None, scenario=parse_scenario(sample.scenario), seed=0,
                              fast=True, clock=lambda: EPOCH.timestamp())
    conn.keep_sent = True
    player = Player(conn)
    await sample.run(player)
    return player


def build_session(sample: LiveSample, index: int, player: Player
                  ) -> tuple[SessionRecord, list[EventRecord]]:
    """The stored session a recorder in front of the mock would have made."""
    started = EPOCH + timedelta(minutes=index)
    label = f"sample-{sample.name}"
    sid = _ulid(started, label)
    base_ns = int(started.timestamp()) * 1_000_000_000
    tally = SessionTally()
    tally.flavour.path_hint = Flavour.LIVE
    events = [tally.build(sid, seq, direction, t, base_ns + t, Opcode.TEXT, data)
              for seq, (direction, t, data) in enumerate(player.frames)]
    headers = redact_headers([("Host", "127.0.0.1:8765"), ("Upgrade", "websocket"),
                              ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13"),
                              ("Authorization", "Bearer sk-demo-not-a-real-key"),
                              ("User-Agent", "OpenAI/Python 3.57.0")])
    rec = SessionRecord(
        id=sid, started=started, status=Status.CLOSED,
        ended=started + timedelta(microseconds=(player.t_ns + 1_000_000) // 1000),
        upstream_url="ws://127.0.0.1:8800", path=PATH, model=MODEL,
        client_addr="127.0.0.1:50000", headers=headers, close_code=1000, close_reason="",
        closed_by=ClosedBy.SERVER, label=label)
    for key, value in tally.totals().items():
        setattr(rec, key, value)
    return rec, events


def generate(out_dir: Path) -> list[Path]:
    """Write every Live sample cassette into ``out_dir``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with tempfile.TemporaryDirectory(prefix="rtcapture-live-samples-") as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'samples.db'}")
        try:
            for index, sample in enumerate(SAMPLES):
                rec, events = build_session(sample, index, asyncio.run(play(sample)))
                store.save_session(rec, events)
                path = out_dir / f"{sample.name}.jsonl"
                write_cassette(store, store.session(rec.id), path)
                paths.append(path)
        finally:
            store.close()
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make_live_samples",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("samples") / "cassettes" / "live",
                        help="folder for the cassettes  [default: samples/cassettes/live]")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
