"""File names built from data (session ids, partition values) stay in the folder given.

A session id comes from the database, and through ``import`` from any cassette; it must
never turn ``--out DIR`` into ``DIR/../../x`` or an absolute path.
"""

from __future__ import annotations

from pathlib import Path

from .errors import UsageError


class UnsafeNameError(UsageError):
    """A name taken from data would leave the folder it belongs in (exit 2)."""


def child(folder: Path, name: str) -> Path:
    """``folder / name``, where ``name`` must be one plain path component."""
    if (not name or name in (".", "..") or any(c in name for c in "/\\\x00")
            or Path(name).is_absolute() or Path(name).name != name):
        where = "the current folder" if str(folder) == "." else str(folder)
        raise UnsafeNameError(f"refusing to write {name!r}: a name taken from the data "
                              f"must stay inside {where}")
    return folder / name
