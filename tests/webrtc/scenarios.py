"""WebRTC scenarios, run by ``netns.run_scenario`` inside a loopback-only namespace.

``python -m tests.webrtc.scenarios NAME 'JSON ARGS'`` runs one and prints its result as
JSON on the last line of stdout. Servers are the real ``rtcapture`` CLI in child processes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

from rtcapture.codec import encode_samples
from rtcapture.mock.synth import silence, synthesize
from rtcapture.protocol import PCM16

from .browser import open_call
from .netns import NETNS_ENV

JITTER_HOLD_MS = 100
"""Held back at the end of a stream: aiortc's jitter buffer releases a packet once 4 more
are queued (80 ms), and the sender's resampler and Opus encoder keep up to one frame."""
UNIT = float(os.environ.get("RTCAPTURE_TEST_TIMEOUT_UNIT", "1"))
_URL = re.compile(rb"(wss?)://([0-9.]+):(\d+)")


def speech(text: str, lead_ms: float = 300, tail_ms: float = 900) -> bytes:
    """Speech-like PCM16 24 kHz with silence around it (the mock's VAD hears it)."""
    import numpy as np

    samples = synthesize(text, 24000, voice="user-voice").samples
    return encode_samples(np.concatenate([silence(lead_ms, 24000), samples,
                                          silence(tail_ms, 24000)]), PCM16)


@contextlib.asynccontextmanager
async def rtcapture(*args: str) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """``python -m rtcapture ARGS`` until the block ends; yields its printed base URL."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rtcapture", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(30 * UNIT):
            while True:
                line = await proc.stdout.readline()
                if not line:
                    err = await proc.stderr.read() if proc.stderr else b""
                    raise RuntimeError(f"rtcapture {args[0]} exited: {err.decode()[-2000:]}")
                match = _URL.search(line)
                if match:
                    break
        url = f"http://{match.group(2).decode()}:{match.group(3).decode()}"
        drain = asyncio.create_task(_drain(proc))
        logs = asyncio.create_task(_collect_logs(proc))
        yield url, proc
    finally:
        if proc.returncode is None:
            proc.send_signal(2)
            try:
                async with asyncio.timeout(20 * UNIT):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        with contextlib.suppress(NameError):
            await drain
            await logs


LOGS: list[str] = []
"""Everything the servers of this scenario wrote to stderr (their logs)."""


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    while await proc.stdout.readline():
        pass


async def _collect_logs(proc: asyncio.subprocess.Process) -> None:
    assert proc.stderr is not None
    while line := await proc.stderr.readline():
        LOGS.append(line.decode(errors="replace"))


def _isolated() -> None:
    """Refuse to run outside a namespace whose only interface is loopback."""
    names = [name for _, name in socket.if_nameindex()]
    if os.environ.get(NETNS_ENV) != "1" or names != ["lo"]:
        raise SystemExit(f"not in a loopback-only namespace (interfaces: {names})")


async def mock_call(fast: bool = False) -> dict[str, Any]:
    """A text turn, then a server-VAD voice turn with a barge-in, straight at the mock."""
    args = ["mock", "--listen", "127.0.0.1:0"] + (["--fast"] if fast else [])
    async with rtcapture(*args) as (base, _proc):
        call = await open_call(base, path="/v1/realtime/calls?model=gpt-realtime")
        return await converse(call) | {"status": call.answer.status if call.answer else None,
                                       "location": call.answer.header("Location")
                                       if call.answer else None}


async def converse(call: Any, wait_recorded: Any = None) -> dict[str, Any]:
    """The acceptance conversation: text turn, voice turn, barge-in; then hang up."""
    t = 20 * UNIT
    await call.until("session.created", t)
    call.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "Tell me a long story about the sea."}]}})
    call.send({"type": "response.create"})
    await call.until("response.done", t)
    await call.until("output_audio_buffer.stopped", t)
    mark = len(call.received)
    user = speech("What is the weather like in Paris today?")
    call.mic.play(user, "user-1")
    await call.until("input_audio_buffer.speech_stopped", t, mark)
    await call.until("output_audio_buffer.started", t, mark)
    interrupt = speech("Stop, stop, wait a moment please.", lead_ms=100)
    call.mic.play(interrupt, "user-2")
    cleared = await call.until("output_audio_buffer.cleared", t, mark)
    await call.until("conversation.item.truncated", t, mark)
    # the answer to the interruption, heard to its end
    await call.until(lambda e: e.get("type") == "output_audio_buffer.stopped" and
                     e.get("response_id") != cleared.get("response_id"), t, mark)
    async with asyncio.timeout(t):
        await call.mic.drained.wait()
    call.mic.stop()  # the microphone goes quiet: what it sent is final
    if wait_recorded is not None:
        await wait_recorded(len(call.mic.sent or b"") // 48)
    await call.close()
    return {"sent": call.sent, "received": call.received, "types": call.types(),
            "heard_bytes": len(call.heard),
            "heard_peak": _peak(bytes(call.heard)), "mic_bytes": len(user) + len(interrupt)}


def _peak(pcm: bytes) -> int:
    import numpy as np

    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2")
    return int(np.abs(samples.astype(np.int32)).max()) if samples.size else 0


async def record_call(db: str, session: dict[str, Any] | None = None) -> dict[str, Any]:
    """The acceptance conversation through ``rtcapture record`` -> ``rtcapture mock``."""
    async with rtcapture("-v", "mock", "--listen", "127.0.0.1:0") as (mock, _m), \
            rtcapture("-v", "--db", db, "record", "--listen", "127.0.0.1:0", "--upstream",
                      mock.replace("http://", "ws://"), "--label", "webrtc") as (base, proc):
        call = await open_call(base, path="/v1/realtime/calls?model=gpt-realtime",
                               session=session)
        assert call.answer is not None and call.answer.status == 201, call.answer
        result = await converse(call, lambda ms: _recorded_input(db, ms))
        result["location"] = call.answer.header("Location")
        result["mic_sent_b64"] = base64.b64encode(bytes(call.mic.sent)).decode()
        result["heard_b64"] = base64.b64encode(bytes(call.heard)).decode()
    result["logs"] = "".join(LOGS)
    return result


async def _recorded_input(db: str, sent_ms: float) -> None:
    """Wait until the recorder has stored the input audio it can have (deadline)."""
    from rtcapture.protocol import INPUT_AUDIO_APPEND
    from rtcapture.store import open_store

    # held back: aiortc's jitter buffer (4 packets) and the media chunk still open
    target = sent_ms - JITTER_HOLD_MS - 100 - 20
    store = open_store(db)
    async with asyncio.timeout(20 * UNIT):
        while True:
            sid = store.resolve("last")
            got = sum(e.audio_bytes for e in store.events(sid)
                      if e.opcode == "media" and e.type == INPUT_AUDIO_APPEND) / 48
            if got >= target:
                return
            await asyncio.sleep(0.05)  # polling the database for a condition


REFUSAL = b'{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error"}}'


@contextlib.asynccontextmanager
async def refusing_upstream(status: int) -> AsyncIterator[str]:
    """An HTTP server on loopback answering every request with ``status`` and REFUSAL."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next((line.split(b":", 1)[1] for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), b"0"))
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 %d Refused\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                     % (status, len(REFUSAL), REFUSAL))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.close()


