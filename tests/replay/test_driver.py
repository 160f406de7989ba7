"""The replay client against small local servers: pacing, ids, failures."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Response

from rtcapture.replay.driver import PaceOptions, Replayer, ReplayResult
from rtcapture.replay.plan import PlanItem
from rtcapture.replay.source import plan_items
from rtcapture.replay.target import TargetPlan
from tests.conftest import deadline
from tests.replay.helpers import audio_b64, records, text_response

Handler = Callable[[ServerConnection], Awaitable[None]]
SESSION_CREATED = {"type": "session.created", "event_id": "event_s1",
                   "session": {"id": "sess_1"}}


@asynccontextmanager
async def local_server(handler: Handler, **kwargs: Any) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0, **kwargs) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def aiter_plan(frames: list) -> AsyncIterator[PlanItem]:
    for item in plan_items(records(frames)):
        yield item


async def replay(url: str, frames: list, *, timeout_s: float = 5.0, speed: float = 1.0,
                 fast: bool = False, target: TargetPlan | None = None
                 ) -> tuple[ReplayResult, list[tuple[str, int, dict[str, Any]]]]:
    """Replay ``frames`` at ``url``; returns the result and the frames seen (dir, t, event)."""
    seen: list[tuple[str, int, dict[str, Any]]] = []

    def sink(direction: str, t_ns: int, opcode: str, data: bytes) -> None:
        seen.append((direction, t_ns, json.loads(data)))

    plan = target or TargetPlan(url=url + "/v1/realtime?model=m", headers=[], subprotocols=[])
    replayer = Replayer(plan, aiter_plan(frames), sink,
                        PaceOptions(speed=speed, fast=fast, timeout_s=timeout_s))
    async with asyncio.timeout(deadline(timeout_s * 3 + 10)):
        return await replayer.run(), seen


def response_frames(rid: str, item: str, created_ms: float) -> list:
    return text_response(rid, item, "Hello", created_ms=created_ms)


async def echo_turns(ws: ServerConnection, *, item_prefix: str = "item_new",
                     done_delay_s: float = 0.0) -> list[dict[str, Any]]:
    """A tiny Realtime-ish server: answers response.create with a text response using its
    own ids, and records every client event."""
    got: list[dict[str, Any]] = []
    await ws.send(json.dumps(SESSION_CREATED))
    n = 0
    async for message in ws:
        event = json.loads(message)
        got.append(event)
        if event["type"] == "response.create":
            frames = response_frames(f"resp_new{n}", f"{item_prefix}{n}", 0)
            for i, (_, server_event, _) in enumerate(frames):
                if i == len(frames) - 1 and done_delay_s:
                    await asyncio.sleep(done_delay_s)  # a slow model, not synchronisation
                await ws.send(json.dumps(server_event))
            n += 1
        if event["type"] == "conversation.item.truncate":
            await ws.send(json.dumps({"type": "conversation.item.truncated",
                                      "event_id": "event_t", "item_id": event["item_id"]}))
    return got


def two_turns() -> list:
    """Recording: a response, then a new item sent 200 ms after its response.done."""
    return [("server", SESSION_CREATED, 1), ("client", {"type": "response.create"}, 5),
            *response_frames("resp_old0", "item_old0", 10),
            ("client", {"type": "conversation.item.create", "item": {"type": "message",
             "role": "user", "content": []}}, 262),
            ("client", {"type": "response.create"}, 263),
            *response_frames("resp_old1", "item_old1", 270),
            ("client", {"type": "conversation.item.truncate", "item_id": "item_old1",
                        "content_index": 0, "audio_end_ms": 10}, 400)]


async def test_a_frame_waits_for_its_dependency_then_the_recorded_gap() -> None:
    """The item.create after a response goes out after response.done + the recorded gap."""
    got: list[dict[str, Any]] = []

    async def handler(ws: ServerConnection) -> None:
        got.extend(await echo_turns(ws, done_delay_s=0.3))

    async with local_server(handler) as url:
        result, seen = await replay(url, two_turns())
    assert result.failure is None and result.frames_sent == 4
    done_t = next(t for d, t, e in seen if e["type"] == "response.done")
    create_t = next(t for d, t, e in seen if e["type"] == "conversation.item.create")
    assert create_t >= done_t + 200_000_000 - 1_000_000  # the recorded 200 ms gap, after done
    assert [e["type"] for d, t, e in seen if d == "client"] == [
        "response.create", "conversation.item.create", "response.create",
        "conversation.item.truncate"]


async def test_ids_are_translated_from_the_replays_own_events() -> None:
    """The truncate carries the id the replay's server gave, not the recorded one."""
    got: list[dict[str, Any]] = []

    async def handler(ws: ServerConnection) -> None:
        got.extend(await echo_turns(ws))

    async with local_server(handler) as url:
        result, seen = await replay(url, two_turns(), fast=True)
    truncate = next(e for e in got if e["type"] == "conversation.item.truncate")
    assert truncate["item_id"] == "item_new1"
    assert result.id_map["item_old1"] == "item_new1"
    assert result.id_map["resp_old0"] == "resp_new0"
    assert any(e["type"] == "conversation.item.truncated" for d, t, e in seen)


