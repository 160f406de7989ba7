"""Benchmark: concurrent WebRTC sessions with audio both ways through the recorder.

Three processes inside a loopback-only network namespace (the script re-executes itself
under ``unshare -n``): an echo upstream (an aiortc call endpoint returning every
data-channel message and its caller's audio), the middle, and the load client (N pages:
a looping speech-like microphone, one data-channel message every 100 ms). The middle is
either a bare aiortc relay (two peers per call, no recording) or ``rtcapture record``,
measured in the same run against the same load.

All three relay audio as Opus packets, undecoded (``rtcapture.webrtc.passthrough``): the
load client's microphone sends speech encoded once up front and counts the packets it
hears without decoding them, the echo returns the packets it receives, and the bare relay
forwards packets both ways exactly as the recorder's relay does, so the CPU ratio is the
cost of recording (data-channel frames to the writer, Opus decoded to PCM16 for the media
rows), not of transcoding. Prints per target: calls up, messages sent / echoed back (lost
= sent - echoed), audio packets heard per session, the middle's CPU seconds per session
per second (its whole process tree), the echo's and the load client's CPU seconds, then
the recorder / relay ratio.

    python benchmarks/webrtc.py                 # 20 sessions, 20 s each
    python benchmarks/webrtc.py --sessions 5 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
TICKS = os.sysconf("SC_CLK_TCK")


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and all its live descendants."""
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = (task / "children").read_text().split()
                todo.extend(int(k) for k in kids)
        except (OSError, IndexError, ValueError):
            continue
    return total


# ------------------------------------------------------------------ processes

def _relay_from(pc: Any, track: Any, relay: Any) -> None:
    """Relay ``pc``'s received ``track`` on ``relay``, as Opus packets (as the recorder)."""
    from rtcapture.webrtc.passthrough import receive_encoded

    if not receive_encoded(pc, track):
        raise RuntimeError("this aiortc cannot relay undecoded Opus")
    relay.bind(track)


