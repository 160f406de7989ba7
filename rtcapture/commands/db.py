"""``rtcapture db upgrade`` / ``db current``: Alembic migrations by hand."""

from __future__ import annotations

import click

from ..cli import AppContext, pass_app


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
    click.echo(f"{store.url}: at revision {store.schema_revision()} (head)")


@db_group.command(name="current")
@pass_app
def current_cmd(app: AppContext) -> None:
    """Print the database's schema revision and the newest one.

    \b
    Example:
      rtcapture db current
    """
    store = app.store(create=False)
    click.echo(f"current: {store.schema_revision()}  head: {store.head_revision()}")


COMMANDS = [db_group]
