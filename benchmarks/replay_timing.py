"""Replay timing fidelity: how far each client frame's send time is from its intended time.

1. Generates a long recording (not committed): a server-VAD conversation against the mock
   (``rtcapture mock --fast`` in its own process): every turn is spoken audio streamed as
   20 ms PCM16 appends, the mock's spoken reply, then a typed note sent 50 ms after the
   reply's ``response.done``. The conversation is driven as fast as the mock answers and
   its timestamps are laid on a real-time clock (appends 20 ms apart on the audio clock),
   so the stored session looks like a real-time recording of ``--minutes`` minutes.
2. Replays it with ``rtcapture replay`` (the same code path: planner thread, id mapping,
   recording writer thread) against a fresh mock process, at ``--speed`` (default 1).
3. Prints, per run, the send-time error (actual send minus intended send) over every
   client frame: p50, p99, max. As a reference measured in the same run (this machine is
   shared and noisy), a bare asyncio loop sends the same client frames at their recorded
   times over a websocket to the same kind of mock process, with no dependencies, no id
   mapping and no recording: the floor any replayer in Python here could reach.

The intended time of a frame is its recorded gap after the previous frame's intended
time, or after the arrival of the server event it waits for, whichever is later (see
``rtcapture/replay/driver.py``); waiting for a slow server is not counted as error.

Usage: python benchmarks/replay_timing.py [--minutes 5] [--speed 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from rtcapture.ids import new_id
from rtcapture.mock.synth import silence, synthesize
from rtcapture.proxy.ingest import SessionTally
from rtcapture.replay.run import ReplayRequest, replay_session, send_error_stats
from rtcapture.store import SessionRecord, Status, open_store, utcnow

CHUNK_MS = 20
PHRASES = ["Hello there, how are you today?", "What can you tell me about the weather?",
           "Please remind me to buy some milk.", "That sounds good, thank you."]


def start_mock() -> tuple[subprocess.Popen[str], str]:
    """``rtcapture mock --fast`` in its own process; returns it and its base URL."""
    proc = subprocess.Popen([sys.executable, "-m", "rtcapture", "-q", "mock", "--fast",
                             "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("mock listening on "):
        proc.kill()
        raise SystemExit(f"the mock did not start: {line!r}")
    return proc, line.removeprefix("mock listening on ")


class Clock:
    """Lays frames of an as-fast-as-possible run on a real-time timeline."""

    def __init__(self) -> None:
        self.t_ns = 0
        self.frames: list[tuple[str, int, bytes]] = []

    def add(self, direction: str, data: bytes, at_ns: int | None = None) -> None:
        self.t_ns = max(self.t_ns + 200_000, at_ns or 0)  # 0.2 ms apart at least
        self.frames.append((direction, self.t_ns, data))


async def generate(url: str, minutes: float) -> tuple[list[tuple[str, int, bytes]], str]:
    """Drive a server-VAD conversation of ``minutes`` of audio; returns timed frames."""
    path = "/v1/realtime?model=gpt-realtime"
    clock = Clock()
    async with connect(url + path, max_size=None, compression=None) as ws:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def read() -> None:
            async for message in ws:
                assert isinstance(message, str)
                clock.add("server", message.encode())
                await inbox.put(json.loads(message))

        async def wait_for(etype: str) -> None:
            while (await inbox.get())["type"] != etype:
                pass

        async def send(event: dict[str, Any], at_ns: int | None = None) -> None:
            data = json.dumps(event).encode()
            clock.add("client", data, at_ns)
            await ws.send(data, text=True)

        reader = asyncio.create_task(read())
        await wait_for("session.created")
        await send({"type": "session.update", "session": {
            "type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad"}}}}})
        await wait_for("session.updated")
        audio_ms = 0.0
        turn = 0
        while audio_ms < minutes * 60_000:
            samples = synthesize(PHRASES[turn % len(PHRASES)], seed=turn).samples
            speech = [samples, silence(800)]
            start = clock.t_ns + CHUNK_MS * 1_000_000
            n = 0
            for part in speech:
                for i in range(0, len(part), 24 * CHUNK_MS):
                    chunk = base64.b64encode(part[i:i + 24 * CHUNK_MS].tobytes()).decode()
                    await send({"type": "input_audio_buffer.append", "audio": chunk},
                               at_ns=start + n * CHUNK_MS * 1_000_000)
                    n += 1
            audio_ms += n * CHUNK_MS
            await wait_for("response.done")
            await send({"type": "conversation.item.create", "item": {
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": f"note {turn}"}]}},
                at_ns=clock.t_ns + 50_000_000)
            await wait_for("conversation.item.done")
            turn += 1
        await ws.close()
        await reader
    return clock.frames, path


def store_recording(db: str, frames: list[tuple[str, int, bytes]], path: str) -> str:
    """Save the timed frames as a finished session; returns its id."""
    sid = new_id()
    tally = SessionTally()
    base = time.time_ns()
    events = [tally.build(sid, seq, direction, t_ns, base + t_ns, "text", data)
              for seq, (direction, t_ns, data) in enumerate(frames)]
    record = SessionRecord(id=sid, started=utcnow(), status=Status.CLOSED, path=path,
                           model="gpt-realtime", closed_by="client", close_code=1000)
    for key, value in tally.totals().items():
        setattr(record, key, value)
    with open_store(db) as store:
        store.save_session(record, events)
    return sid


async def bare_pacing(url: str, frames: list[tuple[str, int, bytes]], path: str,
                      speed: float) -> list[int]:
    """The reference: send the client frames at their recorded times, nothing else."""
    errors: list[int] = []
    async with connect(url + path, max_size=None, compression=None) as ws:
        async def drain() -> None:
            async for _ in ws:
                pass

        reader = asyncio.create_task(drain())
        t0 = time.monotonic_ns()
        for direction, t_ns, data in frames:
            if direction != "client":
                continue
            intended = t0 + int(t_ns / speed)
            delay = (intended - time.monotonic_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            errors.append(time.monotonic_ns() - intended)
            await ws.send(data, text=True)
        await ws.close()
        await reader
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'bench.db'}"
        proc, url = start_mock()
        try:
            started = time.monotonic()
            frames, path = asyncio.run(generate(url, args.minutes))
        finally:
            proc.terminate()
            proc.wait()
        sid = store_recording(db, frames, path)
        clients = sum(1 for d, _, _ in frames if d == "client")
        span_s = frames[-1][1] / 1e9
        print(f"recording: {len(frames)} frames ({clients} client), {span_s:.0f} s long, "
              f"generated in {time.monotonic() - started:.1f} s")
        p99s, ref_p99s = [], []
        for rep in range(args.repeats):
            proc, url = start_mock()
            try:
                ref = send_error_stats(asyncio.run(bare_pacing(url, frames, path, args.speed)))
            finally:
                proc.terminate()
                proc.wait()
            ref_p99s.append(ref["p99"])
            print(f"reference {rep + 1}: bare pacing loop: p50 {ref['p50']:.3f} ms, "
                  f"p99 {ref['p99']:.3f} ms, max {ref['max']:.3f} ms")
            proc, url = start_mock()
            try:
                with open_store(db) as store:
                    started = time.monotonic()
                    info = replay_session(store, sid, ReplayRequest(
                        target=url, speed=args.speed, timeout_s=10))
                    took = time.monotonic() - started
            finally:
                proc.terminate()
                proc.wait()
            err = info.send_error_ms
            if info.endpoint_error:
                raise SystemExit(f"replay failed: {info.endpoint_error}")
            with open_store(db) as store:
                stored = store.session(info.session_id)
            p99s.append(err["p99"])
            print(f"replay {rep + 1}: speed {args.speed:g}, {info.frames_sent}/"
                  f"{info.frames_planned} frames in {took:.1f} s; send-time error "
                  f"p50 {err['p50']:.3f} ms, p99 {err['p99']:.3f} ms, max {err['max']:.3f} ms; "
                  f"stored {stored.client_events} client / {stored.server_events} server "
                  f"frames; {len(info.notes)} notes")
        p99, ref_p99 = statistics.median(p99s), statistics.median(ref_p99s)
        print(f"median p99 over {len(p99s)} runs: replay {p99:.3f} ms, reference "
              f"{ref_p99:.3f} ms ({p99 / ref_p99:.2f}x); target: replay p99 < 5 ms at "
              "--speed 1")


if __name__ == "__main__":
    main()
