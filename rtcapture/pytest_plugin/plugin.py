"""The ``pytest11`` entry point: options, the ``realtime_cassette`` marker, the ``realtime``
and ``realtime_mock`` fixtures, and the report hook that fails a test on a mismatch.

Only pytest is imported here; the rest of rtcapture is imported when a fixture is used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .cassette import RealtimeSession, Settings, TestCassette
    from .mockserver import RunningMock

MODES = ("none", "once", "new_episodes", "all")
DEFAULT_MODE = "once"
DEFAULT_UPSTREAM = "wss://api.openai.com"
_CASSETTE = pytest.StashKey["TestCassette"]()
MARKER_KEYWORDS = frozenset({"path", "record_mode", "upstream", "fast", "ignore", "matcher",
                             "audio_tolerance_ms", "reorder_window"})


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("realtime", "Realtime cassettes (rtcapture)")
    group.addoption("--realtime-record-mode", choices=MODES, default=None,
                    help=f"Record mode for realtime cassettes (vcrpy's; default {DEFAULT_MODE}).")
    group.addoption("--realtime-upstream", default=None, metavar="URL",
                    help=f"Where recording connects (default {DEFAULT_UPSTREAM}; 'mock': the "
                         "built-in mock).")
    group.addoption("--realtime-fast", action="store_true", default=False,
                    help="Replay realtime cassettes without their recorded pacing.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "realtime_cassette(path=None, *, record_mode=None, upstream=None, "
                   "fast=None, ignore=(), matcher=None, audio_tolerance_ms=200, reorder_window=4): the cassette "
                   "the `realtime` fixture records to and replays from.")


@dataclass
class Realtime:
    """What the ``realtime`` fixture yields."""

    url: str
    """Base URL for the client under test (``websocket_base_url=realtime.url``)."""
    mode: str
    """The record mode in force for this test."""
    cassette: Path
    """The cassette file (the first connection's session)."""
    _cassette: TestCassette

    @property
    def recording(self) -> bool:
        """True when connections of this test (can) go to the upstream and are recorded."""
        return self._cassette.recording

    @property
    def api_key(self) -> str:
        """``OPENAI_API_KEY`` when recording; a placeholder when only replaying."""
        from .cassette import REPLAY_KEY

        return os.environ.get("OPENAI_API_KEY") or REPLAY_KEY

    def ws_url(self, model: str) -> str:
        """The full Realtime URL, for clients that take one (the Agents SDK's ``url``)."""
        return f"{self.url}/realtime?model={model}"

    @property
    def sessions(self) -> list[RealtimeSession]:
        """Every session of the test, once its connections have closed."""
        return self._cassette.sessions()

    @property
    def session(self) -> RealtimeSession:
        """The test's (last) session, once its connection has closed."""
        sessions = self.sessions
        if not sessions:
            raise LookupError("the test opened no realtime connection")
        return sessions[-1]


def _settings(request: pytest.FixtureRequest) -> Settings:
    """The test's settings; ValueError (one line) for a bad marker argument."""
    from ..replay.paths import IgnorePattern, PathSyntaxError, parse_pattern
    from .cassette import RecordMode, Settings
    from .matcher import ClientMatcher
    from .tape import cassette_path

    marker = request.node.get_closest_marker("realtime_cassette")
    args: tuple[Any, ...] = marker.args if marker else ()
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker else {}
    unknown = sorted(set(kwargs) - MARKER_KEYWORDS)
    if unknown or len(args) > 1:
        raise ValueError(f"realtime_cassette takes one path and the keywords "
                         f"{', '.join(sorted(MARKER_KEYWORDS - {'path'}))}; got "
                         f"{', '.join(unknown) or f'{len(args)} positional arguments'}")
    name = args[0] if args else kwargs.pop("path", None)
    options = request.config.option
    mode = kwargs.get("record_mode") or options.realtime_record_mode or DEFAULT_MODE
    if mode not in MODES:
        raise ValueError(f"realtime_cassette: record_mode {mode!r} is not one of "
                         f"{', '.join(MODES)}")
    test_file = Path(str(request.node.path))
    module = test_file.stem
    path = cassette_path(test_file.parent, module, request.node.name, name)
    fast = kwargs.get("fast")
    ignore = kwargs.get("ignore", ())
    patterns = []
    for text in [ignore] if isinstance(ignore, str) else list(ignore):
        try:
            patterns.append(IgnorePattern(text, parse_pattern(text.strip())))
        except PathSyntaxError as exc:
            raise ValueError(f"realtime_cassette: ignore {text!r}: {exc}") from None
    return Settings(
        path=path, mode=RecordMode(mode),
        upstream=kwargs.get("upstream") or options.realtime_upstream or DEFAULT_UPSTREAM,
        fast=options.realtime_fast if fast is None else bool(fast),
        matcher=ClientMatcher(ignore=tuple(patterns),
                              audio_tolerance_ms=float(kwargs.get("audio_tolerance_ms", 200)),
                              custom=kwargs.get("matcher"),
                              reorder_window=max(1, int(kwargs.get("reorder_window", 4)))))


@pytest.fixture
def realtime(request: pytest.FixtureRequest) -> Iterator[Realtime]:
    """A Realtime endpoint for the code under test: replays the test's cassette, or records
    it through rtcapture's recorder (see ``docs/pytest.md``)."""
    from ..errors import StoreError
    from .cassette import TestCassette

    problem: str | None
    try:
        settings = _settings(request)
    except ValueError as exc:
        problem = str(exc)
    else:
        problem = None
    if problem is not None:
        pytest.fail(f"realtime: {problem}", pytrace=False)
    cassette = TestCassette(settings)
    request.node.stash[_CASSETTE] = cassette
    try:
        try:
            url = cassette.start()
        except (ValueError, OSError, StoreError) as exc:
            problem = str(exc)
        if problem is not None:
            pytest.fail(f"realtime: {problem}", pytrace=False)
        yield Realtime(url, str(settings.mode), settings.path, cassette)
    finally:
        cassette.close()


@pytest.fixture
def realtime_mock() -> Iterator[Callable[..., RunningMock]]:
    """Start the scripted mock: ``realtime_mock(scenario=None, seed=0, fast=True)`` returns an
    object whose ``.url`` is the client's base URL."""
    from .mockserver import MockPool

    pool = MockPool()
    try:
        yield pool.start
    finally:
        pool.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    cassette = item.stash.get(_CASSETTE, None)
    if cassette is None or call.when != "call":
        return report
    from .cassette import summary

    problems = cassette.verdict()
    if problems:
        crash = getattr(report.longrepr, "reprcrash", None) if report.failed else None
        if crash is not None:  # most often a consequence: the connection closed with 1008
            report.sections.append(("test failure (after the cassette problem)",
                                    f"{crash.path}:{crash.lineno}: {crash.message}"))
        report.outcome = "failed"
        report.longrepr = summary(problems, cassette.settings.path)
    return report
