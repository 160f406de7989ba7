"""ICE on the right addresses: a peer facing loopback gathers on loopback (aioice alone
skips 127.0.0.1), one facing anything else keeps aioice's choice, ``--ice-address``
overrides; gathering runs inside a loopback-only namespace."""

from __future__ import annotations

from rtcapture.webrtc.addresses import addresses_facing, is_loopback_host

from .netns import run_scenario


def test_addresses_facing() -> None:
    assert is_loopback_host("127.0.0.1") and is_loopback_host("[::1]")
    assert is_loopback_host("localhost") and not is_loopback_host("192.0.2.1")
    assert addresses_facing("127.0.0.2") == ["127.0.0.1"]
    assert addresses_facing("192.0.2.1") is None  # the host's interfaces
    assert addresses_facing("127.0.0.1", ["10.1.2.3"]) == ["10.1.2.3"]


def test_candidates_gathered() -> None:
    result = run_scenario("gather")
    assert result["loopback"] and set(result["loopback"]) == {"127.0.0.1"}
    assert result["override"] and set(result["override"]) == {"127.0.0.1"}
    # the namespace has only loopback, which aioice leaves out on its own
    assert "127.0.0.1" not in result["elsewhere"]
