"""Storage: sessions and frames in SQLite or PostgreSQL, schema by Alembic."""

from .records import SORT_COLUMNS, EventRecord, SessionQuery, SessionRecord, Status, utcnow
from .store import Store, open_store

__all__ = ["SORT_COLUMNS", "EventRecord", "SessionQuery", "SessionRecord", "Status", "Store", "open_store", "utcnow"]
