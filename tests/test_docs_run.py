"""A new user's first hour, run for real: in a clean copy of the project, the README's
first command (a fresh virtualenv, ``pip install .``, ``rtcapture demo``), then every
command the demo's "Try next" prints, then every offline shell example of README.md and
docs/*.md in the order written, in the folder the demo says to ``cd`` into; each must exit
0 (or the code the docs give)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.conftest import deadline
from tests.doc_commands import Command, documented, try_next
from tests.first_hour import ROOT, clean_copy, run_shell

pytestmark = pytest.mark.slow

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
