"""Terminal styles for text the library builds, without click.

The sequences are the ones ``click.style`` writes, so the CLI's ``click.echo`` drops them
the same way when the output is not a terminal.
"""

from __future__ import annotations

import re

_COLOURS = {"black": 30, "red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35,
            "cyan": 36, "white": 37}
_RESET = "\x1b[0m"
_ANSI = re.compile(r"\x1b\[[;?0-9]*[a-zA-Z]")


def style(text: str, fg: str | None = None, bold: bool | None = None) -> str:
    """``text`` in colour ``fg`` (a basic ANSI colour name); bold on (True) or off (False)."""
    codes = [f"\x1b[{_COLOURS[fg]}m"] if fg is not None else []
    if bold is not None:
        codes.append("\x1b[1m" if bold else "\x1b[22m")
    return "".join(codes) + text + _RESET


def unstyle(text: str) -> str:
    """``text`` without its ANSI styles."""
    return _ANSI.sub("", text)
