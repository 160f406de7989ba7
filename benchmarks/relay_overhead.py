"""Relay overhead: direct vs a bare websockets relay vs ``rtcapture record``.

Load shape (SPEC "Performance"): every session streams 20 ms PCM16 24 kHz appends
(1,280 base64 chars) at real time; the upstream answers each append at once with an
audio delta of the same size carrying the append's ``event_id``; the client measures the
round trip. Session phases are spread evenly over the 20 ms period (and, once, all on
one tick). Load client, upstream and middle run as separate processes on 127.0.0.1;
repeats are interleaved (rep 1 of every target, then rep 2, ...), fresh processes each.

Prints, per target: p50/p99 round trip at --sessions (median over --repeats), CPU per
relayed frame of the middle's process tree, capacity (largest session count whose p99
stays under 50 ms with nothing lost), all as ratios to the bare relay. ``--soak S`` runs
one session through the recorder for S seconds and reports RSS growth.

Usage: python benchmarks/relay_overhead.py [--sessions 50] [--repeats 5] [--duration 10]
       [--capacity] [--soak 600]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

APPEND_B64 = "A" * 1280
DELTA_B64 = "B" * 1280
PERIOD = 0.020
TARGETS = ("direct", "relay", "rtcapture")


# --------------------------------------------------------------------------- roles


async def role_upstream(port: int) -> None:
    from websockets.asyncio.server import serve

    prefix = '{"type": "response.output_audio.delta", "event_id": "'
    suffix = f'", "delta": "{DELTA_B64}"}}'

    async def handler(ws) -> None:  # type: ignore[no-untyped-def]
        async for message in ws:
            start = message.find('"event_id": "') + 13
            event_id = message[start:message.find('"', start)]
            await ws.send(prefix + event_id + suffix)

    async with serve(handler, "127.0.0.1", port, max_size=None, compression=None):
        print("ready", flush=True)
        await asyncio.Future()


async def role_relay(port: int, upstream: str) -> None:
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    async def pump(a, b) -> None:  # type: ignore[no-untyped-def]
        async for message in a:
            await b.send(message)

    async def handler(ws) -> None:  # type: ignore[no-untyped-def]
        async with connect(upstream + ws.request.path, max_size=None, compression=None) as up:
            tasks = [asyncio.create_task(pump(ws, up)), asyncio.create_task(pump(up, ws))]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in tasks:
                t.cancel()

    async with serve(handler, "127.0.0.1", port, max_size=None, compression=None):
        print("ready", flush=True)
        await asyncio.Future()


async def role_load(url: str, sessions: int, duration: float, aligned: bool) -> None:
    from websockets.asyncio.client import connect

    rtts: list[float] = []
    sent = received = 0
    conns = []
    for _ in range(sessions):
        conns.append(await connect(url + "/v1/realtime?model=bench", max_size=None,
                                   compression=None, ping_interval=None))
    start = time.perf_counter() + 0.5
    stop_at = start + duration
    sched0 = schedstat(os.getpid())

    async def session(n: int, ws) -> None:  # type: ignore[no-untyped-def]
        nonlocal sent, received
        pending: dict[str, float] = {}
        phase = 0.0 if aligned else PERIOD * n / sessions

        async def reader() -> None:
            nonlocal received
            async for message in ws:
                s = message.find('"event_id": "') + 13
                t0 = pending.pop(message[s:message.find('"', s)], None)
                if t0 is not None:
                    rtts.append(time.perf_counter() - t0)
                    received += 1

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
            sent += 1
            k += 1
        await asyncio.sleep(0.5)  # let the last answers arrive
        task.cancel()
        await ws.close()

    await asyncio.gather(*(session(n, ws) for n, ws in enumerate(conns)))
    sched = [b - a for a, b in zip(sched0, schedstat(os.getpid()), strict=True)]
    rtts.sort()
    q = (lambda p: rtts[min(len(rtts) - 1, int(p * len(rtts)))] * 1000) if rtts else (
        lambda p: float("nan"))
    print(json.dumps({"sent": sent, "received": received, "p50_ms": q(0.50),
                      "p99_ms": q(0.99), "max_ms": q(1.0),
                      "load_cpu_ns": sched[0], "load_wait_ns": sched[1]}), flush=True)


# --------------------------------------------------------------------------- orchestration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(args: list[str], ready: bytes) -> subprocess.Popen[bytes]:
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


def start_middle(target: str, upstream_url: str, workdir: Path) -> tuple[
        subprocess.Popen[bytes] | None, str]:
    if target == "direct":
        return None, upstream_url
    port = free_port()
    if target == "relay":
        proc = spawn([sys.executable, __file__, "--role", "relay", "--port", str(port),
                      "--upstream", upstream_url], b"ready")
    else:
        db = workdir / f"bench-{time.monotonic_ns()}.db"
        proc = spawn([sys.executable, "-m", "rtcapture", "-q", "--db", f"sqlite:///{db}",
                      "record", "--listen", f"127.0.0.1:{port}", "--upstream", upstream_url],
                     b"recording on")
    return proc, f"ws://127.0.0.1:{port}"


def run_once(target: str, sessions: int, duration: float, aligned: bool,
             workdir: Path) -> dict[str, Any]:
    up_port = free_port()
    upstream = spawn([sys.executable, __file__, "--role", "upstream", "--port", str(up_port)],
                     b"ready")
    middle, url = start_middle(target, f"ws://127.0.0.1:{up_port}", workdir)
    try:
        cpu0 = tree_cpu(middle.pid) if middle else 0.0
        sched0 = tree_sched(middle.pid) if middle else {}
        up0 = schedstat(upstream.pid)
        sys0 = system_cpu()
        load = subprocess.run(
            [sys.executable, __file__, "--role", "load", "--url", url, "--sessions",
             str(sessions), "--duration", str(duration)] + (["--aligned"] if aligned else []),
            capture_output=True, timeout=duration + 120)
        cpu1 = tree_cpu(middle.pid) if middle else 0.0
        sched1 = tree_sched(middle.pid) if middle else {}
        up1 = schedstat(upstream.pid)
        sys1 = system_cpu()
        result = json.loads(load.stdout.decode().strip().splitlines()[-1])
        frames = result["sent"] + result["received"]
        result["cpu_us_per_frame"] = (cpu1 - cpu0) / frames * 1e6 if middle and frames else 0
        result["lost"] = result["sent"] - result["received"]
        per = 1e-3 / frames if frames else 0.0  # ns -> us per frame
        result["wait_us"] = {
            "load": result.pop("load_wait_ns") * per,
            "upstream": (up1[1] - up0[1]) * per,
            **{f"middle_{k}": (sched1[k][1] - sched0[k][1]) * per for k in sched1}}
        result["cpu_us"] = {
            "load": result.pop("load_cpu_ns") * per,
            "upstream": (up1[0] - up0[0]) * per,
            **{f"middle_{k}": (sched1[k][0] - sched0[k][0]) * per for k in sched1}}
        busy = [b - a for a, b in zip(sys0, sys1, strict=True)]
        result["system"] = {name: round(v / max(1, sum(busy)) * 100, 1) for name, v in
                            zip(("user", "nice", "system", "idle", "iowait", "irq", "softirq"),
                                busy, strict=True)}
        return result
    finally:
        if middle:
            stop(middle)
        stop(upstream)


def sched_line(r: dict[str, Any]) -> str:
    """Per-frame CPU and run-queue wait of each process, and the machine's CPU split."""
    parts = [f"{k} cpu {r['cpu_us'][k]:.0f}/wait {r['wait_us'][k]:.0f} us"
             for k in r["cpu_us"] if r["cpu_us"][k] or r["wait_us"][k]]
    sysd = r["system"]
    return ("; ".join(parts) + f" | machine user {sysd['user'] + sysd['nice']:.0f}% "
            f"sys {sysd['system'] + sysd['softirq']:.0f}% idle {sysd['idle']:.0f}% "
            f"iowait {sysd['iowait']:.0f}%")


