"""``rtcapture serve``: a read-only local web app over the database."""

from .app import ServeConfig, make_server
from .readonly import open_readonly

__all__ = ["ServeConfig", "make_server", "open_readonly"]
