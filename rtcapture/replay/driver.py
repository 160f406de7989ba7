"""The replay client: connect, pace the recorded client frames, translate ids, record.

The connection comes from an :data:`~.transport.Opener` (a WebSocket by default, a WebRTC
call with ``rtcapture.replay.webrtc_call``); pacing and ids do not depend on it.

Each planned frame is sent once the server events it depends on have arrived (see
:mod:`~rtcapture.replay.plan`), then after its recorded gap scaled by ``speed``; audio
appends follow their recorded clock. Every wait is bounded by ``timeout_s``: a target
that sends nothing at all during a wait is an endpoint failure (:class:`ReplayFailed`);
a target that answers but never sends the awaited event is a divergence, noted and
passed over (the diff shows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field

from ..protocol import RESPONSE_DONE, ClosedBy, Direction, Opcode, sniff_type
from .idmap import IdMap, id_values, rewrite_frame
from .plan import (
    EventKey,
    EventKeyer,
    PlanEnd,
    PlanItem,
    PlannedFrame,
    RecordedIds,
    is_tracked,
)
from .target import TargetPlan
from .transport import (
    CLOSE_TIMEOUT_S,
    Connection,
    ConnectionGone,
    Opener,
    ReplayFailed,
    open_websocket,
)

__all__ = ["FrameSink", "PaceOptions", "ReplayFailed", "ReplayResult", "Replayer"]

FrameSink = Callable[..., None]
"""Receives (direction, t_ns, opcode, data) for every frame sent or received, and
``seq=N`` for a media row numbered when its first audio frame arrived."""

_MAX_NOTES = 20
_SPIN_NS = 1_000_000


@dataclass(frozen=True)
class PaceOptions:
    """How the replay is paced."""

    speed: float = 1.0
    fast: bool = False
    timeout_s: float = 10.0
    server_may_close: bool = False
    """The recording ended with the server closing: an early close is not a failure."""


@dataclass
class ReplayResult:
    """What happened during one replay."""

    frames_sent: int = 0
    frames_planned: int = 0
    skipped: int = 0
    """Client frames left out because the transport has no place for them."""
    server_events: int = 0
    send_errors_ns: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failure: str | None = None
    connected: bool = False
    subprotocol: str | None = None
    close_code: int | None = None
    close_reason: str | None = None
    closed_by: ClosedBy | None = None
    id_map: dict[str, str] = field(default_factory=dict)

    def note(self, text: str) -> None:
        if len(self.notes) < _MAX_NOTES:
            self.notes.append(text)
        elif len(self.notes) == _MAX_NOTES:
            self.notes.append("(further notes left out)")


class Replayer:
    """One replay of planned frames against one target."""

    def __init__(self, target: TargetPlan, plan: AsyncIterable[PlanItem], sink: FrameSink,
                 options: PaceOptions, open_connection: Opener = open_websocket) -> None:
        self.target = target
        self.open_connection = open_connection
        self.plan = plan
        self.sink = sink
        self.options = options
        self.result = ReplayResult()
        self.idmap = IdMap()
        self._keyer = EventKeyer()
        self._arrived: dict[EventKey, int] = {}
        self._responses_done: dict[int, int] = {}
        self._progress = asyncio.Event()
        self._closed = asyncio.Event()
        self._closing = False
        self._t0 = 0
        self._sender: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- clock

    def _now(self) -> int:
        return time.monotonic_ns() - self._t0

    def _scaled(self, gap_ns: int) -> int:
        return 0 if self.options.fast else int(gap_ns / self.options.speed)

    async def _sleep_until(self, t_ns: int) -> None:
        """Sleep until ``t_ns``: the loop's timer for most of it (it wakes up to a
        millisecond late), then yield-spin the last millisecond."""
        delay = (t_ns - _SPIN_NS - self._now()) / 1e9
        if delay > 0.05:  # long gaps end early if the target goes away
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._closed.wait()
        elif delay > 0:
            await asyncio.sleep(delay)
        while self._now() < t_ns and not self._closed.is_set():
            await asyncio.sleep(0)

    # ---------------------------------------------------------------- run

    async def run(self) -> ReplayResult:
        """Connect, replay, close; never raises for endpoint failures (see ``failure``)."""
        self._t0 = time.monotonic_ns()
        try:
            conn = await self._connect()
        except ReplayFailed as exc:
            self.result.failure = str(exc)
            return self.result
        self.result.connected = True
        self.result.subprotocol = conn.subprotocol
        receiver = asyncio.create_task(self._receive(conn), name="rtcapture-replay-receive")
        sender = asyncio.create_task(self._send_all(conn), name="rtcapture-replay-send")
        self._sender = sender
        watchdog = asyncio.get_running_loop().call_later(self.options.timeout_s,
                                                         self._first_answer_check)
        try:
            await asyncio.wait({sender})
            if not sender.cancelled() and (error := sender.exception()) is not None:
                if not isinstance(error, ReplayFailed):
                    raise error
                self.result.failure = str(error)
        finally:
            sender.cancel()
            watchdog.cancel()
            await self._close(conn, abort=self.result.failure is not None)
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver
        self.result.id_map = self.idmap.mapping
        return self.result

    def _first_answer_check(self) -> None:
        if self.result.server_events == 0 and not self._closed.is_set() \
                and self._sender is not None:
            self.result.failure = (f"the target accepted the connection but sent nothing for "
                                   f"{self.options.timeout_s:g} s")
            self._sender.cancel()

    async def _connect(self) -> Connection:
        return await self.open_connection(self.target, self.options.timeout_s)

    async def _close(self, conn: Connection, abort: bool) -> None:
        self._closing = True
        await conn.close(abort)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._closed.wait()
        self.result.close_code = conn.close_code
        self.result.close_reason = conn.close_reason

    # ---------------------------------------------------------------- receive

    async def _receive(self, conn: Connection) -> None:
        try:
            async for opcode, data, stamped, seq in conn.received():
                t_ns = self._now() if stamped is None else stamped - self._t0
                if seq is None:
                    self.sink(Direction.SERVER, t_ns, opcode, data)
                else:
                    self.sink(Direction.SERVER, t_ns, opcode, data, seq=seq)
                self.result.server_events += 1
                if opcode == Opcode.TEXT:
                    self._observe(data, t_ns)
                self._progress.set()
        finally:
            if not self._closing:
                self.result.closed_by = ClosedBy.SERVER
            elif self.result.closed_by is None:
                self.result.closed_by = ClosedBy.CLIENT
            self.result.close_code = conn.close_code
            self.result.close_reason = conn.close_reason
            self._closed.set()
            self._progress.set()

    def _observe(self, data: bytes, t_ns: int) -> None:
        sniffed = sniff_type(data)
        if sniffed is not None and not is_tracked(sniffed):
            return  # deltas, the bulk of a session: not decoded here
        try:
            event = json.loads(data)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        key = self._keyer.key(event)
        if key is None:
            return
        self._arrived.setdefault(key, t_ns)
        if key.type == RESPONSE_DONE and key.response is not None:
            self._responses_done.setdefault(key.response, t_ns)
        ids = id_values(event)
        if ids:
            self.idmap.replayed(key, ids)

    # ---------------------------------------------------------------- send

    def _arrival(self, key: EventKey) -> int | None:
        t_ns = self._arrived.get(key)
        if t_ns is None and key.ends_with_response:
            t_ns = self._responses_done.get(key.response)  # type: ignore[arg-type]
        return t_ns

    async def _wait_for(self, deps: tuple[EventKey, ...], before: str,
                        strict: bool = True) -> tuple[dict[EventKey, int], bool]:
        """Wait for ``deps``; returns their arrival times (now for those that never came)
        and whether all came. ``strict``: a silent target fails, a missing event is noted."""
        deadline = self._now() + int(self.options.timeout_s * 1e9)
        heard = self.result.server_events
        while True:
            self._progress.clear()
            times = {k: t for k in deps if (t := self._arrival(k)) is not None}
            missing = [k for k in deps if k not in times]
            if not missing:
                return times, True
            if self._closed.is_set():
                return {**times, **dict.fromkeys(missing, self._now())}, False
            remaining = (deadline - self._now()) / 1e9
            if remaining <= 0:
                if strict and self.result.server_events == heard:
                    raise ReplayFailed(
                        f"the target sent nothing for {self.options.timeout_s:g} s while the "
                        f"replay waited for {missing[0]} ({before})")
                if strict:
                    self.result.note(f"waited {self.options.timeout_s:g} s for {missing[0]} "
                                     f"({before}); it never came")
                now = self._now()
                return {**times, **dict.fromkeys(missing, now)}, False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._progress.wait()

    async def _send_all(self, conn: Connection) -> None:
        prev_intended = self._now()
        async for item in self.plan:
            if isinstance(item, RecordedIds):
                self.idmap.recorded(item.key, item.ids)
                continue
            if isinstance(item, PlanEnd):
                await self._finish(item)
                return
            self.result.frames_planned += 1
            if self._closed.is_set():
                continue  # count what could not be sent
            prev_intended = await self._send(conn, item, prev_intended)

    async def _send(self, conn: Connection, frame: PlannedFrame, prev_intended: int) -> int:
        intended = prev_intended + self._scaled(frame.prev_gap_ns)
        if frame.deps:
            before = f"before client frame #{frame.seq} {frame.type or frame.opcode}"
            times, _ = await self._wait_for(frame.deps, before)
            if frame.anchor is not None:
                intended = max(intended, times[frame.anchor] + self._scaled(frame.anchor_gap_ns))
            intended = max(intended, *times.values())
        data = frame.data
        if frame.refs:  # its dependencies include the events that introduced the ids
            data, unmapped = rewrite_frame(data, frame.refs, self.idmap)
            for old in unmapped:
                self.result.note(f"client frame #{frame.seq} {frame.type} references {old}, "
                                 "which the replay never learnt; sent unchanged")
        await self._sleep_until(intended)
        if self._closed.is_set():
            return intended
        t_ns = self._now()
        try:
            sent = await conn.send(frame.opcode, data, frame.type)
        except ConnectionGone:
            return intended
        if sent is None:
            self.result.skipped += 1
            self.result.note(f"client frame #{frame.seq} {frame.type} has no place on this "
                             "transport; left out")
            return intended
        self.sink(Direction.CLIENT, t_ns, *sent)
        self.result.frames_sent += 1
        self.result.send_errors_ns.append(t_ns - intended)
        return intended

    async def _finish(self, end: PlanEnd) -> None:
        """After the last client frame: wait for the recording's last events, bounded."""
        if self._closed.is_set():
            self._check_early_close()
            return
        if end.deps:
            await self._wait_for(end.deps, "the recording's last events")
        extra = tuple(k for k in end.expected if self._arrival(k) is None)
        if extra and not self._closed.is_set():
            _, complete = await self._wait_for(extra, "the recording's remaining events",
                                               strict=False)
            if not complete:
                still = sorted({k.type for k in extra if self._arrival(k) is None})
                if still:
                    self.result.note(f"{len(still)} event type(s) of the recording never came: "
                                     + ", ".join(still[:8]))
        await self._wait_for_tail(end)
        self._check_early_close()

    async def _wait_for_tail(self, end: PlanEnd) -> None:
        """Let the frames after the recording's last tracked event (e.g. the deltas of a
        reply cut short) arrive: until the replay has as many server frames as the
        recording, for at most the recorded tail + 1 s (bounded by the timeout)."""
        limit_s = min(self.options.timeout_s, self._scaled(end.tail_ns) / 1e9 + 1.0)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit_s):
                while self.result.server_events < end.server_frames \
                        and not self._closed.is_set():
                    self._progress.clear()
                    await self._progress.wait()

    def _check_early_close(self) -> None:
        sent, planned = self.result.frames_sent, self.result.frames_planned
        if self.result.closed_by == "server" and sent + self.result.skipped < planned \
                and not self.options.server_may_close:
            reason = f" {self.result.close_reason!r}" if self.result.close_reason else ""
            raise ReplayFailed(self.target.scrub(
                f"the target closed the connection (code {self.result.close_code}{reason}) "
                f"after {sent} of {planned} client frames"))