async def failures(db: str) -> dict[str, Any]:
    """Refusals (401 from an upstream, 400 from the mock) and a client that vanishes."""
    out: dict[str, Any] = {}
    async with refusing_upstream(401) as upstream, \
            rtcapture("--db", db, "record", "--listen", "127.0.0.1:0", "--upstream",
                      upstream, "--label", "refused") as (base, _r):
        call = await open_call(base)
        assert call.answer is not None
        out["refused"] = [call.answer.status, call.answer.body.decode(),
                          call.answer.header("Content-Type")]
    async with rtcapture("mock", "--listen", "127.0.0.1:0") as (mock, _m), \
            rtcapture("--db", db, "record", "--listen", "127.0.0.1:0", "--upstream",
                      mock.replace("http://", "ws://"), "--label", "vanish") as (base, _r):
        bad = await open_call(base, session={"type": "realtime", "voice": 7})
        assert bad.answer is not None
        out["bad_session"] = [bad.answer.status, bad.answer.body.decode()]
        call = await open_call(base)
        await call.until("session.created", 20 * UNIT)
        call.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "Tell me a long story."}]}})
        call.send({"type": "response.create"})
        await call.until("output_audio_buffer.started", 20 * UNIT)
        await call.close()  # the page goes away mid-answer
        out["received"] = len(call.received)
        await _ended(db, "vanish")
    return out


async def _ended(db: str, label: str) -> None:
    """Wait until the newest session labelled ``label`` has ended (deadline)."""
    from rtcapture.store import open_store

    store = open_store(db)
    async with asyncio.timeout(30 * UNIT):
        while store.session(store.resolve(f"@{label}")).ended is None:
            await asyncio.sleep(0.05)  # polling the database for a condition


