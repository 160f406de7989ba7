"""WebRTC failures behave like WebSocket ones: refusals passed on with their status and
body and recorded as failed; a vanished peer closes the other side and the session."""

from __future__ import annotations

import json

from rtcapture.store import open_store

from .netns import run_scenario
from .scenarios import REFUSAL


def test_refusals_and_vanishing_peer(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'f.db'}"
    result = run_scenario("failures", timeout=180, db=db)
    status, body, kind = result["refused"]
    assert status == 401 and body == REFUSAL.decode() and kind == "application/json"
    status, body = result["bad_session"]
    assert status == 400 and json.loads(body)["error"]["type"] == "invalid_request_error"

    store = open_store(db)
    refused = store.session(store.resolve("@refused"))
    assert refused.transport == "webrtc"
    assert refused.status == "failed"
    assert refused.status_reason == "upstream refused the offer with HTTP 401"
    assert refused.close_code == 401

    sessions = [s for s in store.sessions() if s.label == "vanish"]
    assert len(sessions) == 2
    bad, vanished = sorted(sessions, key=lambda s: s.started)
    assert bad.status == "failed" and bad.close_code == 400
    assert vanished.status == "closed", vanished.status_reason
    assert vanished.closed_by == "client"
    events = list(store.events(vanished.id))
    frames = [e for e in events if e.opcode != "media"]
    assert sum(e.direction == "server" for e in frames) >= result["received"]
    delivered = [e.delivered for e in events]
    # once the client was gone, nothing more was delivered
    assert delivered == sorted(delivered, reverse=True)


def test_ice_failure_fails_the_session(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'ice.db'}"
    result = run_scenario("ice_failure", timeout=180, db=db)
    assert result["status"] == 201  # the call was created; the page never connected
    store = open_store(db)
    rec = store.session(store.resolve("@ice"))
    assert rec.status == "failed"
    assert rec.status_reason is not None and "ICE/DTLS" in rec.status_reason


def test_cors_preflight_for_allowed_origins_only(tmp_path) -> None:
    result = run_scenario("preflight", db=f"sqlite:///{tmp_path / 'p.db'}")
    allowed = result["allowed"]
    assert allowed.startswith("HTTP/1.1 204")
    assert "Access-Control-Allow-Origin: https://app.example" in allowed
    assert "Access-Control-Allow-Headers: Authorization" in allowed
    assert result["other"].startswith("HTTP/1.1 403")
    assert "Access-Control-Allow-Origin" not in result["other"]
