"""Keys written the way URLs and JSON encode them are redacted like plain ones."""

from __future__ import annotations

import json

import pytest

from rtcapture import protocol as p

KEY = "sk-proj-canary0abcdef1234"
MARKER = p.secret_marker(KEY)


@pytest.mark.parametrize("written", [
    "sk%2Dproj%2Dcanary0abcdef1234",
    "sk%2dproj-canary0abcdef1234",
    "sk\\u002dproj\\u002Dcanary0abcdef1234",
    "sk-proj\\u002dcanary0abcdef1234",
    "sk-proj%2Dcanary0abcdef1234",
])
def test_encoded_dash_is_still_a_key(written: str) -> None:
    """URL-encoded or JSON-escaped dashes: the same marker as the plain key, in text,
    bytes and URL paths."""
    assert p.redact_text(f"before {written} after") == f"before {MARKER} after"
    assert p.redact_bytes(f"<{written}>".encode()) == f"<{MARKER}>".encode()
    assert p.redact_url(f"/v1/realtime/{written}/x?model=m") == f"/v1/realtime/{MARKER}/x?model=m"


def test_encoded_underscore_of_ephemeral_key() -> None:
    """``ek_`` keys with their underscore encoded either way are replaced."""
    plain = "ek_canary0abcdef5678"
    marker = p.secret_marker(plain)
    for written in ("ek%5Fcanary0abcdef5678", "ek%5fcanary0abcdef5678",
                    "ek\\u005fcanary0abcdef5678", "ek\\u005Fcanary0abcdef5678"):
        assert p.redact_text(written) == marker
        assert p.redact_bytes(written.encode()) == marker.encode()


def test_json_escaped_key_in_a_payload_is_gone_after_decoding() -> None:
    """A payload whose string holds ``sk\\u002d…``: once redacted, decoding it shows no key."""
    raw = b'{"type": "session.update", "session": {"instructions": "use sk\\u002dproj\\u002d' \
          b'canary0abcdef1234 now"}}'
    assert KEY in json.loads(raw)["session"]["instructions"]  # what a reader would see
    out = p.redact_bytes(raw)
    assert "canary0abcdef" not in json.dumps(json.loads(out))
    assert json.loads(out)["session"]["instructions"] == f"use {MARKER} now"


def test_fast_path_returns_the_input_unchanged() -> None:
    """Text without any key prefix (plain or encoded) is returned as is, not copied."""
    data = b'{"type": "x", "text": "50%2D off \\u00e9 desk ek-no"}' + b"A" * 4096
    assert p.redact_bytes(data) is data
    text = data.decode()
    assert p.redact_text(text) is text
    assert p.redact_text("sk%2Dshort") == "sk%2Dshort"  # too short to be a key, as before
