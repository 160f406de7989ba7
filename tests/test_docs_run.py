"""A new user's first hour, run for real: in a clean copy of the project, the README's
first command (a fresh virtualenv, ``pip install .``, ``rtcapture demo``), then every
command the demo's "Try next" prints, then every offline shell example of README.md and
docs/*.md in the order written, in the folder the demo says to ``cd`` into; each must exit
0 (or the code the docs give). Shell examples that are not run (marked
``<!-- docs-test: not run (...) -->``) must still parse (``bash -n``), and every Python
example must compile."""

from __future__ import annotations

import ast
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import deadline
from tests.doc_commands import (
    Block,
    Command,
    documented,
    every_block,
    is_shell,
    shell_script,
    try_next,
)
from tests.first_hour import ROOT, clean_copy, run_shell

BLOCKS = every_block(ROOT)
SHELL_BLOCKS = [block for block in BLOCKS if is_shell(block)]
PYTHON_BLOCKS = [block for block in BLOCKS if block.tag in ("python", "py")]


def _where(block: Block) -> str:
    return f"{block.path.relative_to(ROOT)}:{block.start}"


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=[_where(b) for b in SHELL_BLOCKS])
def test_shell_example_parses(block: Block) -> None:
    """Every shell example, run or not, is valid bash (``bash -n``)."""
    done = subprocess.run(["bash", "-n"], input=shell_script(block), text=True,
                          capture_output=True, timeout=30)
    assert done.returncode == 0, f"{_where(block)}: {done.stderr.strip()}"


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[_where(b) for b in PYTHON_BLOCKS])
def test_python_example_compiles(block: Block) -> None:
    """Every Python example compiles (top-level ``await`` / ``async with`` allowed, as in a
    notebook or an async test body)."""
    compile("\n".join(block.lines) + "\n", _where(block), "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)


def test_examples_found() -> None:
    """The docs hold shell and Python examples, not-run ones among them (a check on the
    block reader)."""
    assert len(SHELL_BLOCKS) > 20 and len(PYTHON_BLOCKS) > 5
    assert any(block.marker and block.marker.startswith("not run") for block in SHELL_BLOCKS)

_CHECK = '__check() { [ "$1" = "$2" ] || { echo "docs-test: $3 exited $1, expected $2: $4"; ' \
    'exit 97; }; }'


def _script(commands: list[Command], demo_dir: Path, cd_back: set[int]) -> str:
    """One bash script running ``commands`` in order (the shell state carries over, as in
    a terminal); before each index in ``cd_back`` it returns to the demo's folder."""
    lines = [_CHECK]
    for i, command in enumerate(commands):
        if i in cd_back:
            lines.append(f"cd {shlex.quote(str(demo_dir))}")
        lines.append(f"echo {shlex.quote('$ ' + command.line)}")
        lines.append(command.line)
        lines.append(f"__check $? {command.exit_code} {shlex.quote(command.where)} "
                     f"{shlex.quote(command.line)}")
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@pytest.mark.timeout(deadline(1500))
def test_first_hour_as_documented(tmp_path: Path) -> None:
    """The README's first command, the demo's Try next, then every documented example."""
    clone = clean_copy(tmp_path / "rtcapture")
    first, examples = documented(ROOT)
    done = run_shell(first, clone, timeout=deadline(900))
    assert done.returncode == 0, done.stdout[-3000:]
    tour = try_next(done.stdout)
    assert any(c.line.startswith(". ") and c.line.endswith("# puts this rtcapture and its "
                                                          "python on PATH") for c in tour)
    runnable = tour
    assert [c.line.split()[0] for c in runnable][:2] == [".", "cd"], tour
    demo_dir = clone / "rtcapture-demo"
    pages = {c.where.split(":")[0] for c in examples}
    starts = {len(runnable) + next(i for i, c in enumerate(examples)
                                   if c.where.split(":")[0] == page) for page in pages}
    result = run_shell(_script(runnable + examples, demo_dir, starts), clone,
                       timeout=deadline(600))
    assert result.returncode == 0, result.stdout[-4000:]
    ran = [line for line in result.stdout.splitlines() if line.startswith("$ ")]
    assert len(ran) == len(runnable) + len(examples)
    assert "no differences" in result.stdout  # the playback replays matched
