"""Benchmark: ``rtcapture report`` and ``rtcapture serve``.

1. ``report`` of a generated one-hour voice session (~350,000 events: 20 ms appends for the
   whole hour, a reply every 12 s streamed as 20 ms audio deltas with transcript deltas,
   a barge-in every fourth turn) in a child process: wall time and peak RSS.
2. The page of a generated ten-minute session in headless Chromium (Debian's package):
   its size, and the time from navigation start to the timeline's first paint (the
   page's ``rtc-timeline-painted`` performance mark).
3. ``serve``'s sessions list over 100,000 sessions: median response time of a few list
   pages (first, deep, searched, sorted, filtered) over real HTTP.

    python benchmarks/report.py                 # all three
    python benchmarks/report.py --only serve --sessions 100000

Targets: 1. under 30 s and 500 MB; 2. under 3 s (and the page under ~15 MB); 3. under 300 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audio_extract import VoiceSession  # noqa: E402

from rtcapture.ids import new_id  # noqa: E402
from rtcapture.protocol import GA_NAMES  # noqa: E402
from rtcapture.proxy.ingest import SessionTally  # noqa: E402
from rtcapture.store import EventRecord, SessionRecord, Status, open_store, utcnow  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


class DenseVoiceSession(VoiceSession):
    """The audio benchmark's session with replies streamed in 20 ms deltas (~100 events/s)."""

    def _turn(self, turn: int, t_ms: float, stream_ms: int
              ) -> Iterator[tuple[str, dict[str, Any], float]]:
        user, item, resp = f"item_u{turn}", f"item_a{turn}", f"resp_{turn}"
        yield "server", {"type": "input_audio_buffer.speech_started", "item_id": user,
                         "audio_start_ms": stream_ms - 4500}, t_ms - 4000
        yield "server", {"type": "input_audio_buffer.speech_stopped", "item_id": user,
                         "audio_end_ms": stream_ms - 300}, t_ms + 1
        yield "server", {"type": "input_audio_buffer.committed", "item_id": user}, t_ms + 2
        yield "server", {"type": "response.created", "response": {"id": resp}}, t_ms + 3
        yield "server", {"type": "response.output_item.added", "response_id": resp,
                         "item": {"id": item, "type": "message", "role": "assistant"}}, t_ms + 4
        reply_ms = self.rng.randint(4000, 7000)
        at, sent = t_ms + 400, 0
        while sent < reply_ms:
            yield "server", {"type": GA_NAMES.audio_delta, "response_id": resp,
                             "item_id": item, "output_index": 0, "content_index": 0,
                             "delta": self._audio(20)}, at
            yield "server", {"type": GA_NAMES.transcript_delta, "response_id": resp,
                             "item_id": item, "output_index": 0, "content_index": 0,
                             "delta": "word "}, at + 0.1
            sent += 20
            at += 20.0
        yield "server", {"type": "response.done", "response": {"id": resp,
                                                               "status": "completed"}}, at + 2
        if turn % 4 == 0:
            yield "client", {"type": "conversation.item.truncate", "item_id": item,
                             "content_index": 0, "audio_end_ms": reply_ms // 2}, \
                t_ms + 400 + reply_ms // 2


def generate(db_url: str, minutes: float) -> tuple[str, int]:
    """Store one generated session; returns its id and event count."""
    sid, tally, started, base_ns = new_id(), SessionTally(), utcnow(), time.time_ns()
    last_t, count = [0], [0]

    def events() -> Iterator[EventRecord]:
        for seq, (direction, event, t_ms) in enumerate(DenseVoiceSession(minutes).frames()):
            t_ns = max(int(t_ms * 1e6), last_t[0])
            last_t[0] = t_ns
            count[0] += 1
            yield tally.build(sid, seq, direction, t_ns, base_ns + t_ns, "text",
                              json.dumps(event).encode())

    rec = SessionRecord(id=sid, started=started, status=Status.CLOSED, model="gpt-realtime",
                        path="/v1/realtime?model=gpt-realtime", label="report-bench")
    with open_store(db_url) as store:
        store.save_session(rec, events())
        store.update_session(sid, ended=started + timedelta(microseconds=last_t[0] / 1000),
                             **tally.totals())
    return sid, count[0]


def run_report(db_url: str, sid: str, out: Path, extra: list[str]
               ) -> tuple[float, float, float]:
    """``rtcapture report`` in a fresh process: wall seconds, CPU seconds, peak RSS (MB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rtcapture", "-q", "--db", db_url, "report", sid,
                    "--out", str(out), *extra], check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, after.ru_maxrss / 1024


def bench_hour(tmp: Path, minutes: float) -> None:
    db_url = f"sqlite:///{tmp / 'hour.db'}"
    t0 = time.perf_counter()
    sid, n = generate(db_url, minutes)
    print(f"[report] generated a {minutes:g}-minute session: {n} events in "
          f"{time.perf_counter() - t0:.0f} s")
    for extra in (["--no-audio"], []):
        wall, cpu, rss = run_report(db_url, sid, tmp / "hour.html", extra)
        size = (tmp / "hour.html").stat().st_size / 1e6
        print(f"[report] {' '.join(['report', *extra])}: {wall:.1f} s wall ({cpu:.1f} s CPU, "
              f"load {os.getloadavg()[0]:.1f}), peak RSS "
              f"{rss:.0f} MB, page {size:.0f} MB  (targets: < 30 s, < 500 MB)")


def bench_paint(tmp: Path, runs: int) -> None:
    from playwright.sync_api import sync_playwright

    db_url = f"sqlite:///{tmp / 'ten.db'}"
    sid, n = generate(db_url, 10)
    page_path = tmp / "ten.html"
    wall, _, _ = run_report(db_url, sid, page_path, [])
    print(f"[paint] 10-minute session: {n} events, page {page_path.stat().st_size / 1e6:.1f} MB "
          f"(target < ~15 MB), written in {wall:.1f} s")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        times = []
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(page_path.as_uri())
            page.wait_for_selector("canvas[data-painted='1']", state="attached", timeout=60_000)
            mark = page.evaluate(
                "performance.getEntriesByName('rtc-timeline-painted')[0].startTime")
            page.wait_for_selector("body[data-ready='1']", state="attached", timeout=60_000)
            ready = page.evaluate("performance.now()")
            times.append((mark, ready))
            page.close()
        browser.close()
    paint = statistics.median(t[0] for t in times)
    print(f"[paint] first paint of the timeline: median {paint / 1000:.2f} s over {runs} loads "
          f"(event log ready at {statistics.median(t[1] for t in times) / 1000:.2f} s); "
          "target < 3 s")


def fill_sessions(db_url: str, count: int) -> None:
    """Insert ``count`` session rows (no events) in bulk."""
    from sqlalchemy import insert

    from rtcapture.store.models import Session

    rng = random.Random(7)
    now = utcnow()
    models = ["gpt-realtime", "gpt-realtime-mini", "gpt-4o-realtime-preview"]
    statuses = ["closed"] * 8 + ["incomplete", "failed"]
    with open_store(db_url) as store, store.engine.begin() as conn:
        rows = []
        for i in range(count):
            started = now - timedelta(seconds=i * 37)
            rows.append({"id": new_id(int(started.timestamp() * 1000)), "started_at": started,
                         "ended_at": started + timedelta(seconds=rng.randint(5, 900)),
                         "status": rng.choice(statuses), "model": rng.choice(models),
                         "flavour": "ga", "label": f"team-{rng.randint(1, 300)}",
                         "client_events": rng.randint(10, 50000),
                         "server_events": rng.randint(10, 50000), "headers_json": "[]",
                         "subprotocols_json": "[]"})
            if len(rows) == 5000:
                conn.execute(insert(Session), rows)
                rows = []
        if rows:
            conn.execute(insert(Session), rows)


def bench_serve(tmp: Path, count: int, runs: int) -> None:
    from rtcapture.serve import ServeConfig, make_server, open_readonly

    db_url = f"sqlite:///{tmp / 'many.db'}"
    t0 = time.perf_counter()
    fill_sessions(db_url, count)
    print(f"[serve] {count} sessions inserted in {time.perf_counter() - t0:.0f} s")
    store = open_readonly(db_url)
    server = make_server("127.0.0.1", 0, ServeConfig(store))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    targets = ["/", "/?page=2", f"/?page={count // 50 // 2}", f"/?page={count // 50}",
               "/?label=team-42", "/?model=mini&status=incomplete", "/?sort=model&order=asc",
               "/?sort=client_events&order=desc&page=10",
               "/?since=2020-01-01&until=2099-12-31&sort=status"]
    try:
        for target in targets:
            times = []
            for _ in range(runs):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                start = time.perf_counter()
                conn.request("GET", target)
                resp = conn.getresponse()
                resp.read()
                times.append((time.perf_counter() - start) * 1000)
                conn.close()
                assert resp.status == 200, (target, resp.status)
            print(f"[serve] GET {target:45} median {statistics.median(times):6.1f} ms "
                  f"(max {max(times):.1f}); target < 300 ms")
    finally:
        server.shutdown()
        server.server_close()
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["report", "paint", "serve"])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs, shared)")
    with tempfile.TemporaryDirectory(prefix="rtc-report-bench-") as tmp:
        if args.only in (None, "report"):
            bench_hour(Path(tmp), args.minutes)
        if args.only in (None, "paint"):
            bench_paint(Path(tmp), args.runs)
        if args.only in (None, "serve"):
            bench_serve(Path(tmp), args.sessions, args.runs)


if __name__ == "__main__":
    main()
