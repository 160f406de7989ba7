"""The GPT-Live side of the mock: strict ``session.start`` checks, one real-time output
track driven by the input audio clock, timed transcripts, delegation, ``session.close``,
and the sideband (``attach``) of a session it serves."""

from .connection import LiveMockConnection
from .sideband import LiveSessions, serve_attach

__all__ = ["LiveMockConnection", "LiveSessions", "serve_attach"]