def fmt_ratio(value: float, ref: float) -> str:
    return f"{value / ref:.2f}x" if ref else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", choices=["upstream", "relay", "load"])
    ap.add_argument("--port", type=int)
    ap.add_argument("--upstream")
    ap.add_argument("--url")
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--aligned", action="store_true")
    ap.add_argument("--capacity", action="store_true", help="also search capacity")
    ap.add_argument("--capacity-step", type=int, default=25)
    ap.add_argument("--soak", type=float, default=0, help="seconds of one recorded session")
    args = ap.parse_args()
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
        results: dict[str, list[dict[str, float]]] = {t: [] for t in TARGETS}
        for rep in range(args.repeats):
            for target in TARGETS:
                r = run_once(target, args.sessions, args.duration, False, workdir)
                results[target].append(r)
                print(f"rep {rep + 1} {target:9} p50 {r['p50_ms']:.2f} ms  p99 "
                      f"{r['p99_ms']:.2f} ms  lost {r['lost']}  cpu/frame "
                      f"{r['cpu_us_per_frame']:.1f} us", flush=True)
                print("      " + sched_line(r), flush=True)
        med = {t: {k: statistics.median(r[k] for r in rs) for k in rs[0]
                   if not isinstance(rs[0][k], dict)}
               for t, rs in results.items()}
        ref = med["relay"]
        print(f"\n{args.sessions} sessions, spread phases, median of {args.repeats} "
              f"(ratios to the bare relay):")
        for t in TARGETS:
            m = med[t]
            print(f"  {t:9} p50 {m['p50_ms']:6.2f} ms ({fmt_ratio(m['p50_ms'], ref['p50_ms'])})"
                  f"  p99 {m['p99_ms']:6.2f} ms ({fmt_ratio(m['p99_ms'], ref['p99_ms'])})"
                  f"  cpu/frame {m['cpu_us_per_frame']:5.1f} us "
                  f"({fmt_ratio(m['cpu_us_per_frame'], ref['cpu_us_per_frame'])})")
        print("\nall on one tick (1 run each):")
        tick = {t: run_once(t, args.sessions, args.duration, True, workdir) for t in TARGETS}
        for t in TARGETS:
            print(f"  {t:9} p99 {tick[t]['p99_ms']:6.2f} ms "
                  f"({fmt_ratio(tick[t]['p99_ms'], tick['relay']['p99_ms'])})")
        if args.capacity:
            capacity(args, workdir)


