"""Relay overhead: direct vs a bare websockets relay vs ``rtcapture record``.

Load shape (SPEC "Performance"): every session streams 20 ms PCM16 24 kHz appends
(1,280 base64 chars) at real time; the upstream answers each append at once with an
audio delta of the same size carrying the append's ``event_id``; the client measures the
round trip. Load client, upstream and middle run as separate processes on 127.0.0.1;
repeats are interleaved (rep 1 of every target, then rep 2, ...), fresh processes each.

One run reports (ratios are rtcapture / bare relay; targets from issue 19):

- p50/p99 round trip at ``--sessions`` with phases spread over the 20 ms period, median
  of ``--repeats`` (target p99 <= 1.25x); CPU per relayed frame of the middle's whole
  process tree (target <= 1.2x); a compact line of the medians of each process's CPU and
  run-queue wait per frame (schedstat).
- p99 with all sessions on one tick, median of ``--tick-repeats`` interleaved runs.
- Capacity (skip with ``--no-capacity``): at each of ``--capacity-steps`` both targets run
  ``--capacity-repeats`` times interleaved; a step passes with median p99 < ``--limit-ms``
  and nothing lost in any run. Capacity is the largest passing step (target >= 1.0x).
  Past capacity: N1, the first step where the relay's median p99 exceeds the limit, and
  round(1.2 * N1): the recorder's median p99 / the relay's, and lost (target <= 1.5x,
  nothing lost).
- Recording completeness and lag of every rtcapture run: after the load's last frame the
  recorder's database is polled read-only every 50 ms until it holds one row per relayed
  frame (sent + received: the recorder stores data frames both ways, no handshake or
  close frames), none of them unparsed, or 30 s pass; ``lag`` is the time from the load's
  last frame (a wall-clock stamp the load prints) to that poll (target <= 2 s).
  Missing rows count as lost. The middle's CPU is read once its rows are complete, so the
  writer's backlog is charged to the recorder.
- A summary block with each ratio next to its target.

``--soak S`` runs one session through the recorder for S seconds and reports RSS growth
(target: < 20 MB over 10 minutes).

Usage: python benchmarks/relay_overhead.py [--sessions 50] [--repeats 5] [--duration 10]
       [--tick-repeats 3] [--no-capacity] [--capacity-steps 100,125,150,175,200]
       [--capacity-repeats 3] [--limit-ms 50] [--soak 600]
Tiny check: --sessions 5 --duration 2 --repeats 2 --tick-repeats 1 --capacity-steps 5,10
       --capacity-repeats 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

APPEND_B64 = "A" * 1280
DELTA_B64 = "B" * 1280
PERIOD = 0.020
TARGETS = ("direct", "relay", "rtcapture")
PAIR = ("relay", "rtcapture")
POLL_S = 0.050
POLL_TIMEOUT_S = 30.0

Result = dict[str, Any]


# --------------------------------------------------------------------------- roles


async def role_upstream(port: int) -> None:
    """Answer every append with a delta carrying its ``event_id``."""
    from websockets.asyncio.server import serve

    prefix = '{"type": "response.output_audio.delta", "event_id": "'
    suffix = f'", "delta": "{DELTA_B64}"}}'

    async def handler(ws) -> None:
        async for message in ws:
            start = message.find('"event_id": "') + 13
            event_id = message[start:message.find('"', start)]
            await ws.send(prefix + event_id + suffix)

    async with serve(handler, "127.0.0.1", port, max_size=None, compression=None):
        print("ready", flush=True)
        await asyncio.Future()


async def role_relay(port: int, upstream: str) -> None:
    """A bare websockets relay: one task per direction per session."""
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    async def pump(a, b) -> None:
        async for message in a:
            await b.send(message)

    async def handler(ws) -> None:
        async with connect(upstream + ws.request.path, max_size=None, compression=None) as up:
            tasks = [asyncio.create_task(pump(ws, up)), asyncio.create_task(pump(up, ws))]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in tasks:
                t.cancel()

    async with serve(handler, "127.0.0.1", port, max_size=None, compression=None):
        print("ready", flush=True)
        await asyncio.Future()


def quantile(sorted_values: list[float], p: float) -> float:
    """The ``p`` quantile (nearest rank below) of sorted seconds, in ms."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))] * 1000


