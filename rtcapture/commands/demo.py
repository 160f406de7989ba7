"""``rtcapture demo``: the offline tour (mock, recorder, a scripted session, then files)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from ..cli import AppContext, pass_app
from ..errors import EXIT_DIFFERENCES, EndpointError, UsageError
from ..protocol import Flavour

if TYPE_CHECKING:
    from ..demo.run import DemoOptions

DEFAULT_OUT = "rtcapture-demo"


def _db_given(ctx: click.Context) -> bool:
    """Whether --db (or RTCAPTURE_DB) was given rather than left at its default."""
    root = ctx.find_root()
    source = root.get_parameter_source("db_url")
    return source not in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)


@contextmanager
def _quiet_mock_log(app: AppContext) -> Iterator[None]:
    """Keep the in-process mock's connection log (INFO) for -v, like every other log line;
    the logger's level is put back afterwards."""
    logger = logging.getLogger("rtcapture.mock.ws")
    level = logger.level
    if not app.verbose:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@click.command(name="demo")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT,
              metavar="DIR", show_default=True,
              help="Folder for the demo's files; a re-run replaces them and touches nothing "
                   "else there.")
@click.option("--client", type=click.Choice(["auto", "sdk", "builtin"]), default="auto",
              show_default=True,
              help="Who plays the user: the openai SDK ('auto': when installed) or "
                   "rtcapture's built-in WebSocket client.")
@click.option("--dialect", type=click.Choice(["ga", "beta"]), default="ga", show_default=True,
              help="Protocol dialect the client speaks.")
@click.option("--api", type=click.Choice(["realtime", "live"]), default="realtime",
              show_default=True,
              help="Which voice API the demo speaks: Realtime, or GPT-Live (docs/live.md).")
@click.option("--fast", is_flag=True,
              help="No real-time pacing: a few seconds instead of about 20 (the barge-in "
                   "then comes after the reply was sent, as with a client that buffers).")
@click.pass_context
@pass_app
def demo_cmd(app: AppContext, ctx: click.Context, out: Path, client: str, dialect: str,
             api: str, fast: bool) -> None:
    """Record a scripted session offline, then write its WAVs, Parquet and a replay diff.

    Starts the mock Realtime server and the recorder on free ports, plays a user (a text
    turn, a spoken question answered through a tool call, a story the user talks over),
    then writes into --out: input/output/conversation WAVs, a Parquet dataset, a JSONL
    cassette and a replay-against-playback diff, and prints where everything is. No API
    key, no network. The recording goes to OUT/rtcapture.db (replaced on a re-run) unless
    --db or RTCAPTURE_DB names a database.

    \b
    Example:
      rtcapture demo
      rtcapture demo --out demo-run --client builtin --fast
      rtcapture --db postgresql+psycopg://localhost/rtc demo
    """
    from ..demo.client import FlowError, sdk_available
    from ..demo.run import DemoError, DemoOptions, run_demo
    from ..demo.tour import tour_lines

    if client == "sdk" and not sdk_available():
        raise UsageError("--client sdk: the openai SDK is not installed (pip install openai), "
                         "or use --client builtin")
    options = DemoOptions(out=out, db_url=app.db_url if _db_given(ctx) else None,
                          client=client, flavour=Flavour(dialect), fast=fast)
    recorder_echo = app.info if app.verbose else (lambda line: None)
    if api == "live":
        _live_demo(app, options, recorder_echo)
        return
    try:
        with _quiet_mock_log(app):
            result = run_demo(options, progress=app.info, echo=recorder_echo)
    except (DemoError, FlowError) as exc:
        raise EndpointError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write the demo's files in {out}: {exc.strerror or exc}"
                         ) from None
    if not app.quiet:
        for line in tour_lines(result):
            click.echo(line)
    if not result.diff_equal:  # a playback replay must match: say so with the diff's code
        raise click.exceptions.Exit(EXIT_DIFFERENCES)


def _live_demo(app: AppContext, options: DemoOptions, echo: Callable[[str], None]) -> None:
    """``--api live``: the conversation on GPT-Live (``rtcapture.demo.live``)."""
    from ..demo.live import live_tour_lines, run_live_demo
    from ..demo.run import DemoError

    try:
        with _quiet_mock_log(app):
            result = run_live_demo(options, progress=app.info, echo=echo)
    except DemoError as exc:
        raise EndpointError(str(exc)) from None
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"the Live demo failed: {exc}") from None
    if not app.quiet:
        for line in live_tour_lines(options, result):
            click.echo(line)
    if not result.diff_equal:
        raise click.exceptions.Exit(EXIT_DIFFERENCES)


COMMANDS = [demo_cmd]