def capacity(args: argparse.Namespace, workdir: Path) -> None:
    """Largest session count with p99 < 50 ms and nothing lost (ladder, interleaved)."""
    best: dict[str, int] = {"relay": 0, "rtcapture": 0}
    alive = set(best)
    n = args.capacity_step * 2
    while alive:
        for target in sorted(alive):
            r = run_once(target, n, args.duration, False, workdir)
            ok = r["p99_ms"] < 50 and r["lost"] == 0
            print(f"capacity {target:9} {n:4} sessions: p99 {r['p99_ms']:8.2f} ms lost "
                  f"{r['lost']} -> {'ok' if ok else 'over'}", flush=True)
            if ok:
                best[target] = n
            else:
                alive.discard(target)
        n += args.capacity_step
    print(f"\ncapacity: relay {best['relay']}, rtcapture {best['rtcapture']} "
          f"({fmt_ratio(best['rtcapture'], best['relay'])})")


def soak(seconds: float, workdir: Path) -> None:
    """One real-time session through the recorder for ``seconds``; RSS sampled."""
    up_port = free_port()
    upstream = spawn([sys.executable, __file__, "--role", "upstream", "--port", str(up_port)],
                     b"ready")
    middle, url = start_middle("rtcapture", f"ws://127.0.0.1:{up_port}", workdir)
    assert middle is not None
    try:
        load = subprocess.Popen([sys.executable, __file__, "--role", "load", "--url", url,
                                 "--sessions", "1", "--duration", str(seconds)],
                                stdout=subprocess.PIPE)
        samples = []
        t0 = time.monotonic()
        while load.poll() is None:
            samples.append((time.monotonic() - t0, tree_rss_mb(middle.pid)))
            time.sleep(min(10.0, seconds / 20))
        out = json.loads(load.stdout.read().decode().strip().splitlines()[-1])  # type: ignore[union-attr]
        warm = [rss for t, rss in samples if t >= min(30.0, seconds / 5)] or [samples[-1][1]]
        print(f"soak {seconds:.0f} s: rss start {warm[0]:.1f} MB, peak {max(warm):.1f} MB, "
              f"end {warm[-1]:.1f} MB, growth {warm[-1] - warm[0]:+.1f} MB; p99 "
              f"{out['p99_ms']:.2f} ms, lost {out['sent'] - out['received']}")
    finally:
        stop(middle)
        stop(upstream)


if __name__ == "__main__":
    main()