async def role_load(url: str, sessions: int, duration: float, aligned: bool) -> None:
    """Stream appends on ``sessions`` connections and print two JSON lines.

    First ``{"traffic_end": T, "frames": N}`` once every session has sent its last append
    and got its answers (or waited 0.5 s for them), ``T`` the wall clock (``time.time()``)
    of the last frame sent or received, ``N`` the frames sent and received; then, once
    every connection is closed, the result.
    """
    from websockets.asyncio.client import connect

    rtts: list[float] = []
    sent = received = 0
    last_io = time.time()
    conns = []
    for _ in range(sessions):
        conns.append(await connect(url + "/v1/realtime?model=bench", max_size=None,
                                   compression=None, ping_interval=None))
    start = time.perf_counter() + 0.5
    stop_at = start + duration
    sched0 = schedstat(os.getpid())

    async def session(n: int, ws) -> asyncio.Task[None]:
        nonlocal sent, last_io
        pending: dict[str, float] = {}
        phase = 0.0 if aligned else PERIOD * n / sessions
        sending = True
        drained = asyncio.Event()

        async def reader() -> None:
            nonlocal received, last_io
            async for message in ws:
                last_io = time.time()
                s = message.find('"event_id": "') + 13
                t0 = pending.pop(message[s:message.find('"', s)], None)
                if t0 is not None:
                    rtts.append(time.perf_counter() - t0)
                    received += 1
                if not sending and not pending:
                    drained.set()

        task = asyncio.create_task(reader())
        k = 0
        while True:
            due = start + phase + k * PERIOD
            if due >= stop_at:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            event_id = f"e{n}_{k}"
            pending[event_id] = time.perf_counter()
            await ws.send('{"type": "input_audio_buffer.append", "event_id": "' + event_id
                          + '", "audio": "' + APPEND_B64 + '"}')
            last_io = time.time()
            sent += 1
            k += 1
        sending = False
        if not pending:
            drained.set()
        # let the last answers arrive; unanswered after 0.5 s they count as lost
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(drained.wait(), 0.5)
        return task

    readers = await asyncio.gather(*(session(n, ws) for n, ws in enumerate(conns)))
    print(json.dumps({"traffic_end": last_io, "frames": sent + received}), flush=True)
    for task in readers:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in conns))
    sched = [b - a for a, b in zip(sched0, schedstat(os.getpid()), strict=True)]
    rtts.sort()
    print(json.dumps({"sent": sent, "received": received, "p50_ms": quantile(rtts, 0.50),
                      "p99_ms": quantile(rtts, 0.99), "max_ms": quantile(rtts, 1.0),
                      "end_wall": last_io,
                      "load_cpu_ns": sched[0], "load_wait_ns": sched[1]}), flush=True)


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(args: list[str], ready: bytes) -> subprocess.Popen[bytes]:
    """Start ``args`` in its own process group; return once it prints ``ready``."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{args} exited early")
        if ready in line:
            return proc
    raise RuntimeError(f"{args} not ready")


def tree_pids(pid: int) -> list[int]:
    pids = [pid]
    for p in pids:
        try:
            with open(f"/proc/{p}/task/{p}/children") as fh:
                pids.extend(int(c) for c in fh.read().split())
        except OSError:
            pass
    return pids


def schedstat(pid: int) -> tuple[int, int, int]:
    """CPU time (ns), run-queue wait (ns) and timeslices of every thread of ``pid``."""
    total = [0, 0, 0]
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return (0, 0, 0)
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                for i, v in enumerate(fh.read().split()[:3]):
                    total[i] += int(v)
        except (OSError, ValueError):
            pass
    return (total[0], total[1], total[2])


def tree_sched(pid: int) -> dict[str, tuple[int, int, int]]:
    """:func:`schedstat` of a process (``main``) and of its descendants (``children``)."""
    pids = tree_pids(pid)
    kids = [schedstat(p) for p in pids[1:]]
    return {"main": schedstat(pid),
            "children": tuple(sum(k[i] for k in kids) for i in range(3))}  # type: ignore[dict-item]


def system_cpu() -> list[int]:
    """The machine's CPU time by category (user nice system idle iowait irq softirq)."""
    with open("/proc/stat") as fh:
        return [int(v) for v in fh.readline().split()[1:8]]


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants."""
    total = 0
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def tree_rss_mb(pid: int) -> float:
    total = 0
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total / 1e6


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class Middle:
    """A running middle (None for ``direct``), the URL to load and the recorder's DB."""

    proc: subprocess.Popen[bytes] | None
    url: str
    db: Path | None = None