async def test_appends_keep_their_recorded_gaps_scaled_by_speed() -> None:
    """No frame is sent before its recorded gap / speed; --fast drops the gaps."""
    frames = [("server", SESSION_CREATED, 1),
              *[("client", {"type": "input_audio_buffer.append", "audio": audio_b64(10)},
                 100 + 100 * i) for i in range(6)]]

    async def handler(ws: ServerConnection) -> None:
        await ws.send(json.dumps(SESSION_CREATED))
        async for _ in ws:
            pass

    async with local_server(handler) as url:
        result, seen = await replay(url, frames, speed=2.0)
        sends = [t for d, t, e in seen if d == "client"]
        assert len(sends) == 6 and result.failure is None
        intended = [t - err for t, err in zip(sends, result.send_errors_ns, strict=True)]
        assert [b - a for a, b in zip(intended, intended[1:], strict=False)] == \
            [50_000_000] * 5  # the recorded 100 ms gaps at speed 2
        assert min(result.send_errors_ns) >= 0  # never early
        fast, seen_fast = await replay(url, frames, fast=True)
        fast_sends = [t for d, t, e in seen_fast if d == "client"]
        assert fast_sends[-1] - fast_sends[0] < 250_000_000  # the recording spans 500 ms


async def test_refused_connection_fails_with_a_reason() -> None:
    """Nothing listening: a one-line failure, no frames."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result, seen = await replay(f"ws://127.0.0.1:{port}", two_turns(), timeout_s=2)
    assert result.failure is not None and "Connection refused" in result.failure
    assert not result.connected and seen == []


async def test_handshake_never_answered_fails_within_the_timeout() -> None:
    """A TCP listener that never answers the upgrade ends the replay at --timeout."""
    accepted: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        start = time.monotonic()
        result, _ = await replay(f"ws://127.0.0.1:{port}", two_turns(), timeout_s=1.0)
        elapsed = time.monotonic() - start
    finally:
        for writer in accepted:
            writer.close()
        server.close()
    assert result.failure is not None and "did not complete the handshake" in result.failure
    assert elapsed < 1.0 + 1.0


async def test_silent_server_fails_within_the_timeout() -> None:
    """A server that accepts the WebSocket and never sends ends the replay at --timeout."""
    async def handler(ws: ServerConnection) -> None:
        async for _ in ws:
            pass

    frames = [("server", SESSION_CREATED, 1),
              *[("client", {"type": "input_audio_buffer.append", "audio": audio_b64(10)},
                 20 * i) for i in range(200)]]  # 4 s of audio that depends on nothing
    async with local_server(handler) as url:
        start = time.monotonic()
        result, _ = await replay(url, frames, timeout_s=1.0)
        elapsed = time.monotonic() - start
    assert result.failure is not None and "sent nothing for 1 s" in result.failure
    assert elapsed < 1.0 + 1.0


async def test_server_going_quiet_mid_session_is_a_failure() -> None:
    """Once answering, a target that then sends nothing while awaited fails at --timeout."""
    async def handler(ws: ServerConnection) -> None:
        await ws.send(json.dumps(SESSION_CREATED))
        async for _ in ws:
            pass

    async with local_server(handler) as url:
        start = time.monotonic()
        result, _ = await replay(url, two_turns(), timeout_s=1.0)
        elapsed = time.monotonic() - start
    assert result.failure is not None
    assert "sent nothing for 1 s" in result.failure and "response.done" in result.failure
    assert elapsed < 1.0 + 1.0


async def test_http_refusal_names_the_status() -> None:
    """A refused upgrade reports the HTTP status and the body's first line."""
    def refuse(connection: ServerConnection, request: Any) -> Response:
        return connection.respond(401, "invalid api key\n")

    async with local_server(echo_turns, process_request=refuse) as url:
        result, _ = await replay(url, two_turns(), timeout_s=2)
    assert result.failure is not None
    assert "HTTP 401" in result.failure and "invalid api key" in result.failure


