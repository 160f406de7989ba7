"""One WebRTC recording (the acceptance conversation through record -> mock, made inside a
loopback-only namespace) shared by the recording and the replay tests."""

from __future__ import annotations

from typing import Any

import pytest

from .netns import run_scenario


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``db``, ``folder`` and the scenario's ``result`` of the recorded call."""
    folder = tmp_path_factory.mktemp("webrtc")
    db = f"sqlite:///{folder / 'rec.db'}"
    result = run_scenario("record_call", timeout=180, db=db)
    return {"db": db, "folder": folder, "result": result}
