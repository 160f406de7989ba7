"""Running a replay end to end (target, in-process mock, driver, recording) and diffing.

The two entry points the CLI calls: :func:`replay_session` and :func:`diff_sessions`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..ids import new_id
from ..protocol import Flavour, flavour_from_handshake, redact_url
from ..store import SessionRecord, Status, Store, utcnow
from .diff import WEBRTC_ONLY_PREFIX, DiffOptions, DiffResult, compare_digests
from .digest import SessionDigest, digest_events
from .driver import PaceOptions, Replayer, ReplayResult
from .live import compare_turns, live_turns, realtime_turns
from .recording import ReplayRecorder
from .report import ReplayInfo
from .source import Prefetcher, plan_items
from .target import build_target, join_url, recorded_path, replay_model
from .transport import Transport, check_transport, opener, transport_path

MOCK, PLAYBACK = "mock", "playback"


@dataclass(frozen=True)
class ReplayRequest:
    """What to replay against, and how."""

    target: str
    """A ws(s):// base URL, ``mock`` or ``playback``."""
    path: str | None = None
    speed: float = 1.0
    fast: bool = False
    timeout_s: float = 10.0
    headers: tuple[tuple[str, str], ...] = ()
    api_key: str | None = None
    label: str | None = None
    scenario: Any = None
    """A loaded mock scenario (``--target mock``), or None for the built-in one."""
    seed: int = 0
    transport: str | None = None
    """``websocket`` or ``webrtc``; None: the recording's own transport."""


def send_error_stats(errors_ns: Sequence[int]) -> dict[str, float]:
    """p50 / p99 / max of send-time errors (nearest rank), in ms."""
    if not errors_ns:
        return {}
    ordered = sorted(errors_ns)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] / 1e6

    return {"p50": round(rank(0.5), 3), "p99": round(rank(0.99), 3),
            "max": round(ordered[-1] / 1e6, 3), "frames": len(ordered)}


@asynccontextmanager
async def _base_url(store: Store, original: SessionRecord, request: ReplayRequest
                    ) -> AsyncIterator[str]:
    """The base URL to replay against, running the in-process mock when asked."""
    if request.target not in (MOCK, PLAYBACK):
        yield request.target
        return
    from ..mock import serve_mock
    from ..mock.playback import recorded_close

    if request.target == MOCK:
        async with serve_mock(scenario=request.scenario, seed=request.seed,
                              fast=request.fast) as mock:
            yield mock.url
        return
    events = list(store.events(original.id))
    async with serve_mock(playback=events, speed=request.speed, fast=request.fast,
                          close=recorded_close(original)) as mock:
        yield mock.url


def replay_transport(original: SessionRecord, request: ReplayRequest) -> Transport:
    """The transport a replay runs over; a one-line error for a bad or unusable one."""
    transport = check_transport(request.transport or original.transport or Transport.WEBSOCKET)
    if transport is Transport.WEBRTC and original.flavour == Flavour.LIVE:
        raise UsageError("GPT-Live sessions have no WebRTC transport: use --transport websocket")
    return transport


async def _replay(store: Store, original: SessionRecord, request: ReplayRequest
                  ) -> tuple[ReplayInfo, ReplayResult]:
    transport = replay_transport(original, request)
    path = request.path or transport_path(recorded_path(original), transport, original.model)
    async with _base_url(store, original, request) as base:
        url = join_url(base, path)
        in_process = request.target in (MOCK, PLAYBACK)
        plan = build_target(url, original, extra_headers=request.headers,
                            api_key=None if in_process else request.api_key)
        record = SessionRecord(
            id=new_id(), started=utcnow(), upstream_url=plan.scrub(redact_url(base)),
            path=plan.scrub(redact_url(path)), model=replay_model(original, path),
            flavour=original.flavour, headers=plan.safe_headers,
            subprotocols=plan.safe_subprotocols if transport is Transport.WEBSOCKET else [],
            label=request.label, replay_of=original.id, transport=transport)
        recorder = ReplayRecorder(store, record, flavour_from_handshake(
            plan.headers, plan.subprotocols))
        recorder.start()
        absent = (WEBRTC_ONLY_PREFIX,) if transport is Transport.WEBSOCKET else ()
        source = Prefetcher(plan_items(store.events(original.id), absent))
        source.start()
        await source.prime()
        options = PaceOptions(speed=request.speed, fast=request.fast,
                              timeout_s=request.timeout_s,
                              server_may_close=original.closed_by == "server")
        replayer = Replayer(plan, source, recorder.frame, options,
                            opener(transport, recorder.reserve))
        reason: str | None
        status, reason = Status.CLOSED, "replay interrupted"  # ends as stored (lost: incomplete)
        try:
            result = await replayer.run()
            status = Status.FAILED if result.failure and not result.connected \
                else Status.CLOSED
            reason = result.failure
        finally:
            source.close()
            res = replayer.result
            await asyncio.to_thread(
                recorder.finish, status, status_reason=reason, close_code=res.close_code,
                close_reason=res.close_reason, closed_by=res.closed_by,
                subprotocol=res.subprotocol)
        info = ReplayInfo(
            session_id=record.id, original_id=original.id,
            target=request.target if in_process else plan.safe_url,
            speed=request.speed, fast=request.fast, frames_sent=result.frames_sent,
            frames_planned=result.frames_planned, server_events=result.server_events,
            send_error_ms=send_error_stats(result.send_errors_ns), id_map=result.id_map,
            notes=[plan.scrub(n) for n in result.notes],
            endpoint_error=result.failure, connected=result.connected, close_code=result.close_code,
            closed_by=result.closed_by)
        if recorder.lost:
            info.notes.append(f"{recorder.lost} replay frames could not be stored")
        return info, result


def replay_session(store: Store, original_id: str, request: ReplayRequest) -> ReplayInfo:
    """Replay a recorded session's client side; the replay is stored as a new session."""
    original = store.session(original_id)
    if request.target not in (MOCK, PLAYBACK):
        join_url(request.target, request.path or "/")  # validate before connecting
    replay_transport(original, request)
    info, _ = asyncio.run(_replay(store, original, request))
    return info


def digest_session(store: Store, session_id: str) -> SessionDigest:
    """A stored session's digest (streamed from the store)."""
    return digest_events(store.events(session_id), store.session(session_id))


def diff_sessions(store: Store, a_id: str, b_id: str, options: DiffOptions
                  ) -> tuple[SessionDigest, SessionDigest, DiffResult]:
    """Compare two stored sessions (A = old, B = new)."""
    a, b = digest_session(store, a_id), digest_session(store, b_id)
    if Flavour.LIVE in (a.session.flavour if a.session else None,
                        b.session.flavour if b.session else None):
        for digest, sid in ((a, a_id), (b, b_id)):  # by turn, this dialect or across APIs
            live = digest.session is not None and digest.session.flavour == Flavour.LIVE
            digest.turns = live_turns(store.events(sid)) if live else realtime_turns(digest)
        return a, b, compare_turns(a.turns or [], b.turns or [], options)
    return a, b, compare_digests(a, b, options)
