"""Defaults shared by the command line and the library (kept import-light)."""

from __future__ import annotations

DEFAULT_DB_URL = "sqlite:///rtcapture.db"
"""The database used when neither --db nor RTCAPTURE_DB is given."""
