"""``rtcapture replay`` and ``rtcapture diff``: re-drive a recording, compare sessions."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from ..check import RuleSet, check_session, load_rules
from ..check.output import text_report
from ..cli import AppContext, pass_app
from ..errors import EXIT_DIFFERENCES, EXIT_ENDPOINT, EXIT_OK, EndpointError, UsageError
from ..protocol import redact_url
from ..replay.diff import DiffOptions, DiffResult
from ..replay.digest import SessionDigest
from ..replay.paths import parse_ignores
from ..replay.report import ReplayInfo, replay_lines, report_json, summary_lines
from ..replay.run import (
    MOCK,
    PLAYBACK,
    ReplayRequest,
    diff_sessions,
    replay_session,
    replay_transport,
)
from ..replay.target import join_url
from ..replay.transport import check_transport
from ..store import Store
from .options import HEADER

F = TypeVar("F", bound=Callable[..., Any])
_DIFF_DEFAULTS = DiffOptions()


def write_lines(lines: Sequence[str], err: bool = False) -> None:
    """Echo report lines (colours dropped when the output is not a terminal)."""
    for line in lines:
        click.echo(line, err=err)


def diff_options(func: F) -> F:
    """Options shared by ``replay --diff`` and ``diff``."""
    options = [
        click.option("--ignore", "ignores", multiple=True, metavar="PATH",
                     help="Ignore differences at PATH and below, as the report prints it; "
                          "[*] matches any index (repeatable)."),
        click.option("--text-threshold", type=click.FloatRange(0, 1),
                     default=_DIFF_DEFAULTS.text_threshold, show_default=True,
                     help="Texts and transcripts differ below this similarity (0-1)."),
        click.option("--audio-tolerance-ms", type=click.FloatRange(min=0),
                     default=_DIFF_DEFAULTS.audio_tolerance_ms, show_default=True,
                     help="Audio durations may differ by this much."),
        click.option("--token-tolerance", type=click.FloatRange(0, 100),
                     default=_DIFF_DEFAULTS.token_tolerance * 100, show_default=True,
                     help="Token counts may differ by this many percent (0: exact)."),
        click.option("--latency-tolerance-ms", type=click.FloatRange(min=0),
                     default=_DIFF_DEFAULTS.latency_tolerance_ms, show_default=True,
                     help="First-audio/first-text latency may differ by this much."),
        click.option("--report", "report_path", type=click.Path(dir_okay=False, allow_dash=True),
                     help="Write the machine-readable report (JSON) here; '-' for stdout."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _diff_options(ignores: tuple[str, ...], text_threshold: float, audio_tolerance_ms: float,
                  token_tolerance: float, latency_tolerance_ms: float | None) -> DiffOptions:
    return DiffOptions(ignore=parse_ignores(ignores), text_threshold=text_threshold,
                       audio_tolerance_ms=audio_tolerance_ms,
                       token_tolerance=token_tolerance / 100,
                       latency_tolerance_ms=latency_tolerance_ms)


def _write_report(path: str | None, doc: dict[str, Any]) -> None:
    if path is None:
        return
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if path == "-":
        click.echo(text, nl=False)
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write report {path}: {exc.strerror or exc}") from None


def _output(a: SessionDigest, b: SessionDigest, result: DiffResult, options: DiffOptions,
            replay: ReplayInfo | None, report_path: str | None, exit_code: int) -> None:
    """Summary to stdout (stderr when the JSON report goes to stdout), then the report."""
    write_lines(summary_lines(a, b, result, replay), err=report_path == "-")
    _write_report(report_path, report_json(a, b, result, options, replay, exit_code))


@click.command(name="replay")
@click.argument("session")
@click.option("--target", required=True, metavar="URL|mock|playback",
              help="Base URL (ws:// or wss://; http:// and https:// mean the same; the recorded "
                   "path and query are appended), "
                   "'mock' (the embedded mock) or 'playback' (the recording served back).")
@click.option("--path", "path_override", metavar="PATH",
              help="Path and query to use instead of the recorded ones.")
@click.option("--transport", metavar="websocket|webrtc",
              help="Replay over a WebSocket or a WebRTC call (the webrtc extra).  "
                   "[default: the recording's own]")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Play the recorded gaps SPEED times faster.  [default: 1]")
@click.option("--fast", is_flag=True, help="Drop the recorded gaps (dependencies still hold).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=10.0,
              show_default=True, help="Seconds any wait (connect, a server event) may take.")
@click.option("--header", "headers", type=HEADER, multiple=True,
              help="Extra handshake header, e.g. 'Authorization: Bearer ...' (repeatable).")
@click.option("--label", help="Label for the replay session.")
@click.option("--scenario", "scenario_path", type=click.Path(dir_okay=False),
              help="--target mock: scenario file.  [default: built-in]")
@click.option("--seed", type=int, default=None, help="--target mock: seed.  [default: 0]")
@click.option("--diff", "do_diff", is_flag=True,
              help="Compare the replay with the recording; exit 1 on differences.")
@click.option("--check", "do_check", is_flag=True,
              help="Also hold the replay session to the check rules; exit 1 on violations.")
@click.option("--rules", "rules_file", type=click.Path(path_type=Path, dir_okay=False),
              help="--check: a TOML rules file (as for rtcapture check).")
@diff_options
@pass_app
def replay_cmd(app: AppContext, session: str, target: str, path_override: str | None,
               transport: str | None, speed: float | None, fast: bool, timeout_s: float,
               headers: tuple[tuple[str, str], ...], label: str | None,
               scenario_path: str | None, seed: int | None, do_diff: bool, do_check: bool,
               rules_file: Path | None, ignores: tuple[str, ...], text_threshold: float, audio_tolerance_ms: float,
               token_tolerance: float, latency_tolerance_ms: float, report_path: str | None
               ) -> None:
    """Re-send a recording's client events to a target and record the replay.

    SESSION is an id, a unique prefix, 'last' or '@label'. The key comes from
    OPENAI_API_KEY or --header (recorded secrets were redacted). Exit codes: 0 done (and
    no differences), 1 differences (--diff), 2 usage error, 3 the target failed.

    \b
    Example:
      rtcapture replay @golden --target playback --diff
      rtcapture replay last --target mock --scenario scenario.toml --diff --report r.json
      rtcapture replay @browser --target mock --transport websocket --diff
      OPENAI_API_KEY=sk-... rtcapture replay @golden --target wss://api.openai.com \\
          --diff --text-threshold 0.6 --ignore 'response[*].usage'
    """
    if speed is not None and fast:
        raise UsageError("--speed and --fast cannot be combined")
    if target != MOCK and (scenario_path is not None or seed is not None):
        raise UsageError("--scenario and --seed only apply to --target mock")
    if target not in (MOCK, PLAYBACK):
        join_url(target, path_override or "/")  # a bad URL is a usage error before anything
    if transport is not None:
        check_transport(transport)  # a bad value fails before the store is opened
    changed = _changed_diff_options(ignores, text_threshold, audio_tolerance_ms,
                                    token_tolerance, latency_tolerance_ms)
    if changed and not do_diff:
        raise UsageError(f"{changed[0]} needs --diff")
    if rules_file is not None and not do_check:
        raise UsageError("--rules needs --check")
    rules = load_rules(rules_file) if do_check else None
    options = _diff_options(ignores, text_threshold, audio_tolerance_ms, token_tolerance,
                            None if fast or (speed or 1.0) != 1.0 else latency_tolerance_ms)
    store = app.store(create=False)
    original_id = store.resolve(session)
    request = ReplayRequest(
        target=target, path=path_override, speed=speed or 1.0, fast=fast, timeout_s=timeout_s,
        headers=headers, api_key=os.environ.get("OPENAI_API_KEY") or None, label=label,
        scenario=_load_scenario(scenario_path), seed=seed or 0, transport=transport)
    replay_transport(store.session(original_id), request)  # usable, before anything starts
    app.info(f"replaying {original_id} against {redact_url(target)}")
    info = replay_session(store, original_id, request)
    original = SessionDigest(store.session(original_id))
    if not info.connected:  # nothing to show but the reason
        _write_report(report_path, report_json(original, SessionDigest(None), None, None,
                                               info, EXIT_ENDPOINT))
        raise EndpointError(info.endpoint_error or "the target failed")
    if do_diff:
        a, b, result = diff_sessions(store, original_id, info.session_id, options)
        code = EXIT_OK if result.equal else EXIT_DIFFERENCES
        code = EXIT_ENDPOINT if info.endpoint_error else code
        _output(a, b, result, options, info, report_path, code)
    else:
        code = EXIT_ENDPOINT if info.endpoint_error else EXIT_OK
        write_lines(replay_lines(info), err=report_path == "-")
        _write_report(report_path, report_json(
            original, SessionDigest(store.session(info.session_id)), None, None, info, code))
    if rules is not None and _check_replay(store, info.session_id, rules) and not code:
        code = EXIT_DIFFERENCES
    if info.endpoint_error:
        raise EndpointError(info.endpoint_error)
    if code:
        raise click.exceptions.Exit(code)


def _check_replay(store: Store, session_id: str, rules: RuleSet) -> bool:
    """Print the replay session's violations (stderr); True if there are any."""
    result = check_session(store, store.session(session_id), rules)
    click.echo(text_report([result]), err=True, nl=False)
    return bool(result.violations)


