"""The README documents the command line: every command and every option has help text
and appears in the README (as sqlite-utils' docs test does)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from rtcapture.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


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
    """The README shows each command as typed: ``rtcapture [global options] NAME``."""
    pattern = rf"rtcapture (?:-{{1,2}}[\w-]+(?: [^\s-]\S*)? )*{re.escape(name)}\b"
    assert re.search(pattern, README), f"README never shows `rtcapture {name}`"


@pytest.mark.parametrize("name,option", OPTIONS,
                         ids=[f"{n or 'rtcapture'} {_flag(o)}" for n, o in OPTIONS])
def test_option_in_readme(name: str, option: click.Option) -> None:
    """Every option is mentioned in the README."""
    assert re.search(rf"(?<![\w-]){re.escape(_flag(option))}(?![\w-])", README), \
        f"README never mentions {_flag(option)} (rtcapture {name})"