async def test_early_close_by_the_target_is_a_failure() -> None:
    """A target that closes before the client side is done is reported with its code."""
    async def handler(ws: ServerConnection) -> None:
        await ws.send(json.dumps(SESSION_CREATED))
        await ws.recv()
        await ws.close(4000, "beta shape disabled")

    async with local_server(handler) as url:
        result, _ = await replay(url, two_turns(), timeout_s=2)
    assert result.failure is not None
    assert "code 4000" in result.failure and "after 1 of 4 client frames" in result.failure
    assert result.closed_by == "server" and result.close_code == 4000


async def test_missing_event_with_a_live_target_is_noted_not_fatal() -> None:
    """A target that keeps talking but never sends the awaited event is a divergence."""
    async def handler(ws: ServerConnection) -> None:
        await ws.send(json.dumps(SESSION_CREATED))
        async for message in ws:
            if json.loads(message)["type"] == "response.create":
                frames = response_frames("resp_x", "item_x", 0)[:-1]  # no response.done
                for _, event, _ in frames:
                    await ws.send(json.dumps(event))
                    await asyncio.sleep(0.1)  # keeps talking while the replay waits

    recording = two_turns()[:-7]  # first response, item.create, response.create
    async with local_server(handler) as url:
        result, _ = await replay(url, recording, timeout_s=0.5)
    assert result.failure is None
    assert any("response.done" in note and "never came" in note for note in result.notes)


async def test_headers_subprotocols_and_key_reach_the_target() -> None:
    """The dialect header and the key (in header and subprotocol) are sent."""
    from rtcapture.replay.target import build_target
    from rtcapture.store import SessionRecord, utcnow

    seen_request: list[Any] = []

    async def handler(ws: ServerConnection) -> None:
        seen_request.append(ws.request)
        await echo_turns(ws)

    original = SessionRecord(id="x", started=utcnow(), path="/v1/realtime?model=m",
                             headers=[("OpenAI-Beta", "realtime=v1"),
                                      ("Authorization", "Bearer REDACTED-1234abcd-wxyz")],
                             subprotocols=["realtime", "openai-insecure-api-key.REDACTED-x"])
    async with local_server(handler, select_subprotocol=lambda c, o: "realtime") as url:
        target = build_target(url + "/v1/realtime?model=m", original,
                              api_key="sk-test-canary-KEY-0042")
        result, _ = await replay(url, two_turns(), fast=True, target=target)
    assert result.subprotocol == "realtime"
    headers = seen_request[0].headers
    assert headers["OpenAI-Beta"] == "realtime=v1"
    assert headers["Authorization"] == "Bearer sk-test-canary-KEY-0042"
    assert "openai-insecure-api-key.sk-test-canary-KEY-0042" in headers["Sec-WebSocket-Protocol"]
    assert "sk-test" not in str(target.safe_headers) + str(target.safe_subprotocols)



async def test_the_replay_waits_for_the_recordings_late_events() -> None:
    """Events that came after the last client frame (a late transcription) are awaited;
    ones that never come are noted, bounded by --timeout, not fatal."""
    transcription = {"type": "conversation.item.input_audio_transcription.completed",
                     "event_id": "event_tr", "item_id": "item_u", "content_index": 0,
                     "transcript": "hi"}
    recording = [("server", SESSION_CREATED, 1), ("client", {"type": "response.create"}, 5),
                 *response_frames("resp_old0", "item_old0", 10),
                 ("server", transcription, 200)]

    def handler_for(send_late: bool) -> Handler:
        async def handler(ws: ServerConnection) -> None:
            await ws.send(json.dumps(SESSION_CREATED))
            async for message in ws:
                if json.loads(message)["type"] == "response.create":
                    for _, event, _ in response_frames("resp_n", "item_n", 0):
                        await ws.send(json.dumps(event))
                    if send_late:
                        await asyncio.sleep(0.3)  # the transcription model is slow
                        await ws.send(json.dumps(transcription))
        return handler

    async with local_server(handler_for(True)) as url:
        result, seen = await replay(url, recording, timeout_s=2)
    assert result.failure is None and not result.notes
    assert seen[-1][2]["type"] == transcription["type"]
    async with local_server(handler_for(False)) as url:
        result, seen = await replay(url, recording, timeout_s=0.5)
    assert result.failure is None
    assert result.notes == ["1 event type(s) of the recording never came: "
                            "conversation.item.input_audio_transcription.completed"]