def _changed_diff_options(ignores: tuple[str, ...], text_threshold: float,
                          audio_tolerance_ms: float, token_tolerance: float,
                          latency_tolerance_ms: float) -> list[str]:
    """Names of the diff options given other values than their defaults."""
    d = _DIFF_DEFAULTS
    given = (("--ignore", ignores, ()), ("--text-threshold", text_threshold, d.text_threshold),
             ("--audio-tolerance-ms", audio_tolerance_ms, d.audio_tolerance_ms),
             ("--token-tolerance", token_tolerance / 100, d.token_tolerance),
             ("--latency-tolerance-ms", latency_tolerance_ms, d.latency_tolerance_ms))
    return [name for name, value, default in given if value != default]


def _load_scenario(path: str | None) -> Any:
    """The mock scenario of ``--scenario``, or None; a bad file exits 2."""
    if path is None:
        return None
    from ..mock import ScenarioError, load_scenario

    try:
        return load_scenario(path)
    except ScenarioError as exc:
        raise UsageError(f"--scenario: {exc}") from None


@click.command(name="diff")
@click.argument("a")
@click.argument("b")
@diff_options
@pass_app
def diff_cmd(app: AppContext, a: str, b: str, ignores: tuple[str, ...], text_threshold: float,
             audio_tolerance_ms: float, token_tolerance: float, latency_tolerance_ms: float,
             report_path: str | None) -> None:
    """Compare two recorded sessions' server behaviour (A = old, B = new).

    Exit 0 when they match, 1 when they differ, 2 on a usage error.

    \b
    Example:
      rtcapture diff @golden last
      rtcapture diff 01JA 01JB --ignore 'response[*].usage' --report diff.json
    """
    options = _diff_options(ignores, text_threshold, audio_tolerance_ms, token_tolerance,
                            latency_tolerance_ms)
    store = app.store(create=False)
    da, db, result = diff_sessions(store, store.resolve(a), store.resolve(b), options)
    code = EXIT_OK if result.equal else EXIT_DIFFERENCES
    _output(da, db, result, options, None, report_path, code)
    if code:
        raise click.exceptions.Exit(code)


COMMANDS = [replay_cmd, diff_cmd]
