"""Tests of the mock Realtime server."""
