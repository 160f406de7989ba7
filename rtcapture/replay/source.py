"""The replay's input: plan items computed from stored events in a background thread.

Reading a long recording from the database takes time in bursts; a :class:`Prefetcher`
keeps that off the event loop and a bounded number of chunks ahead of the sender, so
memory stays bounded and sends stay on time.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, Generic, TypeVar

from ..store.records import EventRecord
from .plan import PlanItem, Planner

T = TypeVar("T")
_END = object()


def plan_items(events: Iterable[EventRecord], absent: tuple[str, ...] = ()
               ) -> Iterator[PlanItem]:
    """Plan items for a recording's events (in ``seq`` order), ending with a PlanEnd
    (``absent``: see :attr:`Planner.absent`)."""
    planner = Planner(absent=absent)
    for ev in events:
        item = planner.feed(ev)
        if item is not None:
            yield item
    yield planner.finish()


class Prefetcher(Generic[T]):
    """Iterates a blocking iterable in a thread, at most ``ahead`` chunks ahead."""

    def __init__(self, iterable: Iterable[T], chunk: int = 256, ahead: int = 8) -> None:
        self._iterable = iterable
        self._chunk = chunk
        self._slots = threading.Semaphore(ahead)
        self._stop = threading.Event()
        self._queue: asyncio.Queue[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ahead = ahead
        self._primed: deque[Any] = deque()

    def start(self) -> None:
        """Start reading (call from the event loop that consumes the items)."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._thread = threading.Thread(target=self._run, name="rtcapture-replay-plan",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the reader thread (it exits at its next chunk)."""
        self._stop.set()

    def _push(self, value: Any) -> bool:
        while not self._slots.acquire(timeout=0.2):
            if self._stop.is_set():
                return False
        assert self._loop is not None and self._queue is not None
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, value)
        except RuntimeError:  # the loop is gone
            return False
        return True

    def _run(self) -> None:
        try:
            buf: list[T] = []
            for item in self._iterable:
                buf.append(item)
                if len(buf) >= self._chunk:
                    if self._stop.is_set() or not self._push(buf):
                        return
                    buf = []
            if buf and not self._push(buf):
                return
            self._push(_END)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            self._push(exc)

    async def prime(self) -> None:
        """Wait until the buffer is full (or the input ended), so that the replay starts
        with the reader idle."""
        assert self._queue is not None, "start() first"
        while len(self._primed) < self._ahead:
            value = await self._queue.get()
            self._primed.append(value)
            if value is _END or isinstance(value, BaseException):
                return

    async def __aiter__(self) -> AsyncIterator[T]:
        assert self._queue is not None, "start() first"
        while True:
            value = self._primed.popleft() if self._primed else await self._queue.get()
            self._slots.release()
            if value is _END:
                return
            if isinstance(value, BaseException):
                raise value
            for item in value:
                yield item
