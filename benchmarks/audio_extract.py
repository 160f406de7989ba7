"""Benchmark: ``rtcapture audio`` over a generated one-hour voice session.

Generates a SQLite database holding one real-time-like session (20 ms pcm16 appends for
the whole hour, server VAD turns, replies as bursts of audio deltas of varying size with
transcript deltas, a barge-in truncation every fourth turn), then extracts its audio in a
child process and prints seconds of session audio per wall second and the child's peak
RSS. The database lives in a temporary folder unless ``--keep-db`` names a path.

    python benchmarks/audio_extract.py                  # 60 minutes, 3 runs
    python benchmarks/audio_extract.py --minutes 10 --keep-db /tmp/audio-bench.db

Targets: >= 500x real time and peak RSS < 200 MB for one hour.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from rtcapture.ids import new_id
from rtcapture.protocol import GA_NAMES
from rtcapture.proxy.ingest import SessionTally
from rtcapture.store import EventRecord, SessionRecord, Status, open_store, utcnow

APPEND_MS = 20
TURN_S = 12.0
"""A user turn (~4 s of speech in the mic stream) and the reply, every 12 s."""


class VoiceSession:
    """Yields (direction, event, t_ms) of one synthetic GA voice session."""

    def __init__(self, minutes: float, seed: int = 1) -> None:
        self.minutes = minutes
        self.rng = random.Random(seed)
        self.mic = [base64.b64encode(self.rng.randbytes(960)).decode() for _ in range(16)]

    def _audio(self, ms: int) -> str:
        return base64.b64encode(self.rng.randbytes(ms * 48)).decode()

    def frames(self) -> Iterator[tuple[str, dict[str, Any], float]]:
        session = {"type": "realtime", "audio": {
            "input": {"format": {"type": "audio/pcm", "rate": 24000},
                      "turn_detection": {"type": "server_vad"}},
            "output": {"format": {"type": "audio/pcm", "rate": 24000}}}}
        yield "server", {"type": "session.created", "session": session}, 0.0
        yield "client", {"type": "session.update", "session": session}, 1.0
        yield "server", {"type": "session.updated", "session": session}, 3.0
        replies: list[tuple[str, dict[str, Any], float]] = []
        total_appends = int(self.minutes * 60_000 / APPEND_MS)
        turn = 0
        for i in range(total_appends):
            t_ms = 10.0 + i * APPEND_MS + self.rng.uniform(0, 2)
            while replies and replies[0][2] <= t_ms:
                yield replies.pop(0)
            yield "client", {"type": "input_audio_buffer.append",
                             "audio": self.mic[i % len(self.mic)]}, t_ms
            if i and i % int(TURN_S * 1000 / APPEND_MS) == 0:
                turn += 1
                replies.extend(self._turn(turn, t_ms, i * APPEND_MS))
                replies.sort(key=lambda f: f[2])
        yield from replies

    def _turn(self, turn: int, t_ms: float, stream_ms: int
              ) -> Iterator[tuple[str, dict[str, Any], float]]:
        user, item, resp = f"item_u{turn}", f"item_a{turn}", f"resp_{turn}"
        yield "server", {"type": "input_audio_buffer.speech_started", "item_id": user,
                         "audio_start_ms": stream_ms - 4500}, t_ms - 4000
        yield "server", {"type": "input_audio_buffer.speech_stopped", "item_id": user,
                         "audio_end_ms": stream_ms - 300}, t_ms + 1
        yield "server", {"type": "input_audio_buffer.committed", "item_id": user,
                         "previous_item_id": None}, t_ms + 2
        yield "server", {"type": "response.created", "response": {
            "id": resp, "audio": {"output": {"format": {"type": "audio/pcm",
                                                        "rate": 24000}}}}}, t_ms + 3
        reply_ms = self.rng.randint(3000, 8000)
        at, sent = t_ms + 400, 0
        while sent < reply_ms:
            ms = min(reply_ms - sent, self.rng.choice((40, 80, 120, 200, 240)))
            yield "server", {"type": GA_NAMES.audio_delta, "response_id": resp,
                             "item_id": item, "output_index": 0, "content_index": 0,
                             "delta": self._audio(ms)}, at
            yield "server", {"type": GA_NAMES.transcript_delta, "response_id": resp,
                             "item_id": item, "output_index": 0, "content_index": 0,
                             "delta": "word "}, at + 0.1
            sent += ms
            at += ms / self.rng.uniform(4, 10)  # bursts, faster than real time
        yield "server", {"type": GA_NAMES.audio_done, "response_id": resp,
                         "item_id": item}, at + 1
        yield "server", {"type": "response.done", "response": {"id": resp,
                                                               "status": "completed"}}, at + 2
        if turn % 4 == 0:
            yield "client", {"type": "conversation.item.truncate", "item_id": item,
                             "content_index": 0, "audio_end_ms": reply_ms // 2}, \
                t_ms + 400 + reply_ms // 2


def generate(db_url: str, minutes: float) -> str:
    """Store one generated session; returns its id."""
    sid = new_id()
    tally = SessionTally()
    started = utcnow()
    base_ns = time.time_ns()
    last_t = [0]

    def events() -> Iterator[EventRecord]:
        for seq, (direction, event, t_ms) in enumerate(VoiceSession(minutes).frames()):
            t_ns = max(int(t_ms * 1e6), last_t[0])
            last_t[0] = t_ns
            yield tally.build(sid, seq, direction, t_ns, base_ns + t_ns, "text",
                              json.dumps(event).encode())

    rec = SessionRecord(id=sid, started=started, status=Status.CLOSED, model="gpt-realtime",
                        path="/v1/realtime?model=gpt-realtime", label="audio-bench")
    with open_store(db_url) as store:
        store.save_session(rec, events())
        store.update_session(sid, ended=started + timedelta(microseconds=last_t[0] / 1000),
                             **tally.totals())
    return sid


CHILD = """
import json, sys, time
from pathlib import Path
from rtcapture.audio import extract_audio
from rtcapture.store import open_store
db, sid, out, per_turn = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4] == "1"
t0, c0 = time.perf_counter(), time.process_time()
with open_store(db) as store:
    report = extract_audio(store, sid, out, per_turn=per_turn)
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                  "files": [f.as_json() for f in report.files]}))
"""


def run_child(db_url: str, sid: str, out: Path, per_turn: bool) -> tuple[dict[str, Any], float]:
    """Extract in a fresh process; returns its report and peak RSS (MB, all children)."""
    proc = subprocess.run([sys.executable, "-c", CHILD, db_url, sid, str(out),
                           "1" if per_turn else "0"], capture_output=True, text=True,
                          check=True)
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return json.loads(proc.stdout), rss_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep-db", type=Path, help="Write the database here and keep it.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rtc-audio-bench-") as tmp:
        db_path = args.keep_db or Path(tmp) / "bench.db"
        db_url = f"sqlite:///{db_path}"
        t0 = time.perf_counter()
        sid = generate(db_url, args.minutes)
        print(f"generated {args.minutes:g} min session {sid} in "
              f"{time.perf_counter() - t0:.1f} s ({db_path.stat().st_size / 1e6:.0f} MB)")
        session_s = args.minutes * 60
        print(f"load average before the runs: {os.getloadavg()[0]:.2f} "
              f"({os.cpu_count()} CPUs; other work on the machine slows every figure)")
        for per_turn in (False, True):
            walls, cpus, files, rss = [], [], [], 0.0
            for run in range(args.runs):
                out = Path(tmp) / f"out-{int(per_turn)}-{run}"
                start = time.perf_counter()
                report, rss = run_child(db_url, sid, out, per_turn)
                walls.append(report["seconds"])
                cpus.append(report["cpu"])
                files = report["files"]
                shutil.rmtree(out)
                print(f"  run {run + 1}: extraction {report['seconds']:.2f} s wall, "
                      f"{report['cpu']:.2f} s CPU; whole process {time.perf_counter() - start:.2f} s")
            wall = statistics.median(walls)
            cpu = statistics.median(cpus)
            written = sum(f["duration_s"] for f in files)
            by_kind: dict[str, float] = {}
            for f in files:
                by_kind[f["kind"]] = by_kind.get(f["kind"], 0.0) + f["duration_s"]
            label = "with --per-turn" if per_turn else "input/output/conversation"
            print(f"{label}: median {wall:.2f} s for {session_s:.0f} s of session -> "
                  f"{session_s / wall:.0f}x real time ({session_s / cpu:.0f}x per CPU second); "
                  f"{written:.0f} s of audio written "
                  f"({written / wall:.0f} audio-s per wall-s; "
                  + ", ".join(f"{k} {v:.0f} s" for k, v in by_kind.items())
                  + f"); peak RSS so far {rss:.0f} MB")


if __name__ == "__main__":
    main()
