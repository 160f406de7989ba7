"""Exceptions that map to the command-line exit codes of the SPEC."""

from __future__ import annotations

import click

EXIT_OK = 0
EXIT_DIFFERENCES = 1
EXIT_USAGE = 2
EXIT_ENDPOINT = 3


class UsageError(click.ClickException):
    """A user or input mistake: one line on stderr, exit 2."""

    exit_code = EXIT_USAGE


class EndpointError(click.ClickException):
    """The endpoint failed (unreachable, refused, timed out): exit 3."""

    exit_code = EXIT_ENDPOINT


class StoreError(UsageError):
    """The database cannot be opened or read."""
