"""Regenerates the sample cassettes in ``samples/cassettes/`` (byte for byte).

    python samples/make_samples.py              # or: python -m rtcapture.demo.samples
    python -m rtcapture.demo.samples --scenarios samples/scenarios --out regenerated/

Each sample is one flow of :mod:`rtcapture.demo.flows`, in each dialect, played against the
mock in-process (:mod:`rtcapture.demo.inprocess`, fixed seed, virtual clock). The frames
become a stored session with a fixed start time and a ULID derived from the sample's name,
and the cassette is written by the export package's writer (the format of
``rtcapture export --format jsonl``). Nothing depends on the wall clock or on chance.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..export.cassette import write_cassette
from ..mock import load_scenario
from ..mock.scenario import Scenario
from ..protocol import G711_ULAW, PCM16, AudioFormat, Flavour, Opcode, redact_headers
from ..proxy.ingest import SessionTally
from ..store import EventRecord, SessionRecord, Status, open_store
from . import flows as F
from .client import BETA_MODEL, DEMO_API_KEY, GA_MODEL, USER_AGENT
from .inprocess import InProcessClient

SCENARIO_FILE = "samples.toml"
SEED = 0
EPOCH = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
"""Sample sessions start at this time, one minute apart."""
UPSTREAM = "ws://127.0.0.1:8800"
"""The mock's default address, as a recorder in front of it would store it."""
CLIENT_ADDR = "127.0.0.1:50000"
WEATHER = {"temperature_c": 18, "sky": "sunny"}
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


async def _text_turn(s: F.Script) -> None:
    await F.configure(s, audio=False, vad=False)
    await F.text_turn(s, "Hello! What can you do?")


async def _voice_turn(s: F.Script) -> None:
    await F.configure(s, audio=True, vad=True, transcription=True)
    await F.voice_turn(s, "Tell me a story.")


async def _function_call(s: F.Script) -> None:
    await F.configure(s, audio=False, vad=False, tools=True)
    first = await F.text_turn(s, "What's the weather like in Paris today?")
    await F.function_call_round_trip(s, first, WEATHER)


async def _barge_in(s: F.Script) -> None:
    await F.configure(s, audio=True, vad=True)
    await F.barge_in(s, "Tell me a story.", "Stop, that's enough.", after_ms=1200)


async def _cancel(s: F.Script) -> None:
    await F.configure(s, audio=True, vad=False)
    await F.cancel_turn(s, "Write me an essay about lighthouses.")


async def _error(s: F.Script) -> None:
    await F.configure(s, audio=False, vad=False)
    await F.error_then_retry(s, "How much quota do I have left?")


async def _dropped(s: F.Script) -> None:
    await F.configure(s, audio=True, vad=False)
    await F.dropped_mid_reply(s, "Tell me a story.", after_ms=500)


@dataclass(frozen=True)
class Sample:
    """One flow, as recorded into ``<name>-<dialect>.jsonl``."""

    name: str
    summary: str
    run: Callable[[F.Script], Awaitable[None]]
    fmt: AudioFormat = PCM16


SAMPLES: tuple[Sample, ...] = (
    Sample("text-turn", "a typed message, a text reply", _text_turn),
    Sample("voice-turn", "speech under server VAD, transcribed, a spoken reply (PCM16)",
           _voice_turn),
    Sample("function-call", "get_weather called, its output sent back, the answer",
           _function_call),
    Sample("barge-in", "the user talks over a spoken reply; the client truncates it "
           "(G.711 u-law)", _barge_in, G711_ULAW),
    Sample("cancel", "response.cancel right after response.created", _cancel),
    Sample("error", "response.create refused with an error event, then retried",
           _error),
    Sample("dropped", "the connection drops in the middle of a spoken reply", _dropped),
)
DIALECTS = (Flavour.GA, Flavour.BETA)


def sample_label(sample: Sample, flavour: Flavour) -> str:
    return f"sample-{sample.name}-{flavour}"


def sample_filename(sample: Sample, flavour: Flavour) -> str:
    return f"{sample.name}-{flavour}.jsonl"