async def _serve_calls(make_call: Any) -> None:
    from rtcapture.webrtc.http import HttpExchange

    async def handle(request: Any) -> Any:
        return await make_call(request)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpExchange(handle), "127.0.0.1", 0)
    print(f"listening on ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


async def echo_role() -> None:
    """An upstream that echoes messages and audio."""
    from aiortc import RTCSessionDescription

    from rtcapture.webrtc.http import HttpResponse
    from rtcapture.webrtc.ice import LOOPBACK, new_peer, pin_addresses
    from rtcapture.webrtc.passthrough import sends_opus
    from rtcapture.webrtc.relaytrack import RelayTrack

    peers: set[Any] = set()

    async def call(request: Any) -> Any:
        pc = new_peer()
        peers.add(pc)
        back = RelayTrack(lambda frame: None, lambda: sends_opus(pc, back))
        pc.on("datachannel", lambda ch: ch.on("message", lambda m, ch=ch: ch.send(m)))
        pc.on("track", lambda track: _relay_from(pc, track, back))
        await pc.setRemoteDescription(RTCSessionDescription(request.body.decode(), "offer"))
        pc.addTrack(back)
        answer = await pc.createAnswer()
        pin_addresses(pc, LOOPBACK)
        await pc.setLocalDescription(answer)
        return HttpResponse(201, pc.localDescription.sdp.encode(),
                            [("Location", "/v1/realtime/calls/rtc_echo")])

    await _serve_calls(call)


async def relay_role(upstream: str) -> None:
    """The bare relay: a peer each side, messages and audio passed on, nothing recorded."""
    from aiortc import RTCSessionDescription

    from rtcapture.webrtc.http import HttpResponse, post
    from rtcapture.webrtc.ice import LOOPBACK, new_peer, pin_addresses
    from rtcapture.webrtc.passthrough import sends_opus
    from rtcapture.webrtc.relaytrack import RelayTrack

    peers: set[Any] = set()

    async def call(request: Any) -> Any:
        up, down = new_peer(), new_peer()
        peers.update((up, down))
        to_up = RelayTrack(lambda f: None, lambda: sends_opus(up, to_up))
        to_down = RelayTrack(lambda f: None, lambda: sends_opus(down, to_down))
        up_channel = up.createDataChannel("oai-events")
        up.addTrack(to_up)
        up.on("track", lambda t: _relay_from(up, t, to_down))
        down_channel: list[Any] = []
        up_channel.on("message", lambda m: down_channel and down_channel[0].send(m))

        def on_channel(ch: Any) -> None:
            down_channel.append(ch)
            ch.on("message", lambda m: up_channel.send(m)
                  if up_channel.readyState == "open" else None)

        down.on("datachannel", on_channel)
        down.on("track", lambda t: _relay_from(down, t, to_up))
        offer = await up.createOffer()
        pin_addresses(up, LOOPBACK)
        await up.setLocalDescription(offer)
        answer = await post(upstream.replace("ws://", "http://") + request.path,
                            [("Content-Type", "application/sdp")],
                            up.localDescription.sdp.encode())
        await up.setRemoteDescription(RTCSessionDescription(answer.body.decode(), "answer"))
        await down.setRemoteDescription(RTCSessionDescription(request.body.decode(), "offer"))
        down.addTrack(to_down)
        local = await down.createAnswer()
        pin_addresses(down, LOOPBACK)
        await down.setLocalDescription(local)
        return HttpResponse(answer.status, down.localDescription.sdp.encode(), [])

    await _serve_calls(call)


# ------------------------------------------------------------------ load

def _packet_track(speech: list[bytes]) -> Any:
    """A microphone sending pre-encoded Opus packets (looping ``speech``) at real time."""
    import time

    from aiortc import MediaStreamTrack
    from aiortc.mediastreams import MediaStreamError

    from rtcapture.webrtc.passthrough import opus_packet, opus_samples

    class PacketTrack(MediaStreamTrack):
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self.n = 0
            self.pts = 0
            self.start: float | None = None

        async def recv(self) -> Any:
            if self.readyState != "live":
                raise MediaStreamError
            if self.start is None:
                self.start = time.monotonic()
            wait = self.start + self.pts / 48000 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # pacing: one 20 ms packet per 20 ms
            data = speech[self.n % len(speech)]
            self.n += 1
            packet = opus_packet(data, self.pts)
            self.pts += opus_samples(data)
            return packet

    return PacketTrack()


async def one_page(base: str, seconds: float, speech: list[bytes]) -> dict[str, int]:
    from aiortc import RTCSessionDescription
    from aiortc.mediastreams import MediaStreamError

    from rtcapture.webrtc.http import post
    from rtcapture.webrtc.ice import LOOPBACK, new_peer, pin_addresses
    from rtcapture.webrtc.passthrough import receive_encoded

    pc = new_peer()
    channel = pc.createDataChannel("oai-events")
    pc.addTrack(_packet_track(speech))
    opened = asyncio.Event()
    all_back = asyncio.Event()
    echoed = 0
    packets = 0
    sent = 0
    sending = True

    def on_message(message: Any) -> None:
        nonlocal echoed
        echoed += 1
        if not sending and echoed >= sent:
            all_back.set()

    async def listen(track: Any) -> None:
        nonlocal packets
        try:
            while True:
                await track.recv()  # an Opus packet, counted, not decoded
                packets += 1
        except MediaStreamError:
            pass

    def on_track(track: Any) -> None:
        if not receive_encoded(pc, track):
            raise RuntimeError("this aiortc cannot hand over undecoded Opus")
        tasks.add(asyncio.get_running_loop().create_task(listen(track)))

    tasks: set[asyncio.Task[None]] = set()
    channel.on("open", opened.set)
    channel.on("message", on_message)
    pc.on("track", on_track)
    offer = await pc.createOffer()
    pin_addresses(pc, LOOPBACK)
    await pc.setLocalDescription(offer)
    answer = await post(base + "/v1/realtime/calls", [
        ("Content-Type", "application/sdp"), ("Authorization", "Bearer ek_benchmark0000")],
        pc.localDescription.sdp.encode(), timeout=60)
    await pc.setRemoteDescription(RTCSessionDescription(answer.body.decode(), "answer"))
    async with asyncio.timeout(60):
        await opened.wait()
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        channel.send(json.dumps({"type": "session.update", "n": sent}))
        sent += 1
        await asyncio.sleep(0.1)  # load pacing: one message per 100 ms
    sending = False
    if echoed < sent:
        try:
            async with asyncio.timeout(30):  # late is not lost: wait for the echoes
                await all_back.wait()
        except TimeoutError:
            pass
    await pc.close()
    for task in tasks:
        task.cancel()
    return {"sent": sent, "echoed": echoed, "packets": packets}


def _speech_opus() -> list[bytes]:
    """The microphone's speech, Opus-encoded once (as aiortc's sender would encode it)."""
    from aiortc.codecs.opus import OpusEncoder

    from rtcapture.codec import encode_samples
    from rtcapture.mock.synth import synthesize
    from rtcapture.protocol import PCM16
    from rtcapture.webrtc.media import BYTES_PER_FRAME, SAMPLES_PER_FRAME, pcm_frame

    pcm = encode_samples(synthesize("one two three four five six", 24000).samples, PCM16)
    encoder = OpusEncoder()
    packets: list[bytes] = []
    for i in range(0, len(pcm) - BYTES_PER_FRAME + 1, BYTES_PER_FRAME):
        packets += encoder.encode(pcm_frame(pcm[i:i + BYTES_PER_FRAME],
                                            i // 2 // SAMPLES_PER_FRAME))[0]
    return packets


async def load(base: str, sessions: int, seconds: float, speech: list[bytes]
               ) -> list[dict[str, int]]:
    return await asyncio.gather(*(one_page(base, seconds, speech) for _ in range(sessions)))


async def run_target(name: str, sessions: int, seconds: float, folder: str) -> dict[str, Any]:
    async def start(*args: str) -> tuple[asyncio.subprocess.Process, str]:
        proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.DEVNULL)
        assert proc.stdout is not None
        while True:
            line = (await proc.stdout.readline()).decode()
            if not line:
                raise RuntimeError(f"{args} exited")
            match = re.search(r"ws://([0-9.]+:\d+)", line)
            if match:
                return proc, match.group(1)

    echo, echo_addr = await start(sys.executable, str(HERE), "--role", "echo")
    if name == "relay":
        middle, addr = await start(sys.executable, str(HERE), "--role", "relay",
                                   "--upstream", f"ws://{echo_addr}")
    else:
        middle, addr = await start(sys.executable, "-m", "rtcapture", "--db",
                                   f"sqlite:///{folder}/bench.db", "-q", "record",
                                   "--listen", "127.0.0.1:0", "--upstream", f"ws://{echo_addr}")
    drain = asyncio.create_task(middle.stdout.read())  # type: ignore[union-attr]
    speech = _speech_opus()
    cpu0, echo0, load0 = _tree_cpu_s(middle.pid), _tree_cpu_s(echo.pid), time.process_time()
    results = await load(f"http://{addr}", sessions, seconds, speech)
    cpu = _tree_cpu_s(middle.pid) - cpu0
    echo_cpu, load_cpu = _tree_cpu_s(echo.pid) - echo0, time.process_time() - load0
    for proc in (middle, echo):
        proc.send_signal(2)
        try:
            async with asyncio.timeout(20):
                await proc.wait()
        except TimeoutError:
            proc.kill()
    drain.cancel()
    sent = sum(r["sent"] for r in results)
    echoed = sum(r["echoed"] for r in results)
    return {"target": name, "calls": len(results), "sent": sent, "echoed": echoed,
            "lost": sent - echoed,
            "packets_heard_per_session": sum(r["packets"] for r in results) // len(results),
            "cpu_s_per_session_s": cpu / sessions / (seconds + 1.0),
            "middle_cpu_s": round(cpu, 1), "echo_cpu_s": round(echo_cpu, 1),
            "load_cpu_s": round(load_cpu, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--role", choices=["echo", "relay"])
    parser.add_argument("--upstream")
    args = parser.parse_args()
    if args.role == "echo":
        asyncio.run(echo_role())
        return
    if args.role == "relay":
        asyncio.run(relay_role(args.upstream))
        return
    if [n for _, n in socket.if_nameindex()] != ["lo"]:
        if shutil.which("unshare") is None:
            sys.exit("needs unshare -n (a loopback-only network namespace)")
        os.execvp("unshare", ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
                              sys.executable, str(HERE), *sys.argv[1:]])
    with tempfile.TemporaryDirectory() as folder:
        rows = [asyncio.run(run_target(t, args.sessions, args.seconds, folder))
                for t in ("relay", "record")]
        if os.path.exists(f"{folder}/bench.db"):
            from rtcapture.store import open_store

            store = open_store(f"sqlite:///{folder}/bench.db")
            stored = store.sessions()
            rows[1]["stored_sessions"] = len(stored)
            rows[1]["stored_messages"] = sum(
                1 for s in stored for e in store.events(s.id) if e.opcode != "media")
            rows[1]["stored_input_audio_s"] = round(sum(s.input_audio_ms for s in stored) / 1000, 1)
            rows[1]["stored_lost_frames"] = sum(s.lost_frames for s in stored)
    for row in rows:
        print(json.dumps(row))
    print(f"CPU per session, recorder / bare relay: "
          f"{rows[1]['cpu_s_per_session_s'] / max(rows[0]['cpu_s_per_session_s'], 1e-9):.2f}x")


if __name__ == "__main__":
    main()
