"""The README and docs/ document the command line: every command and every option has help
text and appears in README.md or a docs/ page (as sqlite-utils' docs test does). That the
documented command lines run is checked by tests/test_docs_run.py."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from rtcapture.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = "\n".join(path.read_text(encoding="utf-8")
                   for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
"""README.md and every docs/ page: where commands and options are documented."""


def _commands() -> list[tuple[str, click.Command]]:
    """Every command (``db upgrade`` style for group members), loaded as ``--help`` does."""
    ctx = click.Context(cli)
    found: list[tuple[str, click.Command]] = []
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None, name
        found.append((name, command))
        if isinstance(command, click.Group):
            for sub in command.list_commands(ctx):
                found.append((f"{name} {sub}", command.get_command(ctx, sub)))  # type: ignore[arg-type]
    return found


COMMANDS = _commands()
OPTIONS = [(name, param) for name, command in [("", cli), *COMMANDS]
           for param in command.params
           if isinstance(param, click.Option) and not param.hidden and "--help" not in param.opts]


def _flag(option: click.Option) -> str:
    return max(option.opts + option.secondary_opts, key=len)


@pytest.mark.parametrize("name,command", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_has_help(name: str, command: click.Command) -> None:
    """``rtcapture NAME --help`` explains the command."""
    assert (command.help or "").strip(), f"rtcapture {name} has no help text"


@pytest.mark.parametrize("name,option", OPTIONS,
                         ids=[f"{n or 'rtcapture'} {_flag(o)}" for n, o in OPTIONS])
def test_option_has_help(name: str, option: click.Option) -> None:
    """Every option says what it does."""
    assert (option.help or "").strip(), f"rtcapture {name} {_flag(option)} has no help text"


@pytest.mark.parametrize("name", [n for n, _ in COMMANDS])
def test_command_in_readme(name: str) -> None:
    """The docs show each command as typed: ``rtcapture [global options] NAME``."""
    pattern = rf"rtcapture (?:-{{1,2}}[\w-]+(?: [^\s-]\S*)? )*{re.escape(name)}\b"
    assert re.search(pattern, README), f"README and docs/ never show `rtcapture {name}`"


@pytest.mark.parametrize("name,option", OPTIONS,
                         ids=[f"{n or 'rtcapture'} {_flag(o)}" for n, o in OPTIONS])
def test_option_in_readme(name: str, option: click.Option) -> None:
    """Every option is mentioned in the README or a docs/ page."""
    assert re.search(rf"(?<![\w-]){re.escape(_flag(option))}(?![\w-])", README), \
        f"README and docs/ never mention {_flag(option)} (rtcapture {name})"


GLOBAL_NAMES = {opt for param in cli.params for opt in getattr(param, "opts", [])}


@pytest.mark.parametrize("name,command", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_global_options_after_the_command(name: str, command: click.Command) -> None:
    """Every command also takes --db, -v and -q after its name (``rtcapture demo -q``)."""
    taken = {opt for param in command.params for opt in getattr(param, "opts", [])}
    assert {"--db", "-v", "--verbose", "-q", "--quiet"} <= taken, name
    assert {"--db", "-q", "-v"} <= GLOBAL_NAMES


def test_global_options_after_the_command_apply(tmp_path) -> None:
    """``--db`` and ``-q`` after the command act as before it."""
    from click.testing import CliRunner

    db = tmp_path / "after.db"
    result = CliRunner().invoke(cli, ["db", "upgrade", "--db", f"sqlite:///{db}"])
    assert result.exit_code == 0 and db.exists(), result.output
    result = CliRunner().invoke(cli, ["sessions", "-q", "--db", f"sqlite:///{db}"])
    assert (result.exit_code, result.output) == (0, "")
    result = CliRunner().invoke(cli, ["sessions", "--db", f"sqlite:///{db}"])
    assert result.stderr.strip() == "no sessions recorded yet"
