"""The ``rtcapture`` command group: global options and command registration.

Each command lives in ``rtcapture/commands/<name>.py``; this module only wires them up.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import sys
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any, cast

import click
from click.core import ParameterSource

from . import __version__
from .config import DEFAULT_DB_URL as DEFAULT_URL
from .errors import EXIT_INTERRUPTED, RtcaptureError, database_failure

if TYPE_CHECKING:
    from .store import Store


@dataclass
class AppContext:
    """Global options, shared by every command."""

    db_url: str = DEFAULT_URL
    verbose: int = 0
    quiet: bool = False
    _store: Store | None = field(default=None, repr=False)

    def store(self, *, create: bool = True) -> Store:
        """The database, opened (and upgraded) on first use; ``create=False`` for commands
        that only read: a database that does not exist is then an error, not a new file."""
        if self._store is None:
            from .store import open_store

            self._store = open_store(self.db_url, create=create)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def info(self, message: str) -> None:
        """A progress or status line on stderr (silenced by -q)."""
        if not self.quiet:
            click.echo(message, err=True)


pass_app = click.make_pass_decorator(AppContext)


def _late_global(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """A global option given after the command (``rtcapture demo -q``): applied as if it
    had come before it."""
    source = ctx.get_parameter_source(param.name or "")
    if source in (None, ParameterSource.DEFAULT) or not isinstance(ctx.obj, AppContext):
        return
    app, root = ctx.obj, ctx.find_root()
    if param.name == "db_url":
        app.db_url = value
        root.params["db_url"] = value
        root.set_parameter_source("db_url", ParameterSource.COMMANDLINE)
        return
    if param.name == "verbose":
        app.verbose += value
    elif param.name == "quiet":
        app.quiet = app.quiet or value
    from .logs import configure_logging

    configure_logging(verbose=app.verbose, quiet=app.quiet)


GLOBAL_OPTIONS = (
    (("--db", "db_url"), {"metavar": "URL"}),
    (("-v", "--verbose"), {"count": True}),
    (("-q", "--quiet"), {"is_flag": True}),
)
"""The global options (but --version) a command also accepts after its name."""


def accept_global_options(command: click.Command) -> None:
    """Let ``command`` (and a group's subcommands) take the global options after its
    name too, hidden from its --help; an option name the command uses itself wins."""
    taken = {opt for param in command.params for opt in getattr(param, "opts", [])}
    for decls, extra in GLOBAL_OPTIONS:
        if not taken & set(decls):
            command.params.append(click.Option(decls, hidden=True, expose_value=False,
                                               callback=_late_global, **extra))
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            accept_global_options(sub)


COMMAND_MODULES = {
    "db": "db",
    "sessions": "sessions",
    "show": "sessions",
    "record": "record",
    "mock": "mock",
    "export": "export",
    "import": "export",
    "demo": "demo",
    "audio": "audio",
    "replay": "replay",
    "diff": "replay",
    "report": "report",
    "serve": "serve",
    "check": "check",
}
"""Command name -> module under ``rtcapture/commands`` (exporting ``COMMANDS``), imported only
when that command runs (or for --help), so that start-up stays quick."""


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMAND_MODULES) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            module = import_module(f".commands.{COMMAND_MODULES[cmd_name]}", __package__)
            for command in module.COMMANDS:
                accept_global_options(command)
                self.add_command(command)
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command. The one place library errors become the command line's: an
        :class:`~rtcapture.errors.RtcaptureError` (and a database error nobody expected)
        is one line on stderr with its exit code, Ctrl-C is exit 130."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # Ctrl-C (SIGTERM/SIGHUP too: see main): one line, 130
            with contextlib.suppress(OSError):
                click.echo("rtcapture: interrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except RtcaptureError as exc:
            raise cli_error(exc) from exc
        except Exception as exc:
            app = ctx.obj if isinstance(ctx.obj, AppContext) else AppContext()
            failure = database_failure(exc, app.db_url)
            if failure is None:
                raise
            raise cli_error(failure) from exc


def cli_error(exc: RtcaptureError) -> click.ClickException:
    """The click error that shows ``exc`` in one line and exits with its code."""
    return _exiting_with(exc.exit_code)(str(exc))


@functools.cache
def _exiting_with(exit_code: int) -> type[click.ClickException]:
    """A click exception class whose errors exit with ``exit_code``."""
    return cast(type[click.ClickException], type(
        f"Exit{exit_code}Error", (click.ClickException,), {"exit_code": exit_code}))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_url", envvar="RTCAPTURE_DB", default=DEFAULT_URL, show_default=True,
              help="Database URL (SQLite or PostgreSQL); env RTCAPTURE_DB.")
@click.option("-v", "--verbose", count=True, help="More output on stderr (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only data and errors.")
@click.version_option(__version__, prog_name="rtcapture")
@click.pass_context
def cli(ctx: click.Context, db_url: str, verbose: int, quiet: bool) -> None:
    """Record, replay and analyse OpenAI Realtime API sessions.

    \b
    Example:
      rtcapture record --upstream wss://api.openai.com
      rtcapture sessions
      rtcapture audio last --out ./wav
    """
    app = AppContext(db_url=db_url, verbose=verbose, quiet=quiet)
    ctx.obj = app
    ctx.call_on_close(app.close)
    from .logs import configure_logging

    configure_logging(verbose=verbose, quiet=quiet)


def main() -> None:
    """Console entry point."""
    for name in ("SIGTERM", "SIGHUP"):  # stop like Ctrl-C: sessions are ended, not dropped
        with contextlib.suppress(AttributeError, OSError, ValueError):
            signal.signal(getattr(signal, name), signal.default_int_handler)
    try:
        cli.main(prog_name="rtcapture", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - click handles most of it
        sys.exit(130)


logging.getLogger("websockets").addHandler(logging.NullHandler())
