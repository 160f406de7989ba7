"""``rtcapture db upgrade`` / ``db current``: Alembic migrations by hand."""

from __future__ import annotations

import click

from ..cli import AppContext, pass_app
from ..store.db import current_revision, head_revision


@click.group(name="db")
def db_group() -> None:
    """Database schema migrations (also applied automatically on open)."""


@db_group.command(name="upgrade")
@pass_app
def upgrade_cmd(app: AppContext) -> None:
    """Upgrade the database schema to the newest revision.

    \b
    Example:
      rtcapture --db postgresql+psycopg://postgres@127.0.0.1/rtc db upgrade
    """
    store = app.store()
    with store.engine.connect() as conn:
        click.echo(f"{store.url}: at revision {current_revision(conn)} (head)")


@db_group.command(name="current")
@pass_app
def current_cmd(app: AppContext) -> None:
    """Print the database's schema revision and the newest one.

    \b
    Example:
      rtcapture db current
    """
    store = app.store(create=False)
    with store.engine.connect() as conn:
        rev = current_revision(conn)
    click.echo(f"current: {rev}  head: {head_revision()}")


COMMANDS = [db_group]