def start_middle(target: str, upstream_url: str, workdir: Path) -> Middle:
    if target == "direct":
        return Middle(None, upstream_url)
    port = free_port()
    if target == "relay":
        proc = spawn([sys.executable, __file__, "--role", "relay", "--port", str(port),
                      "--upstream", upstream_url], b"ready")
        return Middle(proc, f"ws://127.0.0.1:{port}")
    db = workdir / f"bench-{time.monotonic_ns()}.db"
    proc = spawn([sys.executable, "-m", "rtcapture", "-q", "--db", f"sqlite:///{db}",
                  "record", "--listen", f"127.0.0.1:{port}", "--upstream", upstream_url],
                 b"recording on")
    return Middle(proc, f"ws://127.0.0.1:{port}", db)


def start_upstream() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = spawn([sys.executable, __file__, "--role", "upstream", "--port", str(port)],
                 b"ready")
    return proc, f"ws://127.0.0.1:{port}"


# --------------------------------------------------------------------------- recording


def count_rows(con: sqlite3.Connection, unparsed: bool = False) -> int:
    """Rows in ``events``; with ``unparsed``, the text rows without a type or a parse
    error (a full scan, so only run once the count is complete)."""
    sql = "SELECT count(*) FROM events"
    if unparsed:
        sql += " WHERE type IS NULL AND parse_error IS NULL AND opcode = 'text'"
    try:
        return int(con.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # the writer has not created the schema yet
        return 0


def wait_for_rows(db: Path, expected: int, end_wall: float) -> dict[str, Any]:
    """Poll ``db`` (read-only) until it holds ``expected`` rows, all parsed, or
    :data:`POLL_TIMEOUT_S` pass.

    ``lag_s`` is measured from ``end_wall`` (the load's last frame) to the first poll
    that saw every row parsed; ``None`` if that never happened.
    """
    deadline = time.monotonic() + POLL_TIMEOUT_S
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        while True:
            rows = count_rows(con)
            unparsed = count_rows(con, unparsed=True) if rows >= expected else None
            now = time.time()
            if unparsed == 0 or time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)  # the polling period, not synchronisation
    finally:
        con.close()
    return {"rows": rows, "rows_expected": expected, "rows_missing": max(0, expected - rows),
            "unparsed": unparsed, "lag_s": max(0.0, now - end_wall) if unparsed == 0 else None}


# --------------------------------------------------------------------------- one run


def per_frame(load: Result, up: tuple[tuple[int, int, int], tuple[int, int, int]],
              mid: tuple[dict[str, tuple[int, int, int]], dict[str, tuple[int, int, int]]],
              frames: int) -> dict[str, dict[str, float]]:
    """CPU and run-queue wait (us per relayed frame) of load, upstream and middle parts."""
    per = 1e-3 / frames if frames else 0.0  # ns -> us per frame
    out: dict[str, dict[str, float]] = {}
    for i, name in ((0, "cpu_us"), (1, "wait_us")):
        out[name] = {"load": load[f"load_{name[:-3]}_ns"] * per,
                     "upstream": (up[1][i] - up[0][i]) * per,
                     **{f"middle_{k}": (mid[1][k][i] - mid[0][k][i]) * per for k in mid[1]}}
    return out


def machine_split(sys0: list[int], sys1: list[int]) -> dict[str, float]:
    busy = [b - a for a, b in zip(sys0, sys1, strict=True)]
    return {name: round(v / max(1, sum(busy)) * 100, 1) for name, v in
            zip(("user", "nice", "system", "idle", "iowait", "irq", "softirq"), busy,
                strict=True)}