def fixed_ulid(started: datetime, name: str) -> str:
    """A ULID whose time is ``started`` and whose random part is a hash of ``name``."""
    ms = int((started - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
    rand = int.from_bytes(hashlib.sha256(name.encode()).digest()[:10], "big")
    value = (ms << 80) | rand
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def _headers(flavour: Flavour) -> list[tuple[str, str]]:
    headers = [("Host", "127.0.0.1:8765"), ("Upgrade", "websocket"),
               ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13"),
               ("Authorization", f"Bearer {DEMO_API_KEY}")]
    if flavour is Flavour.BETA:
        headers.append(("OpenAI-Beta", "realtime=v1"))
    headers.append(("User-Agent", USER_AGENT))
    return redact_headers(headers)


async def play(sample: Sample, flavour: Flavour, scenario: Scenario,
               connection: int = 0) -> InProcessClient:
    """Run one sample's flow (as the mock's ``connection``-th connection, which gives it
    ids of its own); the client holds the frame log and how it closed."""
    model = BETA_MODEL if flavour is Flavour.BETA else GA_MODEL
    client = InProcessClient(scenario, flavour, seed=SEED, model=model,
                             connection=connection)
    await client.start()
    await sample.run(F.Script(client, fmt=sample.fmt))
    await client.close()
    return client


def build_session(sample: Sample, flavour: Flavour, index: int, client: InProcessClient
                  ) -> tuple[SessionRecord, list[EventRecord]]:
    """The stored session a recorder would have made of the client's frame log."""
    label = sample_label(sample, flavour)
    started = EPOCH + timedelta(minutes=index)
    sid = fixed_ulid(started, label)
    base_ns = int((started - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)) \
        * 1000
    tally = SessionTally()
    if flavour is Flavour.BETA:
        tally.flavour.handshake = Flavour.BETA
    events = [tally.build(sid, seq, f.direction, f.t_ns, base_ns + f.t_ns, Opcode.TEXT, f.data)
              for seq, f in enumerate(client.frames)]
    model = BETA_MODEL if flavour is Flavour.BETA else GA_MODEL
    end_ns = (client.frames[-1].t_ns if client.frames else 0) + 1_000_000
    rec = SessionRecord(
        id=sid, started=started, status=Status.CLOSED,
        ended=started + timedelta(microseconds=end_ns // 1000), upstream_url=UPSTREAM,
        path=f"/v1/realtime?model={model}", model=model, client_addr=CLIENT_ADDR,
        headers=_headers(flavour), close_code=client.close_code,
        close_reason=client.close_reason, closed_by=client.closed_by, label=label)
    for key, value in tally.totals().items():
        setattr(rec, key, value)
    return rec, events


def generate_samples(scenarios_dir: Path, out_dir: Path) -> list[Path]:
    """Write every sample cassette into ``out_dir``; returns the paths, in order."""
    scenario = load_scenario(scenarios_dir / SCENARIO_FILE)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="rtcapture-samples-") as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'samples.db'}")
        try:
            index = 0
            for sample in SAMPLES:
                for flavour in DIALECTS:
                    client = asyncio.run(play(sample, flavour, scenario, index))
                    rec, events = build_session(sample, flavour, index, client)
                    store.save_session(rec, events)
                    path = out_dir / sample_filename(sample, flavour)
                    write_cassette(store, store.session(rec.id), path)
                    paths.append(path)
                    index += 1
        finally:
            store.close()
    return paths


def main(argv: list[str] | None = None, *, root: Path | None = None) -> int:
    """Command line: regenerate the cassettes (paths relative to ``root``, default cwd)."""
    base = root or Path.cwd()
    parser = argparse.ArgumentParser(prog="make_samples", description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=Path, default=base / "samples" / "scenarios",
                        help="folder holding samples.toml  [default: samples/scenarios]")
    parser.add_argument("--out", type=Path, default=base / "samples" / "cassettes",
                        help="folder for the cassettes  [default: samples/cassettes]")
    args = parser.parse_args(argv)
    for path in generate_samples(args.scenarios, args.out):
        print(f"{path}  {path.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