async def command(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """``python -m rtcapture ARGS`` inside the namespace (``env`` added to the environment):
    its exit code and output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rtcapture", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, **(env or {})})
    out, err = await proc.communicate()
    return {"rc": proc.returncode, "stdout": out.decode(), "stderr": err.decode()}


async def gather() -> dict[str, Any]:
    """The host candidates a peer offers, facing loopback, facing elsewhere, overridden."""
    from rtcapture.webrtc.ice import addresses_facing, new_peer, pin_addresses

    async def candidates(addresses: list[str] | None) -> list[str]:
        pc = new_peer()
        pc.createDataChannel("oai-events")
        offer = await pc.createOffer()
        pin_addresses(pc, addresses)
        await pc.setLocalDescription(offer)
        sdp = pc.localDescription.sdp
        await pc.close()
        return [line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate")]

    return {"loopback": await candidates(addresses_facing("127.0.0.1")),
            "elsewhere": await candidates(addresses_facing("192.0.2.1")),
            "override": await candidates(addresses_facing("192.0.2.1", ["127.0.0.1"]))}


async def replay_refused(db: str, session: str, key: str) -> dict[str, Any]:
    """``replay --transport webrtc`` with ``key`` against an endpoint that refuses every
    offer with 401."""
    async with refusing_upstream(401) as upstream:
        return await command(["-v", "--db", db, "replay", session, "--target", upstream,
                              "--transport", "webrtc", "--label", "refused-replay"],
                             env={"OPENAI_API_KEY": key})


async def ice_failure(db: str) -> dict[str, Any]:
    """A page that posts its offer and vanishes before ICE completes."""
    async with rtcapture("mock", "--listen", "127.0.0.1:0") as (mock, _m), \
            rtcapture("--db", db, "record", "--listen", "127.0.0.1:0", "--upstream",
                      mock.replace("http://", "ws://"), "--label", "ice") as (base, _r):
        call = await open_call(base, connect=False)
        assert call.answer is not None
        await _ended(db, "ice")
        return {"status": call.answer.status}


async def _raw(base: str, request: bytes) -> str:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    answer = await reader.read()
    writer.close()
    return answer.decode("latin-1")


async def preflight(db: str) -> dict[str, Any]:
    """CORS: the preflight a page on another origin sends, allowed and not."""
    async with rtcapture("mock", "--listen", "127.0.0.1:0") as (mock, _m), \
            rtcapture("--db", db, "record", "--listen", "127.0.0.1:0", "--upstream",
                      mock.replace("http://", "ws://"), "--allow-origin",
                      "https://app.example") as (base, _r):
        ask = ("OPTIONS /v1/realtime/calls HTTP/1.1\r\nHost: x\r\nOrigin: {}\r\n"
               "Access-Control-Request-Method: POST\r\n"
               "Access-Control-Request-Headers: authorization, content-type\r\n\r\n")
        return {"allowed": await _raw(base, ask.format("https://app.example").encode()),
                "other": await _raw(base, ask.format("https://evil.example").encode())}


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--use-fake-ui-for-media-stream",
                  "--use-fake-device-for-media-stream", "--allow-loopback-in-peer-connection"]


async def chromium_call(db: str, wav: str) -> dict[str, Any]:
    """Headless Chromium runs the quickstart page against the recorder -> mock."""
    import http.server
    import threading
    from functools import partial

    from playwright.async_api import async_playwright

    from .browser import KEY

    pages = os.path.join(os.path.dirname(__file__), "pages")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=pages)
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    origin = f"http://127.0.0.1:{site.server_address[1]}"
    try:
        async with rtcapture("mock", "--listen", "127.0.0.1:0") as (mock, _m), \
                rtcapture("--db", db, "record", "--listen", "127.0.0.1:0", "--upstream",
                          mock.replace("http://", "ws://"), "--label", "chromium") as (base, _r):
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=CHROMIUM,
                    # %noloop: Chromium loops the file otherwise, and the looping voice
                    # barges in on every reply, so no output_audio_buffer.stopped comes
                    args=CHROMIUM_FLAGS + [f"--use-file-for-fake-audio-capture={wav}%noloop"])
                page = await browser.new_page()
                await page.goto(f"{origin}/quickstart.html")
                await page.evaluate("([b, k]) => start(b, k)", [base, KEY])
                try:
                    await page.wait_for_function("window.done === true", timeout=40_000 * UNIT)
                except Exception:
                    state = await page.evaluate(
                        "[window.events, window.pc && window.pc.connectionState]")
                    sys.stderr.write(f"page state when it timed out: {state}\n")
                    raise
                events = await page.evaluate("window.events")
                location = await page.evaluate("window.location_header")
                await page.evaluate("window.pc.close()")
                await browser.close()
            await _ended(db, "chromium")
    finally:
        site.shutdown()
    return {"events": events, "location": location}


SCENARIOS = {"chromium_call": chromium_call, "preflight": preflight, "command": command, "ice_failure": ice_failure, "mock_call": mock_call, "record_call": record_call, "failures": failures, "replay_refused": replay_refused, "gather": gather}


def main() -> None:
    _isolated()
    name, args = sys.argv[1], json.loads(sys.argv[2])
    result = asyncio.run(SCENARIOS[name](**args))
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