def run_load(url: str, sessions: int, duration: float, aligned: bool,
             db: Path | None) -> Result:
    """Run the load role and return its result; with ``db``, poll it (see
    :func:`wait_for_rows`) as soon as traffic ends, while the load closes its connections."""
    load = subprocess.Popen(
        [sys.executable, __file__, "--role", "load", "--url", url, "--sessions",
         str(sessions), "--duration", str(duration)] + (["--aligned"] if aligned else []),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert load.stdout is not None
    rows: dict[str, Any] = {}
    try:
        line = b""
        for line in load.stdout:
            if db is not None and line.startswith(b'{"traffic_end"'):
                end = json.loads(line)
                rows = wait_for_rows(db, end["frames"], end["traffic_end"])
        load.wait(timeout=duration + 120)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    result: Result = json.loads(line)
    result.update(rows)
    return result


def run_once(target: str, sessions: int, duration: float, aligned: bool,
             workdir: Path) -> Result:
    """One load run through ``target`` with fresh processes; the load's result, extended."""
    upstream, upstream_url = start_upstream()
    middle = start_middle(target, upstream_url, workdir)
    pid = middle.proc.pid if middle.proc else None
    try:
        cpu0 = tree_cpu(pid) if pid else 0.0
        sched0 = tree_sched(pid) if pid else {}
        up0 = schedstat(upstream.pid)
        sys0 = system_cpu()
        result = run_load(middle.url, sessions, duration, aligned, middle.db)
        up1 = schedstat(upstream.pid)
        sys1 = system_cpu()
        cpu1 = tree_cpu(pid) if pid else 0.0
        sched1 = tree_sched(pid) if pid else {}
        frames = result["sent"] + result["received"]
        result["cpu_us_per_frame"] = (cpu1 - cpu0) / frames * 1e6 if pid and frames else 0
        result["lost"] = result["sent"] - result["received"] + result.get("rows_missing", 0)
        result.update(per_frame(result, (up0, up1), (sched0, sched1), frames))
        result["system"] = machine_split(sys0, sys1)
        return result
    finally:
        if middle.proc:
            stop(middle.proc)
        stop(upstream)


def rows_text(r: Result) -> str:
    """``rows stored N/M, lag X s`` of a recorded run ('' for other targets)."""
    if "rows" not in r:
        return ""
    if r["lag_s"] is not None:
        lag = f"{r['lag_s']:.2f} s"
    else:
        lag = (f"incomplete after {POLL_TIMEOUT_S:.0f} s ({r['rows_missing']} missing, "
               f"{r['unparsed'] if r['unparsed'] is not None else '?'} unparsed)")
    return f"  rows stored {r['rows']}/{r['rows_expected']}, lag {lag}"


def sched_line(cpu: dict[str, float], wait: dict[str, float],
               system: dict[str, float] | None = None) -> str:
    """Per-frame CPU and run-queue wait of each process, and the machine's CPU split."""
    parts = [f"{k} cpu {cpu[k]:.0f}/wait {wait[k]:.0f} us" for k in cpu if cpu[k] or wait[k]]
    line = "; ".join(parts)
    if system:
        line += (f" | machine user {system['user'] + system['nice']:.0f}% "
                 f"sys {system['system'] + system['softirq']:.0f}% idle {system['idle']:.0f}%"
                 f" iowait {system['iowait']:.0f}%")
    return line


def fmt_ratio(value: float | None, ref: float | None) -> str:
    return f"{value / ref:.2f}x" if value is not None and ref else "-"


def ratio(value: float | None, ref: float | None) -> float | None:
    return value / ref if value is not None and ref else None


# --------------------------------------------------------------------------- series


def interleaved(targets: tuple[str, ...], sessions: int, duration: float, aligned: bool,
                repeats: int, workdir: Path, label: str) -> dict[str, list[Result]]:
    """``repeats`` rounds of one run per target; each run printed as it ends."""
    results: dict[str, list[Result]] = {t: [] for t in targets}
    for rep in range(repeats):
        for target in targets:
            r = run_once(target, sessions, duration, aligned, workdir)
            results[target].append(r)
            print(f"{label} rep {rep + 1} {target:9} {sessions:4} sessions: p50 "
                  f"{r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  lost {r['lost']}  "
                  f"cpu/frame {r['cpu_us_per_frame']:.1f} us{rows_text(r)}", flush=True)
            if label == "spread":
                print("      " + sched_line(r["cpu_us"], r["wait_us"], r["system"]),
                      flush=True)
    return results


def median_of(runs: list[Result], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def median_dict(runs: list[Result], key: str) -> dict[str, float]:
    return {k: float(statistics.median(r[key][k] for r in runs)) for k in runs[0][key]}


def max_lag(runs: list[Result]) -> float | None:
    """The largest lag of recorded runs; ``inf`` if one never completed."""
    lags = [r["lag_s"] for r in runs if "rows" in r]
    if not lags:
        return None
    return float("inf") if None in lags else max(lags)


@dataclass
class Step:
    """Both targets at one session count: median p99 and max lost of each."""

    sessions: int
    p99: dict[str, float]
    lost: dict[str, int]
    lag: float | None

    def ok(self, target: str, limit_ms: float) -> bool:
        return self.p99[target] < limit_ms and self.lost[target] == 0


def run_step(n: int, args: argparse.Namespace, workdir: Path) -> Step:
    runs = interleaved(PAIR, n, args.duration, False, args.capacity_repeats, workdir,
                       "capacity")
    step = Step(n, {t: median_of(runs[t], "p99_ms") for t in PAIR},
                {t: max(r["lost"] for r in runs[t]) for t in PAIR}, max_lag(runs["rtcapture"]))
    print(f"  step {n:4}: " + ", ".join(
        f"{t} median p99 {step.p99[t]:.2f} ms lost {step.lost[t]} -> "
        f"{'ok' if step.ok(t, args.limit_ms) else 'over'}" for t in PAIR), flush=True)
    return step


# --------------------------------------------------------------------------- phases


@dataclass
class Summary:
    """The figures the summary block compares with the issue's targets."""

    sessions: int = 0
    p99: float | None = None
    cpu: float | None = None
    tick: float | None = None
    capacity: tuple[int, int] | None = None
    past: list[tuple[int, float | None, int, int]] | None = None  # n, ratio, lost r/rt
    past_note: str = ""
    lag: float | None = None  # max over the rtcapture runs at --sessions; inf: incomplete
    lag_steps: dict[int, float] = field(default_factory=dict)  # per capacity step


def spread_phase(args: argparse.Namespace, workdir: Path, summary: Summary) -> list[Result]:
    """p50/p99/CPU at ``--sessions``, phases spread, median of ``--repeats``."""
    results = interleaved(TARGETS, args.sessions, args.duration, False, args.repeats,
                          workdir, "spread")
    med = {t: {k: median_of(results[t], k) for k in ("p50_ms", "p99_ms", "cpu_us_per_frame")}
           for t in TARGETS}
    ref = med["relay"]
    print(f"\n{args.sessions} sessions, spread phases, median of {args.repeats} "
          f"(ratios to the bare relay):")
    for t in TARGETS:
        m = med[t]
        print(f"  {t:9} p50 {m['p50_ms']:6.2f} ms ({fmt_ratio(m['p50_ms'], ref['p50_ms'])})"
              f"  p99 {m['p99_ms']:6.2f} ms ({fmt_ratio(m['p99_ms'], ref['p99_ms'])})"
              f"  cpu/frame {m['cpu_us_per_frame']:5.1f} us "
              f"({fmt_ratio(m['cpu_us_per_frame'], ref['cpu_us_per_frame'])})")
    print("  median per process, us per frame:")
    for t in TARGETS:
        rs = results[t]
        print(f"    {t:9} " + sched_line(median_dict(rs, "cpu_us"), median_dict(rs, "wait_us")))
    summary.p99 = ratio(med["rtcapture"]["p99_ms"], ref["p99_ms"])
    summary.cpu = ratio(med["rtcapture"]["cpu_us_per_frame"], ref["cpu_us_per_frame"])
    return results["rtcapture"]


def tick_phase(args: argparse.Namespace, workdir: Path, summary: Summary) -> list[Result]:
    """p99 with every session on one tick, median of ``--tick-repeats``."""
    results = interleaved(TARGETS, args.sessions, args.duration, True, args.tick_repeats,
                          workdir, "tick")
    med = {t: median_of(results[t], "p99_ms") for t in TARGETS}
    print(f"\nall on one tick, median of {args.tick_repeats}:")
    for t in TARGETS:
        print(f"  {t:9} p99 {med[t]:6.2f} ms ({fmt_ratio(med[t], med['relay'])})")
    summary.tick = ratio(med["rtcapture"], med["relay"])
    return results["rtcapture"]


def capacity_phase(args: argparse.Namespace, workdir: Path, summary: Summary) -> None:
    """Capacity ladder, then the recorder's p99 ratio at N1 and 1.2 * N1 (past capacity)."""
    steps = capacity_ladder(args, workdir, summary)
    past_capacity(steps, args, workdir, summary)
    summary.lag_steps = {n: s.lag for n, s in sorted(steps.items()) if s.lag is not None}


def capacity_ladder(args: argparse.Namespace, workdir: Path,
                    summary: Summary) -> dict[int, Step]:
    """Both targets at each of ``--capacity-steps`` until both are over the limit."""
    steps: dict[int, Step] = {}
    for n in sorted(int(s) for s in args.capacity_steps.split(",")):
        step = steps[n] = run_step(n, args, workdir)
        if not any(step.ok(t, args.limit_ms) for t in PAIR):
            break
    best = {t: max((n for n, s in steps.items() if s.ok(t, args.limit_ms)), default=0)
            for t in PAIR}
    for t in PAIR:
        failed = [n for n, s in steps.items() if n < best[t] and not s.ok(t, args.limit_ms)]
        if failed:
            print(f"note: {t} passed {best[t]} but not {', '.join(map(str, failed))} (noise)")
    print(f"\ncapacity (median p99 < {args.limit_ms:g} ms, nothing lost): relay "
          f"{best['relay']}, rtcapture {best['rtcapture']} "
          f"({fmt_ratio(best['rtcapture'], best['relay'])})")
    summary.capacity = (best["relay"], best["rtcapture"])
    return steps


def past_capacity(steps: dict[int, Step], args: argparse.Namespace, workdir: Path,
                  summary: Summary) -> None:
    """At N1 (the relay's first step over the limit) and round(1.2 * N1), run if new."""
    over = [n for n, s in sorted(steps.items()) if s.p99["relay"] > args.limit_ms]
    if not over:
        summary.past_note = (f"the relay's median p99 never exceeded {args.limit_ms:g} ms "
                             f"on steps up to {max(steps)}")
        print(f"past capacity: {summary.past_note}")
        return
    n1 = over[0]
    n2 = round(1.2 * n1)
    if n2 not in steps:
        steps[n2] = run_step(n2, args, workdir)
    print(f"past capacity (N1 = {n1}, first step with relay median p99 > "
          f"{args.limit_ms:g} ms):")
    summary.past = []
    for n in (n1, n2):
        s = steps[n]
        summary.past.append((n, ratio(s.p99["rtcapture"], s.p99["relay"]), s.lost["relay"],
                             s.lost["rtcapture"]))
        print(f"  {n:4} sessions: rtcapture/relay median p99 "
              f"{fmt_ratio(s.p99['rtcapture'], s.p99['relay'])} ({s.p99['rtcapture']:.2f} / "
              f"{s.p99['relay']:.2f} ms), lost relay {s.lost['relay']}, rtcapture "
              f"{s.lost['rtcapture']}")


def check(value: float | None, ok: bool) -> str:
    return "-" if value is None else ("ok" if ok else "MISSED")


def times(v: float | None) -> str:
    return f"{v:.2f}x" if v is not None else "-"


def summary_rows(s: Summary) -> list[tuple[str, str, str, str]]:
    """(figure, value, target, verdict) for each figure of issue 19."""
    rows = [
        (f"p99 at {s.sessions} sessions", times(s.p99), "<= 1.25x", check(s.p99, (s.p99 or 0) <= 1.25)),
        ("CPU per frame", times(s.cpu), "<= 1.2x", check(s.cpu, (s.cpu or 0) <= 1.2)),
        ("one-tick p99", times(s.tick), "none of its own (p99: <= 1.25x)", ""),
    ]
    if s.capacity is None:
        rows.append(("capacity", "skipped", ">= 1.0x", "-"))
    else:
        cap = ratio(s.capacity[1], s.capacity[0])
        rows.append(("capacity", f"{times(cap)} ({s.capacity[1]} vs {s.capacity[0]})",
                     ">= 1.0x", check(cap, (cap or 0) >= 1.0)))
    for n, r, lost_relay, lost_rt in s.past or []:
        rows.append((f"past capacity at {n}", f"{times(r)} (lost {lost_rt}; relay {lost_relay})",
                     "<= 1.5x, nothing lost", check(r, (r or 0) <= 1.5 and lost_rt == 0)))
    if s.past_note:
        rows.append(("past capacity", "not reached", "<= 1.5x, nothing lost", s.past_note))
    rows.append(("recording lag (max)", lag_text(s.lag), "<= 2 s",
                 check(s.lag, (s.lag or 0) <= 2.0)))
    if s.lag_steps:
        rows.append(("lag per capacity step", ", ".join(
            f"{n}: {lag_text(v)}" for n, v in s.lag_steps.items()), "", ""))
    return rows


def print_summary(s: Summary) -> None:
    """The summary block: one line per figure with its target."""
    print("\nsummary (rtcapture / bare relay; targets from issue 19):")
    for name, value, target, verdict in summary_rows(s):
        print(f"  {name:22} {value:24} {'target ' + target if target else '':34} {verdict}"
              .rstrip())


def lag_text(lag: float | None) -> str:
    if lag is None:
        return "-"
    return "incomplete" if lag == float("inf") else f"{lag:.2f} s"


def soak(seconds: float, workdir: Path) -> None:
    """One real-time session through the recorder for ``seconds``; RSS sampled."""
    upstream, upstream_url = start_upstream()
    middle = start_middle("rtcapture", upstream_url, workdir)
    assert middle.proc is not None and middle.db is not None
    samples: list[tuple[float, float]] = []
    done = False

    def sample() -> None:
        t0 = time.monotonic()
        while not done:
            samples.append((time.monotonic() - t0, tree_rss_mb(middle.proc.pid)))  # type: ignore[union-attr]
            time.sleep(min(10.0, seconds / 20))  # sampling period, not synchronisation

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        sampler.start()
        out = run_load(middle.url, 1, seconds, False, middle.db)
        done = True
        sampler.join()
        warm = [rss for t, rss in samples if t >= min(30.0, seconds / 5)] or [samples[-1][1]]
        print(f"soak {seconds:.0f} s: rss start {warm[0]:.1f} MB, peak {max(warm):.1f} MB, "
              f"end {warm[-1]:.1f} MB, growth {warm[-1] - warm[0]:+.1f} MB (target < 20 MB "
              f"over 10 min); p99 {out['p99_ms']:.2f} ms, lost {out['sent'] - out['received']};"
              f" {rows_text(out).strip()}")
    finally:
        stop(middle.proc)
        stop(upstream)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", choices=["upstream", "relay", "load"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--upstream", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--aligned", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of load per run")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved spread-phase runs")
    ap.add_argument("--tick-repeats", type=int, default=3, help="interleaved one-tick runs")
    ap.add_argument("--no-capacity", dest="capacity", action="store_false",
                    help="skip the capacity ladder")
    ap.add_argument("--capacity-steps", default="100,125,150,175,200",
                    help="comma-separated session counts")
    ap.add_argument("--capacity-repeats", type=int, default=3)
    ap.add_argument("--limit-ms", type=float, default=50.0, help="capacity's p99 limit")
    ap.add_argument("--soak", type=float, default=0, help="seconds of one recorded session")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    if args.role == "upstream":
        asyncio.run(role_upstream(args.port))
        return
    if args.role == "relay":
        asyncio.run(role_relay(args.port, args.upstream))
        return
    if args.role == "load":
        asyncio.run(role_load(args.url, args.sessions, args.duration, args.aligned))
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.soak:
            soak(args.soak, workdir)
            return
        summary = Summary(args.sessions)
        recorded = spread_phase(args, workdir, summary) + tick_phase(args, workdir, summary)
        summary.lag = max_lag(recorded)
        if args.capacity:
            capacity_phase(args, workdir, summary)
        print_summary(summary)


if __name__ == "__main__":
    main()
