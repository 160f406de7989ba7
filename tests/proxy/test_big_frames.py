"""A 50 MB frame through ``rtcapture record --max-frame 64MiB`` both ways, in bounded memory.

Real processes and sockets: this test's client and upstream, the recorder process and
its writer process. Each process's peak RSS (VmHWM) is read after small frames (its
baseline, same process) and again after the big frames; the growth must stay within a
bound derived from the frame size, while every frame arrives and is stored byte-exact.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

from rtcapture.store import Store, open_store
from tests.conftest import deadline

from .peers import RawClient, Upstream, UpstreamConn, raw_connect
from .procs import RecorderProcess, start_recorder

MB = 1 << 20
BIG = 50 * MB
MAX_FRAME = 64 * MB
GROWTH_BOUND = {"recorder": 2.5, "writer": 3.5}
"""How many times the frame size a process's peak RSS may grow over its small-frame
baseline: the recorder holds two copies at most (the bytes read and the payload parsed
from them; then the payload while it is written out), the writer three while SQLite
inserts it (the payload, SQLite's copy of the bound value and the row it builds from it:
``data`` is not the row's last column); half a frame more for everything else."""


def _hwm_kb(pid: int) -> int:
    """Peak resident memory of a process (VmHWM in /proc/PID/status), in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise LookupError(f"no VmHWM in /proc/{pid}/status")


def _writer_pid(recorder_pid: int) -> int:
    """The recorder's writer process (its only child)."""
    children = Path(f"/proc/{recorder_pid}/task/{recorder_pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


async def _until_stored(store: Store, count: int, timeout: float) -> None:
    """Wait until the writer has committed ``count`` events of the last session (another
    process: polled)."""
    async with asyncio.timeout(timeout):
        while not store.sessions() or store.count_events(store.resolve("last")) < count:
            await asyncio.sleep(0.05)


async def _cross(sender: RawClient | UpstreamConn, receiver: RawClient | UpstreamConn,
                 data: bytes, binary: bool, then: bytes | None = None) -> None:
    """Send one message through the recorder (and ``then`` right behind it); each must
    arrive byte-exact, in order."""
    before = len(receiver.received)
    sender.send(data, binary=binary)
    sent = [(data, "binary" if binary else "text")]
    if then is not None:
        sender.send(then)
        sent.append((then, "text"))
    await receiver.wait_for(lambda: len(receiver.received) >= before + len(sent), deadline(60))
    arrived = [(m.data, m.opcode) for m in receiver.received[before:]]
    assert len(arrived) == len(sent)
    assert all(a == s for a, s in zip(arrived, sent, strict=True)), "a frame arrived changed"


def _append(audio: bytes) -> bytes:
    return b'{"type":"input_audio_buffer.append","audio":"' + base64.b64encode(audio) + b'"}'


async def test_50mb_frames_both_ways_in_bounded_memory(db_url: str) -> None:
    """A 50 MB JSON append and a 50 MB binary frame, client -> upstream and upstream ->
    client through the recorder, each followed by a small frame: all arrive byte-exact and
    in order and are stored byte-exact, the append with its parsed fields; the recorder's
    peak RSS grows by at most 2.5x the frame over its own baseline, the writer's 3.5x."""
    text = _append(os.urandom(BIG * 3 // 4))  # 50 MB of base64
    binary = os.urandom(BIG)
    small = [_append(os.urandom(3 * 1024)) for _ in range(20)]
    up = await Upstream().start()
    rec: RecorderProcess = await start_recorder(db_url, up.url, "--max-frame", str(MAX_FRAME))
    store = open_store(db_url, check_orphans=False)
    peaks: list[str] = []
    try:
        writer = _writer_pid(rec.proc.pid)
        client = await raw_connect(rec.url)
        conn = up.connections[-1]
        for frame in small:
            for sender, receiver in ((client, conn), (conn, client)):
                await _cross(sender, receiver, frame, binary=False)
        await _cross(client, conn, small[0][:1024], binary=True)
        stored = 2 * len(small) + 1
        await _until_stored(store, stored, deadline(30))
        base = {"recorder": _hwm_kb(rec.proc.pid), "writer": _hwm_kb(writer)}
        for data, is_binary in ((text, False), (binary, True)):
            for sender, receiver in ((client, conn), (conn, client)):
                # one big frame in flight at a time: each is stored before the next is sent
                await _cross(sender, receiver, data, is_binary, then=small[1])
                stored += 2
                await _until_stored(store, stored, deadline(60))
                peaks.append(f"{_hwm_kb(rec.proc.pid) // 1024}/{_hwm_kb(writer) // 1024}")
        peak = {"recorder": _hwm_kb(rec.proc.pid), "writer": _hwm_kb(writer)}
        client.close()
        await asyncio.wait_for(client.closed, deadline(10))
    finally:
        code = await rec.stop()
        await up.stop()
        store.close()
    assert code == 0, rec.stderr.decode(errors="replace")
    figures = ", ".join(f"{name} {base[name] / 1024:.0f} -> {peak[name] / 1024:.0f} MB"
                        for name in base)
    print(f"peak RSS with a {BIG // MB} MB frame: {figures}; MB after each frame "
          f"(recorder/writer): {', '.join(peaks)}")
    for name in base:
        growth = (peak[name] - base[name]) * 1024
        assert growth <= GROWTH_BOUND[name] * BIG, f"{name} grew {growth / MB:.0f} MB " \
                                                    f"({figures})"
    store = open_store(db_url)
    try:
        events = list(store.events(store.resolve("last")))
    finally:
        store.close()
    big = [e for e in events if len(e.data) >= BIG]
    after = {e.seq - 1: e.data for e in events}
    assert [after.get(e.seq) for e in big] == [small[1]] * 4  # stored in order behind it
    assert [(e.direction, e.opcode) for e in big] == [
        ("client", "text"), ("server", "text"), ("client", "binary"), ("server", "binary")]
    assert all(e.data == (text if e.opcode == "text" else binary) for e in big)
    assert all(e.delivered for e in big)
    appends = [e for e in big if e.opcode == "text"]
    assert [(e.type, e.audio_bytes, e.parse_error) for e in appends] == [
        ("input_audio_buffer.append", BIG * 3 // 4, None)] * 2
