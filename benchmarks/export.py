"""Benchmark: ``rtcapture export --format parquet`` over a generated 1,000,000-event database.

Generates a SQLite database shaped like real voice sessions (mostly 20 ms audio appends
and audio deltas of ~1.3 KB, with VAD turns, transcripts and ``response.done`` usage),
bulk-inserted without the CLI, then runs the export in a child process and prints
events/s and the child's peak RSS.

    python benchmarks/export.py                 # 1,000,000 events
    python benchmarks/export.py --events 200000 --keep-db /tmp/bench.db

Targets (Parquet): >= 200,000 events/s and peak RSS < 500 MB for 1M events. `--format jsonl`
measures cassette export the same way, without a target.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import random
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rtcapture.protocol import GA_NAMES
from rtcapture.store import SessionRecord, Status, open_store

APPEND_B64 = 1280
"""20 ms of PCM16 at 24 kHz, base64: 960 bytes -> 1,280 characters."""
APPENDS_PER_TURN = 150
DELTAS_PER_TURN = 120
TRANSCRIPT_EVERY = 6


class SessionGen:
    """Builds the rows of one synthetic GA session, turn by turn."""

    def __init__(self, sid: str, started: datetime, rng: random.Random) -> None:
        self.sid = sid
        self.rng = rng
        self.seq = 0
        self.t_ns = 0
        self.base_wall = int(started.timestamp() * 1e9)
        self.audio = [base64.b64encode(rng.randbytes(960)).decode() for _ in range(32)]
        self.n = 0
        self.input_ms = 0.0
        self.output_ms = 0.0

    def row(self, direction: str, event: dict[str, Any], *, audio: int = 0,
            item_id: str | None = None, response_id: str | None = None,
            step_ms: float = 1.0) -> dict[str, Any]:
        self.t_ns += int(step_ms * 1e6)
        data = json.dumps(event).encode()
        row = {
            "session_id": self.sid, "seq": self.seq, "direction": direction, "t_ns": self.t_ns,
            "wall_ns": self.base_wall + self.t_ns, "opcode": "text", "size_bytes": len(data),
            "data": data, "type": event["type"], "event_id": event.get("event_id"),
            "item_id": item_id, "response_id": response_id, "call_id": None,
            "parse_error": None, "delivered": True, "audio_bytes": audio,
        }
        self.seq += 1
        return row

    def rows(self) -> Iterator[dict[str, Any]]:
        """The session's rows, forever (callers take as many as they need)."""
        yield from self.start()
        for k in itertools.count():
            yield from self.turn(k)

    def eid(self) -> str:
        self.n += 1
        return f"event_{self.n:021d}"

    def start(self) -> Iterator[dict[str, Any]]:
        session = {"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcm",
                                                                        "rate": 24000}}}}
        yield self.row("server", {"type": "session.created", "event_id": self.eid(),
                                  "session": session})
        yield self.row("client", {"type": "session.update", "session": session})
        yield self.row("server", {"type": "session.updated", "event_id": self.eid(),
                                  "session": session})

    def turn(self, k: int) -> Iterator[dict[str, Any]]:
        user, item, resp = f"item_u{k:014d}", f"item_a{k:014d}", f"resp_{k:016d}"
        for i in range(APPENDS_PER_TURN):
            self.input_ms += 20.0
            yield self.row("client", {"type": "input_audio_buffer.append",
                                      "audio": self.audio[i % 32]}, audio=960, step_ms=20)
            if i == 10:
                yield self.row("server", {"type": "input_audio_buffer.speech_started",
                                          "event_id": self.eid(), "audio_start_ms": 0,
                                          "item_id": user}, item_id=user)
        yield self.row("server", {"type": "input_audio_buffer.speech_stopped",
                                  "event_id": self.eid(), "audio_end_ms": 3000,
                                  "item_id": user}, item_id=user)
        yield self.row("server", {"type": "input_audio_buffer.committed", "event_id": self.eid(),
                                  "item_id": user}, item_id=user)
        yield self.row("server", {"type": "response.created", "event_id": self.eid(),
                                  "response": {"id": resp, "status": "in_progress"}},
                       response_id=resp, step_ms=180)
        words = 0
        for i in range(DELTAS_PER_TURN):
            self.output_ms += 20.0
            yield self.row("server", {"type": GA_NAMES.audio_delta, "event_id": self.eid(),
                                      "response_id": resp, "item_id": item, "output_index": 0,
                                      "content_index": 0, "delta": self.audio[i % 32]},
                           audio=960, item_id=item, response_id=resp, step_ms=5)
            if i % TRANSCRIPT_EVERY == 0:
                words += 1
                yield self.row("server", {"type": GA_NAMES.transcript_delta,
                                          "event_id": self.eid(), "response_id": resp,
                                          "item_id": item, "output_index": 0,
                                          "content_index": 0, "delta": "word "},
                               item_id=item, response_id=resp)
        yield self.row("server", {"type": GA_NAMES.audio_done, "event_id": self.eid(),
                                  "response_id": resp, "item_id": item, "output_index": 0,
                                  "content_index": 0}, item_id=item, response_id=resp)
        yield self.row("server", {"type": GA_NAMES.transcript_done, "event_id": self.eid(),
                                  "response_id": resp, "item_id": item, "output_index": 0,
                                  "content_index": 0, "transcript": "word " * words},
                       item_id=item, response_id=resp)
        usage = {"total_tokens": 300, "input_tokens": 200, "output_tokens": 100,
                 "input_token_details": {"text_tokens": 20, "audio_tokens": 180,
                                         "cached_tokens": 0},
                 "output_token_details": {"text_tokens": 20, "audio_tokens": 80}}
        yield self.row("server", {"type": "response.done", "event_id": self.eid(),
                                  "response": {"id": resp, "status": "completed",
                                               "usage": usage}}, response_id=resp)


