"""Storage: sessions and frames in SQLite or PostgreSQL, schema by Alembic."""

from .records import EventRecord, SessionRecord, Status, utcnow
from .store import Store, open_store

__all__ = ["EventRecord", "SessionRecord", "Status", "Store", "open_store", "utcnow"]
