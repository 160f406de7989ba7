"""The shell examples of README.md and docs/*.md, as commands to run, and the demo's
"Try next" lines: what a new user types, for tests/test_docs_run.py.

A fenced block is read as shell when its lines start with ``$ `` (a transcript: those
lines are the commands; ``$ echo $?`` and the number after it give the previous command's
exit code) or when it is tagged bash/sh/shell/console (every line but comments; ``# exit N``
at the end of a line gives its exit code). A block right after ``<!-- docs-test: ... -->``
is not run; the text says why (``first command`` marks the README's first command).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SHELL_TAGS = {"bash", "sh", "shell", "console"}
_MARKER = re.compile(r"<!--\s*docs-test:\s*(.*?)\s*-->")
_EXIT = re.compile(r"\s+#\s*exit\s+(\d+)\s*$")


@dataclass(frozen=True)
class Command:
    """One documented command line."""

    where: str
    """``file:line`` it comes from."""
    line: str
    exit_code: int = 0


@dataclass(frozen=True)
class Block:
    """A fenced block, its tag and the docs-test marker before it (if any)."""

    path: Path
    start: int
    tag: str
    marker: str | None
    lines: list[str]


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file."""
    found: list[Block] = []
    text = path.read_text(encoding="utf-8").splitlines()
    marker: str | None = None
    i = 0
    while i < len(text):
        line = text[i]
        if line.startswith("```"):
            tag, body, start = line[3:].strip(), [], i + 1
            i += 1
            while i < len(text) and not text[i].startswith("```"):
                body.append(text[i])
                i += 1
            found.append(Block(path, start, tag, marker, body))
            marker = None
        elif line.strip():
            hit = _MARKER.search(line)
            marker = hit.group(1) if hit else None
        i += 1
    return found


def _joined(lines: list[str], start: int) -> list[tuple[int, str]]:
    """Lines with ``\\`` continuations joined, each with its 1-based line number."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for n, line in enumerate(lines, start=start + 1):
        if pending is not None:
            pending = (pending[0], pending[1] + " " + line.strip())
        else:
            pending = (n, line)
        if not pending[1].endswith("\\"):
            out.append(pending)
            pending = None
        else:
            pending = (pending[0], pending[1][:-1].rstrip())
    if pending is not None:
        out.append(pending)
    return out


def commands(block: Block, root: Path) -> list[Command]:
    """The commands of one block, in order (none for an output-only block)."""
    where = block.path.relative_to(root)
    lines = _joined(block.lines, block.start)
    found: list[Command] = []
    if _transcript(block):
        for k, (n, line) in enumerate(lines):
            if not line.startswith("$ "):
                continue
            cmd = line[2:].strip()
            if cmd == "echo $?" and found:
                code = int(lines[k + 1][1].strip())
                found[-1] = Command(found[-1].where, found[-1].line, code)
                continue
            found.append(_command(f"{where}:{n}", cmd))
    elif _plain_commands(block):
        for n, line in lines:
            if line.strip() and not line.lstrip().startswith("#"):
                found.append(_command(f"{where}:{n}", line.strip()))
    return found


def _command(where: str, line: str) -> Command:
    hit = _EXIT.search(line)
    if hit:
        return Command(where, line[:hit.start()], int(hit.group(1)))
    return Command(where, line)


def pages(root: Path) -> list[Path]:
    """README.md, then the docs/ pages by name: the order a reader (and the docs test) takes."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def _transcript(block: Block) -> bool:
    return any(line.startswith("$ ") for line in block.lines)


def _plain_commands(block: Block) -> bool:
    """Lines read as commands: a tagged block, or an untagged one right after a docs-test
    marker (the marker says it is an example)."""
    return block.tag in SHELL_TAGS or (block.tag == "" and block.marker is not None)


def is_shell(block: Block) -> bool:
    """A shell example: tagged bash/sh/shell/console, a transcript (``$ `` lines), or an
    untagged block marked ``<!-- docs-test: ... -->``."""
    return _transcript(block) or _plain_commands(block)


def shell_script(block: Block) -> str:
    """What a shell block gives bash: a transcript's commands, or the block whole."""
    if _transcript(block):
        return "".join(line[2:] + "\n" for line in block.lines if line.startswith("$ "))
    return "\n".join(block.lines) + "\n"


def every_block(root: Path) -> list[Block]:
    """Every fenced block of README.md and docs/*.md, run or not, in reading order."""
    return [block for path in pages(root) for block in blocks(path)]


def documented(root: Path) -> tuple[str, list[Command]]:
    """The README's first command, then every runnable command of README.md and
    docs/*.md (README first, then the pages by name), in order."""
    first: str | None = None
    found: list[Command] = []
    for path in pages(root):
        for block in blocks(path):
            if block.marker == "first command" and first is None:
                first = commands(block, root)[0].line
            if block.marker is None:
                found.extend(commands(block, root))
    assert first is not None, "README.md marks no first command"
    return first, found


def try_next(demo_output: str) -> list[Command]:
    """The commands under the demo's "Try next" heading (up to the first blank line)."""
    lines = demo_output.splitlines()
    start = lines.index("Try next") + 1
    found = []
    for n, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            break
        found.append(Command(f"demo output:{n}", line.strip()))
    return found