_INSERT = ("INSERT INTO events (session_id, seq, direction, t_ns, wall_ns, opcode, size_bytes, "
           "data, type, event_id, item_id, response_id, call_id, parse_error, delivered, "
           "audio_bytes) VALUES (?, ?, ?, ?, ?, 'text', ?, ?, ?, ?, ?, ?, NULL, NULL, 1, ?)")


def generate(url: str, events: int, sessions: int, seed: int = 7) -> int:
    """Fill the SQLite database at ``url`` with ``events`` events; returns the count.

    Bulk inserts through the DB-API (one transaction per session), not the CLI.
    """
    store = open_store(url)
    rng = random.Random(seed)
    per_session = events // sessions
    day0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
    total = 0
    raw = store.engine.raw_connection()
    try:
        for s in range(sessions):
            started = day0 + timedelta(hours=7 * s)
            sid = f"01BENCH{s:019d}"
            n = per_session if s < sessions - 1 else events - total
            store.create_session(SessionRecord(
                id=sid, started=started, status=Status.CLOSED, model="gpt-realtime",
                flavour="ga", label="bench", path="/v1/realtime?model=gpt-realtime",
                upstream_url="wss://api.openai.com"))
            gen = SessionGen(sid, started, rng)
            counts = {"client": 0, "server": 0}
            nbytes = {"client": 0, "server": 0}
            batch: list[tuple[Any, ...]] = []
            cursor = raw.cursor()
            for row in itertools.islice(gen.rows(), n):
                counts[row["direction"]] += 1
                nbytes[row["direction"]] += row["size_bytes"]
                batch.append((sid, row["seq"], row["direction"], row["t_ns"], row["wall_ns"],
                              row["size_bytes"], row["data"], row["type"], row["event_id"],
                              row["item_id"], row["response_id"], row["audio_bytes"]))
                if len(batch) >= 20000:
                    cursor.executemany(_INSERT, batch)
                    batch = []
            if batch:
                cursor.executemany(_INSERT, batch)
            raw.commit()
            store.update_session(
                sid, ended=started + timedelta(microseconds=gen.t_ns // 1000),
                client_events=counts["client"], server_events=counts["server"],
                client_bytes=nbytes["client"], server_bytes=nbytes["server"],
                input_audio_ms=gen.input_ms, output_audio_ms=gen.output_ms)
            total += n
    finally:
        raw.close()
        store.close()
    return total


def run_export(url: str, out: Path, fmt: str) -> tuple[float, float]:
    """Export in a child process: (wall time of the process, time of the export itself
    as the command reports it, i.e. without interpreter start-up and imports)."""
    cmd = [sys.executable, "-m", "rtcapture", "--db", url, "export", "--all",
           "--out", str(out), "--format", fmt]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    wall = time.perf_counter() - t0
    reported = re.search(r" in ([0-9.]+) s", done.stderr)
    return wall, float(reported.group(1)) if reported else wall


def reference_scan(path: Path) -> float:
    """Seconds SQLite alone takes to read every frame (the floor for any exporter)."""
    conn = sqlite3.connect(path)
    t0 = time.perf_counter()
    conn.execute("SELECT sum(length(data)) FROM events").fetchone()
    conn.close()
    return time.perf_counter() - t0


def warm(path: Path) -> None:
    """Read the database file once so every repeat starts from the page cache."""
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--format", default="parquet", choices=["parquet", "jsonl"])
    parser.add_argument("--keep-db", help="Reuse (or create and keep) this SQLite file.")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="rtcapture-bench-"))
    db_path = Path(args.keep_db) if args.keep_db else tmp / "bench.db"
    url = f"sqlite:///{db_path}"
    try:
        if not db_path.exists():
            t0 = time.perf_counter()
            n = generate(url, args.events, args.sessions)
            print(f"generated {n:,} events in {time.perf_counter() - t0:.1f} s "
                  f"({db_path.stat().st_size / 1e6:.0f} MB)")
        store = open_store(url)
        n = sum(r.client_events + r.server_events for r in store.sessions())
        store.close()
        warm(db_path)
        rates, totals, refs = [], [], []
        for rep in range(args.repeats):  # reference and export interleaved, same cache state
            refs.append(reference_scan(db_path))
            out = tmp / f"out{rep}"
            wall, export_s = run_export(url, out, args.format)
            rates.append(n / export_s)
            totals.append(n / wall)
            size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
            print(f"  run {rep + 1}: export {export_s:.2f} s ({n / export_s:,.0f} events/s), "
                  f"process {wall:.2f} s ({n / wall:,.0f} events/s), "
                  f"reference scan {refs[-1]:.2f} s, output {size / 1e6:.1f} MB")
            shutil.rmtree(out, ignore_errors=True)
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"export --format {args.format}, {n:,} events: median "
              f"{statistics.median(rates):,.0f} events/s (best {max(rates):,.0f}; whole process "
              f"median {statistics.median(totals):,.0f})"
              + (" (target >= 200,000)" if args.format == "parquet" else ""))
        print(f"export time / SQLite full scan of the frames: "
              f"{statistics.median(n / r for r in rates) / statistics.median(refs):.1f}x")
        print(f"peak RSS of the export processes: {rss_mb:.0f} MB (target < 500 MB)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
