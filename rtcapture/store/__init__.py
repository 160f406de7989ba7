"""Storage: sessions and frames in SQLite or PostgreSQL, schema by Alembic.

The plain records (:mod:`.records`) import nothing heavy; :class:`Store` and
:func:`open_store` (SQLAlchemy) load on first use, so that the relay process, which only
needs a record's values, never loads SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .records import SORT_COLUMNS, EventRecord, SessionQuery, SessionRecord, Status, utcnow

if TYPE_CHECKING:
    from .store import Store, open_store

__all__ = ["SORT_COLUMNS", "EventRecord", "SessionQuery", "SessionRecord", "Status", "Store", "open_store", "utcnow"]

_LAZY = frozenset({"Store", "open_store"})


def __getattr__(name: str) -> Any:
    """``Store`` and ``open_store``, imported when first asked for."""
    if name in _LAZY:
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
