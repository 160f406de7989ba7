"""Opening the database for reading only: no upgrade, no orphan marking, no writes.

SQLite is opened through a ``mode=ro`` URI with ``query_only`` set (so browsing leaves the
file byte for byte as it was); PostgreSQL sessions default to read-only transactions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from ..errors import StoreError, first_line
from ..protocol import redact_url
from .db import SHIPPED_HEAD, SQLITE_BUSY_TIMEOUT_S, make_engine
from .store import Store


def _sqlite_readonly(path: Path) -> Callable[[], sqlite3.Connection]:
    uri = f"file:{quote(str(path))}?mode=ro"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False,
                               timeout=SQLITE_BUSY_TIMEOUT_S)
        conn.execute("PRAGMA query_only=1")
        return conn
    return connect


def open_readonly(url: str) -> Store:
    """A :class:`Store` that can only read ``url``; its schema must be current."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"invalid database URL {redact_url(url)!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if not db or db == ":memory:" or db.startswith("file:"):
            raise StoreError("serve needs a SQLite database file")
        path = Path(db).expanduser().resolve()
        if not path.is_file():
            raise StoreError(f"no database at {path}")
        engine = create_engine(parsed, creator=_sqlite_readonly(path))
    else:
        engine = make_engine(url)
        if engine.dialect.name == "postgresql":
            @event.listens_for(engine, "connect")
            def _read_only(dbapi_conn: Any, _record: object) -> None:
                dbapi_conn.read_only = True
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except (DBAPIError, SQLAlchemyError) as exc:
        engine.dispose()
        raise StoreError(f"cannot read database {redact_url(url)}: {first_line(exc)}") from exc
    if [r[0] for r in rows] != [SHIPPED_HEAD]:
        engine.dispose()
        raise StoreError("the database schema is not this version's; run `rtcapture db "
                         "upgrade` first (serve never writes)")
    return Store(engine)
