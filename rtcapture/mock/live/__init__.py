"""The GPT-Live side of the mock: strict ``session.start`` checks, one real-time output
track driven by the input audio clock, timed transcripts, delegation, ``session.close``."""

from .connection import LiveMockConnection

__all__ = ["LiveMockConnection"]
