"""Running the CLI in-process and reading the demo's tour back."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from rtcapture.cli import cli

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"


def run_cli(*args: str, env: dict[str, str | None] | None = None) -> Result:
    """``rtcapture ARGS`` in-process; RTCAPTURE_DB unset unless ``env`` sets it."""
    result = CliRunner().invoke(cli, list(args), env={"RTCAPTURE_DB": None, **(env or {})})
    assert "Traceback" not in result.output, result.output
    return result


def tour_section(stdout: str, heading: str) -> list[str]:
    """The indented lines under the tour heading that starts with ``heading``."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    out = []
    for line in lines[start + 1:]:
        if line and not line.startswith("  "):
            break
        if line:
            out.append(line.strip())
    return out


def named_files(stdout: str) -> list[str]:
    """The file and folder names the tour's "Files in ..." section lists."""
    return [line.split()[0] for line in tour_section(stdout, "Files in")
            if not line.startswith("(")]
