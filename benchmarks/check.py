"""Benchmark: ``rtcapture check`` over many recorded sessions.

Generates a SQLite database of short telephony-like GA voice sessions (μ-law, 20 ms appends,
server VAD turns, replies as bursts of audio deltas with transcript deltas, a barge-in with
a truncate in every third turn; about 100 events each), then checks every session in a
child process (the same code as ``rtcapture check --all``) and prints events per second and
the child's peak RSS. The database lives in a temporary folder unless ``--keep-db`` names a
path (an existing one is reused).

    python benchmarks/check.py                          # 10,000 sessions, ~1M events
    python benchmarks/check.py --sessions 1000 --keep-db /tmp/check-bench.db

Target: >= 100,000 events/s, memory bounded (peak RSS independent of the session count).
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import shutil
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

TURNS = 3
ULAW = {"type": "audio/pcmu"}


def frames(rng: random.Random, mic: list[str]) -> Iterator[tuple[str, dict[str, Any], float]]:
    """(direction, event, t_ms) of one ~100-event session."""
    session = {"type": "realtime", "audio": {"input": {"format": ULAW, "turn_detection": {
        "type": "server_vad", "silence_duration_ms": 200}}, "output": {"format": ULAW}}}
    yield "server", {"type": "session.created", "session": session}, 0.0
    yield "client", {"type": "session.update", "session": session}, 1.0
    t = 10.0
    audio_ms = 0
    for turn in range(TURNS):
        user, item, resp = f"item_u{turn}", f"item_a{turn}", f"resp_{turn}"
        for n in range(20):
            yield "client", {"type": "input_audio_buffer.append", "audio": mic[n % len(mic)]}, t
            t += 20
            audio_ms += 20
            if n == 4:
                yield "server", {"type": "input_audio_buffer.speech_started",
                                 "audio_start_ms": audio_ms - 300, "item_id": user}, t
        yield "server", {"type": "input_audio_buffer.speech_stopped",
                         "audio_end_ms": audio_ms, "item_id": user}, t + 1
        yield "server", {"type": "input_audio_buffer.committed", "item_id": user}, t + 2
        yield "server", {"type": "response.created", "response": {
            "id": resp, "status": "in_progress", "output": []}}, t + 5
        at = t + rng.uniform(200, 600)
        for n in range(8):
            yield "server", {"type": GA_NAMES.audio_delta, "response_id": resp, "item_id": item,
                             "output_index": 0, "content_index": 0,
                             "delta": mic[n % len(mic)] * 5}, at
            if n % 3 == 0:
                yield "server", {"type": GA_NAMES.transcript_delta, "response_id": resp,
                                 "item_id": item, "delta": "word "}, at
            at += rng.uniform(10, 40)
        yield "server", {"type": GA_NAMES.audio_done, "response_id": resp, "item_id": item}, at
        yield "server", {"type": "response.done", "response": {
            "id": resp, "status": "completed"}}, at + 1
        t = at + 1000  # the reply has played before the user speaks again
        if turn == TURNS - 1:  # the user talks over the last reply; the client truncates
            for n in range(5):
                yield "client", {"type": "input_audio_buffer.append",
                                 "audio": mic[n % len(mic)]}, t
                t += 20
                audio_ms += 20
                if n == 4:
                    yield "server", {"type": "input_audio_buffer.speech_started",
                                     "audio_start_ms": audio_ms - 300, "item_id": "item_x"}, t
            yield "client", {"type": "conversation.item.truncate", "item_id": item,
                             "content_index": 0, "audio_end_ms": 800}, t + 50


def generate(db_url: str, sessions: int) -> int:
    """Store ``sessions`` generated sessions; returns the number of events."""
    rng = random.Random(1)
    mic = [base64.b64encode(rng.randbytes(160)).decode() for _ in range(16)]
    total = 0
    with open_store(db_url) as store:
        for _ in range(sessions):
            sid = new_id()
            tally = SessionTally()
            started = utcnow()
            base_ns = time.time_ns()
            events: list[EventRecord] = []
            for seq, (direction, event, t_ms) in enumerate(frames(rng, mic)):
                t_ns = int(t_ms * 1e6)
                events.append(tally.build(sid, seq, direction, t_ns, base_ns + t_ns, "text",
                                          json.dumps(event).encode()))
            rec = SessionRecord(id=sid, started=started, status=Status.CLOSED,
                                model="gpt-realtime", path="/v1/realtime?model=gpt-realtime",
                                label="check-bench", close_code=1000,
                                ended=started + timedelta(microseconds=events[-1].t_ns / 1000))
            for key, value in tally.totals().items():
                setattr(rec, key, value)
            store.save_session(rec, events)
            total += len(events)
    return total


CHILD = """
import json, resource, sys, time
from rtcapture.check import RuleSet, check_records
from rtcapture.store import open_store
store = open_store(sys.argv[1])
records = store.sessions()
start = time.perf_counter()
cpu = time.process_time()
events = violations = 0
rss_early = None
for n, result in enumerate(check_records(store, records, RuleSet())):
    events += result.events
    violations += len(result.violations)
    if n == len(records) // 10:
        rss_early = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
elapsed = time.perf_counter() - start
cpu = time.process_time() - cpu
print(json.dumps({"cpu_seconds": cpu, "sessions": len(records), "events": events, "violations": violations,
                  "seconds": elapsed, "rss_early_kb": rss_early,
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--keep-db", type=Path, help="Keep (or reuse) the database here.")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rtc-check-bench-"))
    path = args.keep_db or tmp / "bench.db"
    db_url = f"sqlite:///{path}"
    try:
        if not path.exists():
            t0 = time.perf_counter()
            n = generate(db_url, args.sessions)
            print(f"generated {args.sessions} sessions, {n} events in "
                  f"{time.perf_counter() - t0:.0f} s")
        out = subprocess.run([sys.executable, "-c", CHILD, db_url], check=True,
                             capture_output=True, text=True).stdout
        r = json.loads(out)
        print(f"checked {r['sessions']} sessions, {r['events']} events in {r['seconds']:.1f} s:"
              f" {r['events'] / r['seconds']:,.0f} events/s ({r['events'] / r['cpu_seconds']:,.0f} "
              f"per CPU second); {r['violations']} violations; "
              f"peak RSS {r['rss_early_kb'] / 1024:.0f} MB after 10% of the sessions, "
              f"{r['rss_kb'] / 1024:.0f} MB at the end")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
