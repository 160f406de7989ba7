"""``rtcapture serve``: a read-only local web app over the database."""

from ..store import open_readonly
from .app import ServeConfig, make_server

__all__ = ["ServeConfig", "make_server", "open_readonly"]
