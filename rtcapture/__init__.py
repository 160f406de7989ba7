"""rtcapture: record, replay and analyse OpenAI Realtime API sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .analysis import Recordings


def open(db_url: str | None = None, **options: Any) -> Recordings:  # noqa: A001
    """Open a recordings database for analysis (pandas DataFrames); see ``rtcapture.analysis``.

    Imported lazily so that ``import rtcapture`` stays light.
    """
    from .analysis import open as open_recordings

    return open_recordings(db_url, **options)
