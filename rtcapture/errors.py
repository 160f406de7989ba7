"""The library's errors, each carrying the command-line exit code of the SPEC it means.

Library code raises these (never a click exception); the command line turns them into
click's one-line errors in one place (:meth:`rtcapture.cli.LazyGroup.invoke`).
"""

from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_DIFFERENCES = 1
EXIT_USAGE = 2
EXIT_ENDPOINT = 3
EXIT_INTERRUPTED = 130
"""Stopped by Ctrl-C (128 + SIGINT, as shells report it)."""


class RtcaptureError(Exception):
    """A failure the user can act on, said in one line (``str(exc)``)."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(RtcaptureError):
    """A user or input mistake: one line on stderr, exit 2."""

    exit_code = EXIT_USAGE


class EndpointError(RtcaptureError):
    """The endpoint failed (unreachable, refused, timed out): exit 3."""

    exit_code = EXIT_ENDPOINT


class StoreError(UsageError):
    """The database cannot be opened or read."""


def first_line(exc: BaseException) -> str:
    """The first line of what the database driver said (``exc.orig`` for SQLAlchemy's
    wrappers), or the error's type name when it said nothing."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def database_failure(exc: BaseException, db_url: str) -> StoreError | None:
    """The one-line error for a failure the database driver reported while a command ran
    (a damaged SQLite file, a lost server), or None when ``exc`` is anything else.

    Opening the database already turns its errors into :class:`StoreError`; this catches
    the ones that only show later, on the pages a query happens to read.
    """
    from .protocol import redact_url

    if isinstance(exc, RtcaptureError):  # already a one-line message
        return None
    seen: BaseException | None = exc
    while seen is not None:
        if _is_driver_error(seen):
            return StoreError(f"cannot use database {redact_url(db_url)}: {first_line(seen)}")
        seen = seen.__cause__
    return None


def _is_driver_error(exc: BaseException) -> bool:
    """A DB-API error, raw or wrapped by SQLAlchemy (only modules already loaded are asked)."""
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(exc, sa_exc.DBAPIError):
        return True
    for module, name in (("sqlite3", "Error"), ("psycopg", "Error")):
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(exc, getattr(loaded, name)):
            return True
    return False
