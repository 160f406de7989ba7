"""Engine creation, SQLite pragmas and Alembic upgrades on open."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from ..errors import StoreError
from ..protocol import redact_url

if TYPE_CHECKING:
    from alembic.config import Config

SHIPPED_HEAD = "0002_webrtc"
"""The newest revision in ``migrations/versions`` (a test keeps the two equal). A database
already stamped with it opens without importing Alembic, which costs every command ~0.2 s."""


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
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


WAL_BOUND = 256 << 20
"""With checkpoints deferred, the WAL is checkpointed once it passes this size at the latest
(under sustained load: at 50 sessions of real-time audio, every ~35 s), and truncated back
to it afterwards. The checkpoint's fsync is what makes the disk work, so it waits."""


def _deferred_checkpoints(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.execute(f"PRAGMA journal_size_limit={WAL_BOUND}")
    cur.close()


SQLITE_BUSY_TIMEOUT_S = 10.0
"""How long a SQLite write waits for another writer's lock before it fails (the store has
failed); the URL's ``?timeout=SECONDS`` (the sqlite3 driver's own parameter) overrides it."""


def make_engine(url: str, defer_checkpoints: bool = False) -> Engine:
    """An engine for a SQLAlchemy URL, with WAL and busy timeout on SQLite (and no
    checkpoint on commit with ``defer_checkpoints``: the caller checkpoints when idle)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"invalid database URL {redact_url(url)!r}") from exc
    kwargs: dict[str, object] = {}
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and "timeout" not in parsed.query:
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    try:
        engine = create_engine(parsed, **kwargs)
    except NoSuchModuleError as exc:
        raise StoreError(f"unsupported database URL scheme {parsed.drivername!r}") from exc
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"database driver missing ({exc.name}); for PostgreSQL: pip install 'rtcapture[postgres]'"
        ) from exc
    except (ValueError, TypeError) as exc:  # a query parameter the driver cannot take
        raise StoreError(f"invalid database URL {redact_url(url)!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        if defer_checkpoints:
            event.listen(engine, "connect", _deferred_checkpoints)
        parent = sqlite_dir(engine)
        if parent is not None and not parent.is_dir():
            raise StoreError(f"database directory does not exist: {parent}")
    return engine


def sqlite_dir(engine: Engine) -> Path | None:
    """The directory of a SQLite database file (None for other databases, ``:memory:`` and
    ``file:`` URIs)."""
    db = engine.url.database
    if engine.dialect.name != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db).expanduser().resolve().parent


def require_existing(engine: Engine, url: str) -> None:
    """Raise :class:`StoreError` when ``url`` names a SQLite file that does not exist
    (read-only commands must not create one: a typo in ``--db`` would leave a stray file).
    An existing file, even empty, and server databases are opened as usual."""
    hint = "nothing recorded there yet: record first, or point --db / RTCAPTURE_DB at a " \
        "recording"
    db = engine.url.database
    if sqlite_dir(engine) is not None and db and not Path(db).expanduser().is_file():
        raise StoreError(f"no database at {redact_url(url)} ({hint})")


def unwritable_dir_hint(engine: Engine) -> str:
    """For a SQLite file whose directory cannot be written, a note saying so (SQLite creates
    the database and, in WAL mode, its -wal and -shm files there, readers included)."""
    parent = sqlite_dir(engine)
    if parent is None or os.access(parent, os.W_OK):
        return ""
    return f" (directory {parent} is not writable: SQLite creates the database and its " \
        "-wal and -shm files there)"


def alembic_config(connection: Connection) -> Config:
    """An Alembic config built in code, sharing ``connection``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", connection.engine.url.render_as_string(
        hide_password=False).replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


def _stamp(conn: Connection) -> str | None:
    """The revision in ``alembic_version`` read with plain SQL, or None (no table, or not
    exactly one row: Alembic sorts such cases out)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    return str(rows[0][0]) if len(rows) == 1 else None


def upgrade(engine: Engine) -> None:
    """Upgrade the schema to the newest revision (no-op when current)."""
    with engine.begin() as conn:
        if _stamp(conn) == SHIPPED_HEAD:
            return
        from alembic import command
        from alembic.util import CommandError

        logging.getLogger("alembic").setLevel(logging.WARNING)
        current = current_revision(conn)
        if current == head_revision():
            return
        try:
            command.upgrade(alembic_config(conn), "head")
        except CommandError as exc:  # e.g. a revision from a newer rtcapture
            raise StoreError(f"cannot upgrade the database schema from revision {current}: "
                             f"{exc} (was it written by a newer rtcapture?)") from exc


def current_revision(conn: Connection) -> str | None:
    """The database's Alembic revision, or None when empty."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this version."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(_migrations_dir()))
    return ScriptDirectory.from_config(cfg).get_current_head()
