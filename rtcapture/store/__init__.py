"""Storage: sessions and frames in SQLite or PostgreSQL, schema by Alembic.

The only way in from the rest of rtcapture: this package's names and, for code that must
not load SQLAlchemy, :mod:`.records` (and :mod:`.chunks`, the columnar record, which needs
numpy and pyarrow but no database). The plain records import nothing heavy; the names in
``_LAZY`` (SQLAlchemy) load on first use, so that the relay process, which only needs a
record's values, never loads SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .records import (
    HEARTBEAT_S,
    SORT_COLUMNS,
    EventRecord,
    SessionQuery,
    SessionRecord,
    Status,
    utcnow,
)

if TYPE_CHECKING:
    from .chunks import AudioCut, RawChunk
    from .readonly import open_readonly
    from .store import (
        DatabaseError,
        DriverError,
        FieldRule,
        Store,
        StoreUnavailable,
        open_store,
        session_field_rules,
    )

__all__ = ["HEARTBEAT_S", "SORT_COLUMNS", "AudioCut", "DatabaseError", "DriverError",
           "EventRecord", "FieldRule", "RawChunk", "SessionQuery", "SessionRecord", "Status",
           "Store", "StoreUnavailable", "open_readonly", "open_store", "session_field_rules",
           "utcnow"]

_LAZY = {
    "DatabaseError": "store", "DriverError": "store", "FieldRule": "store", "Store": "store",
    "StoreUnavailable": "store", "open_store": "store", "session_field_rules": "store",
    "open_readonly": "readonly", "AudioCut": "chunks", "RawChunk": "chunks",
}


def __getattr__(name: str) -> Any:
    """The SQLAlchemy (and numpy) backed names, imported when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
