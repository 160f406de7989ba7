"""Shared fixtures: database URLs (SQLite file and real PostgreSQL), timeouts."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

pytest_plugins = ["pytester"]
"""The plugin tests (tests/plugin) run sample projects through pytester."""

TIMEOUT_UNIT = float(os.environ.get("RTCAPTURE_TEST_TIMEOUT_UNIT", "1.0"))
"""Scale every test deadline by this (slow machines: set it above 1)."""

PG_ADMIN_URL = os.environ.get(
    "RTCAPTURE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


REQUIRE_EXTERNAL = os.environ.get("RTCAPTURE_REQUIRE_EXTERNAL") == "1"
"""Set by .ci/run: a test whose external part (PostgreSQL, the Node SDK from npm) is
missing fails instead of being skipped."""


def external_missing(reason: str) -> None:
    """Skip the test with ``reason`` (an external part it needs is not available here), or
    fail it when RTCAPTURE_REQUIRE_EXTERNAL=1 (or CI) makes external parts mandatory."""
    if REQUIRE_EXTERNAL or os.environ.get("CI"):
        pytest.fail(f"{reason} (external parts are required: RTCAPTURE_REQUIRE_EXTERNAL=1)")
    pytest.skip(f"{reason}; RTCAPTURE_REQUIRE_EXTERNAL=1 makes this a failure")


def deadline(seconds: float) -> float:
    """A test timeout in seconds, scaled by RTCAPTURE_TEST_TIMEOUT_UNIT."""
    return seconds * TIMEOUT_UNIT


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A fresh SQLite database file."""
    return f"sqlite:///{tmp_path / 'rtcapture.db'}"


def _pg_available() -> bool:
    try:
        import psycopg  # noqa: F401
        from sqlalchemy import create_engine, text

        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database on the local server, dropped afterwards."""
    if not _pg_available():
        external_missing(f"PostgreSQL is not reachable at {PG_ADMIN_URL.split('@')[-1]} "
                         "(set RTCAPTURE_TEST_PG)")
    from sqlalchemy import create_engine, text

    name = f"rtc_test_{uuid.uuid4().hex[:12]}"
    # pre-ping: a test may restart the server, leaving the pooled connection dead
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str:
    """Each store test runs on both backends."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")
