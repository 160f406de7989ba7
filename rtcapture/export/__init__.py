"""Exports of recorded sessions: Parquet datasets and JSONL cassettes (and their import).

Modules, one job each:

- ``source``: reading a session's events in columnar chunks (a fast SQLite path, a
  generic SQLAlchemy path), on worker threads;
- ``payload``: the ``payload`` column (audio base64 replaced by a marker, keys masked);
- ``responses``: per-response latency analysis, pure logic over a session's events;
- ``tables``: Arrow schemas of the ``events``, ``sessions`` and ``responses`` tables;
- ``parquet``: the dataset writer (row groups, Hive partitions, staging);
- ``cassette``: JSONL cassette writer, validator and import.
"""
