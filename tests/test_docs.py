"""The README and docs/ document the command line: every command and every option has help
text and appears in README.md or a docs/ page (as sqlite-utils' docs test does), and every
rtcapture command line they show, run or not, names a real command and only its options.
That the documented command lines run is checked by tests/test_docs_run.py."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from rtcapture.cli import cli
from tests.doc_commands import Block, commands, every_block, is_shell, pages

ROOT = Path(__file__).resolve().parents[1]
README = "\n".join(path.read_text(encoding="utf-8") for path in pages(ROOT))
"""README.md and every docs/ page: where commands and options are documented."""


def _commands(group: click.Group = cli, prefix: str = "") -> list[tuple[str, click.Command]]:
    """Every command, group members as ``db upgrade`` (at any depth), loaded as ``--help``
    does."""
    ctx = click.Context(group)
    found: list[tuple[str, click.Command]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        found.append((prefix + name, command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, f"{prefix}{name} "))
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


_OPERATORS = {"|", "||", "&", "&&", ";", "(", ")", "$(", "`"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _invocations(line: str) -> list[list[str]]:
    """The ``rtcapture ...`` invocations of a shell line, as argument lists (no ``rtcapture``)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    segment: list[str] = []
    found: list[list[str]] = []
    for token in [*lexer, ";"]:
        if token in _OPERATORS or set(token) <= set("|&;()"):
            while segment and _ASSIGNMENT.match(segment[0]):
                segment.pop(0)
            if segment and Path(segment[0]).name == "rtcapture":
                found.append(segment[1:])
            segment = []
        else:
            segment.append(token)
    return found


def _options(command: click.Command) -> dict[str, click.Option]:
    return {name: param for param in command.params if isinstance(param, click.Option)
            for name in param.opts + param.secondary_opts}


def _takes_value(option: click.Option) -> bool:
    return not option.is_flag and not option.count


def _misuse(args: list[str]) -> str | None:
    """What is wrong with one documented invocation (None: a real command, real options)."""
    command: click.Command = cli
    path: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            break
        if arg.startswith("-") and arg != "-":
            name = arg.split("=", 1)[0]
            known = {**_options(cli), **_options(command)}
            flags = [name] if name.startswith("--") or len(name) == 2 else \
                [f"-{c}" for c in name[1:]]
            for flag in flags:
                if flag not in known and flag not in ("-h", "--help"):
                    return f"rtcapture {' '.join(path)} has no option {flag}"
            if len(flags) == 1 and flags[0] in known and "=" not in arg \
                    and _takes_value(known[flags[0]]):
                i += 1
        elif isinstance(command, click.Group):
            sub = command.get_command(click.Context(command), arg)
            if sub is None:
                return f"no command rtcapture {' '.join([*path, arg])}"
            command = sub
            path.append(arg)
    return None


def _invocation_cases() -> list[tuple[str, list[str]]]:
    cases: list[tuple[str, list[str]]] = []
    for block in every_block(ROOT):
        if not is_shell(block):
            continue
        for command in commands(block, ROOT):
            cases.extend((command.where, args) for args in _invocations(command.line))
    return cases


INVOCATIONS = _invocation_cases()


def test_docs_show_many_invocations() -> None:
    """The parser below finds the documented command lines (a sanity check on it)."""
    names = {args[0] for _, args in INVOCATIONS if args and not args[0].startswith("-")}
    assert {"record", "replay", "export", "mock", "serve"} <= names, names
    assert _misuse(["--db", "sqlite:///x.db", "show", "@demo", "--typo"]) is not None
    assert _misuse(["-q", "db", "current"]) is None
    assert _misuse(["nosuchcommand"]) is not None


@pytest.mark.parametrize("where,args", INVOCATIONS, ids=[w for w, _ in INVOCATIONS])
def test_documented_invocation_is_real(where: str, args: list[str]) -> None:
    """A command line in the docs (run or not) names a real command and only its options."""
    problem = _misuse(args)
    assert problem is None, f"{where}: {problem}"


def _command_looking_lines(block: Block) -> list[str]:
    names = {name.split()[0] for name, _ in COMMANDS}
    return [line for line in block.lines
            if line.startswith("rtcapture ") and len(words := line.split()) > 1
            and (words[1] in names or words[1].startswith("-"))]


def test_command_blocks_are_shell_blocks() -> None:
    """A block that shows rtcapture command lines is a shell example (tagged ``bash``, or a
    ``$`` transcript), so the docs test runs it or, marked not run, parses it."""
    untagged = [f"{block.path.relative_to(ROOT)}:{block.start}" for block in every_block(ROOT)
                if not is_shell(block) and block.tag in ("", "text")
                and _command_looking_lines(block)]
    assert not untagged, f"untagged command blocks: {untagged}"
