"""Engine creation, SQLite pragmas and Alembic upgrades on open."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from ..errors import StoreError
from ..protocol import redact_url


def _migrations_dir() -> Path:
    """Where the Alembic scripts live: installed with the package, or the source checkout."""
    try:
        import rtcapture.migrations as pkg
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "migrations"
    return Path(pkg.__file__).resolve().parent


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for a SQLAlchemy URL, with WAL and busy timeout on SQLite."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"invalid database URL {redact_url(url)!r}") from exc
    kwargs: dict[str, object] = {}
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(parsed, **kwargs)
    except NoSuchModuleError as exc:
        raise StoreError(f"unsupported database URL scheme {parsed.drivername!r}") from exc
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"database driver missing ({exc.name}); for PostgreSQL: pip install 'rtcapture[postgres]'"
        ) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            parent = Path(db).expanduser().resolve().parent
            if not parent.is_dir():
                raise StoreError(f"database directory does not exist: {parent}")
    return engine


def alembic_config(connection: Connection) -> Config:
    """An Alembic config built in code, sharing ``connection``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", connection.engine.url.render_as_string(
        hide_password=False).replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine) -> None:
    """Upgrade the schema to the newest revision (no-op when current)."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with engine.begin() as conn:
        if current_revision(conn) == head_revision():
            return
        command.upgrade(alembic_config(conn), "head")


def current_revision(conn: Connection) -> str | None:
    """The database's Alembic revision, or None when empty."""
    return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this version."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_migrations_dir()))
    return ScriptDirectory.from_config(cfg).get_current_head()
