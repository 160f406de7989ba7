"""One test's cassette at work: which connections replay, which record, and the verdict.

Record modes are vcrpy's: ``none`` replays only (a missing cassette fails the test);
``once`` records when the cassette is missing and replays it otherwise; ``new_episodes``
replays the recorded connections and records the ones past them; ``all`` always records.
A cassette holds one session per connection (the first in the named file, the n-th in
``<stem>.<n>.jsonl``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..export.cassette import CassetteError, load_cassette
from ..protocol import decode_event
from ..store.records import EventRecord, SessionRecord, Status
from .front import Front
from .loop import LoopThread
from .matcher import ClientMatcher
from .recording import TestRecorder
from .replayer import EpisodeReplay
from .tape import episode_path, write_episode

REPLAY_KEY = "sk-rtcapture-replay-no-key-needed"
"""What ``api_key`` gives when nothing is recorded: replay never checks keys."""


class RecordMode(StrEnum):
    """vcrpy's record modes."""

    NONE = "none"
    ONCE = "once"
    NEW_EPISODES = "new_episodes"
    ALL = "all"


class CassetteProblem(Exception):
    """A cassette that cannot be used (missing in mode ``none``, malformed): one line."""


@dataclass
class RealtimeSession:
    """A session as the test saw it: recorded (from the recorder) or replayed."""

    record: SessionRecord | None
    frames: list[EventRecord] = field(default_factory=list)
    replayed: bool = False

    def events(self, direction: str | None = None, type: str | None = None  # noqa: A002
               ) -> list[dict[str, Any]]:
        """Decoded events, optionally only one direction (``client``/``server``) or type."""
        out = []
        for frame in self.frames:
            if direction is not None and frame.direction != direction:
                continue
            if type is not None and frame.type != type:
                continue
            event = decode_event(frame.data)
            if event is not None:
                out.append(event)
        return out


@dataclass
class Settings:
    """What a test asked for (marker keywords over command-line options)."""

    path: Path
    mode: RecordMode
    upstream: str
    fast: bool
    matcher: ClientMatcher
    settle_s: float = 10.0


class TestCassette:
    """The servers behind ``realtime.url`` for one test, on the plugin's own loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.replays: list[EpisodeReplay] = []
        self.problems: list[str] = []
        self._loop: LoopThread | None = None
        self._front: Front | None = None
        self._recorder: TestRecorder | None = None
        self._may_record = settings.mode is RecordMode.ALL
        self._final: list[RealtimeSession] = []
        try:
            self._load()
        except CassetteProblem as exc:
            self.problems.append(str(exc))
            self.replays, self._may_record, self.unusable = [], False, True
        else:
            self.unusable = False

    def _load(self) -> None:
        path, mode = self.settings.path, self.settings.mode
        if mode is RecordMode.ALL:
            return
        if not path.exists():
            if mode is RecordMode.NONE:
                raise CassetteProblem("does not exist and the record mode is 'none' (record "
                                      "it with --realtime-record-mode once)")
            self._may_record = True
            return
        self._may_record = mode is RecordMode.NEW_EPISODES
        index = 0
        while (episode := episode_path(path, index)).exists():
            try:
                rec, events = load_cassette(episode)
            except CassetteError as exc:
                raise CassetteProblem(f"cannot be replayed: {exc}") from None
            self.replays.append(EpisodeReplay(episode, rec, events, self.settings.matcher,
                                              fast=self.settings.fast))
            index += 1

    @property
    def recording(self) -> bool:
        """True when a connection of this test can be recorded."""
        return self._may_record

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Start the servers; the base URL for the client (``ws://127.0.0.1:PORT/v1``)."""
        self._loop = LoopThread()
        self._front = Front(self._route)
        self._loop.call(self._start(), timeout=60)
        return f"ws://127.0.0.1:{self._front.port}/v1"

    async def _start(self) -> None:
        assert self._front is not None
        for replay in self.replays:
            await replay.start()
        if self._may_record:
            self._recorder = TestRecorder(self.settings.upstream)
            await self._recorder.start()
        await self._front.start()

    async def _route(self, index: int) -> int | None:
        if index < len(self.replays):
            return self.replays[index].port
        if self._recorder is not None:
            return self._recorder.port
        if self.unusable:
            return None
        self.problems.append(
            f"connection #{index} of the test is not in the cassette {self.settings.path} "
            f"(it holds {len(self.replays)}; record mode '{self.settings.mode}' records no new "
            "connections: use new_episodes or all)")
        return None

    def settle(self) -> None:
        """Wait until the test's connections have ended and recorded sessions are written."""
        assert self._loop is not None
        self._loop.call(self._settle(), timeout=self.settings.settle_s * 3 + 10)

    async def _settle(self) -> None:
        assert self._front is not None
        await self._front.drained(self.settings.settle_s)
        if self._recorder is not None:
            await self._recorder.settle(self.settings.settle_s)

    def verdict(self) -> list[str]:
        """Every reason the test fails on account of the cassette (after the test body)."""
        self.settle()
        found = list(self.problems)
        for replay in self.replays:
            found.extend(f"{replay.log.path.name}: {p}" for p in replay.log.problems)
            unsent = replay.unsent()
            if unsent:
                found.append(f"{replay.log.path.name}: {unsent}")
        if self._recorder is not None:
            found.extend(f"recording failed, nothing written for it: {rec.status_reason}"
                         for rec, _ in self._recorder.sessions() if rec.status == Status.FAILED)
        return found

    def sessions(self) -> list[RealtimeSession]:
        """The test's sessions so far, replayed ones first, then recorded ones (after the
        test: as they were when it ended)."""
        if self._loop is None:
            return list(self._final)
        self.settle()
        out = [RealtimeSession(r.session, list(r.log.frames), replayed=True)
               for r in self.replays if r.log.connected]
        if self._recorder is not None:
            out.extend(RealtimeSession(rec, events) for rec, events in self._recorder.sessions())
        return out

    def close(self) -> list[Path]:
        """Stop everything, write what was recorded; the files written."""
        if self._loop is None:
            return []
        written: list[Path] = []
        try:
            self._final = self.sessions()
            self._loop.call(self._stop(), timeout=60)
            if self._recorder is not None:
                recorded = [(rec, events) for rec, events in self._recorder.sessions()
                            if rec.status != Status.FAILED]  # the handshake never completed
                first = len(self.replays)
                key = os.environ.get("OPENAI_API_KEY")
                for offset, (rec, events) in enumerate(recorded):
                    path = episode_path(self.settings.path, first + offset)
                    write_episode(path, rec, events, secret=key)
                    written.append(path)
                if recorded and self.settings.mode is RecordMode.ALL:
                    self._drop_stale(first + len(recorded))
        finally:
            if self._recorder is not None:
                self._recorder.cleanup()
            self._loop.close()
            self._loop = None
        return written

    def _drop_stale(self, count: int) -> None:
        index = count
        while (stale := episode_path(self.settings.path, index)).exists():
            stale.unlink()
            index += 1

    async def _stop(self) -> None:
        if self._front is not None:
            await self._front.stop()
        for replay in self.replays:
            await replay.stop()
        if self._recorder is not None:
            await self._recorder.stop()


def summary(problems: list[str], path: Path) -> str:
    """The failure text for a test's cassette problems."""
    head = f"realtime cassette {path}:"
    return "\n".join([head, *problems]) if len(problems) > 1 or "\n" in problems[0] \
        else f"{head} {problems[0]}"
