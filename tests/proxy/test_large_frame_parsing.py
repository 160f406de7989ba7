"""The writer parses a large audio frame without decoding its base64: the stored fields
must be exactly what decoding the whole frame gives, whatever the frame's shape."""

from __future__ import annotations

import base64
import json

import pytest

from rtcapture.protocol import audio_payload, b64_decoded_len, parse_frame
from rtcapture.protocol.sniff import LARGE_FRAME, parse_large_frame
from rtcapture.proxy.ingest import SessionTally

AUDIO = base64.b64encode(bytes(range(256)) * (LARGE_FRAME // 256 + 7)).decode()
"""More than LARGE_FRAME of base64 (padded: its length is not a multiple of 3 bytes)."""


def _frames() -> dict[str, bytes]:
    delta = {"type": "response.output_audio.delta", "event_id": "evt_1",
             "response_id": "resp_1", "item_id": "item_1", "output_index": 0,
             "content_index": 0}
    append = {"type": "input_audio_buffer.append", "event_id": "evt_2"}
    return {
        "append, compact": json.dumps({**append, "audio": AUDIO},
                                      separators=(",", ":")).encode(),
        "append, spaced": json.dumps({**append, "audio": AUDIO}).encode(),
        "delta, audio first": json.dumps({"delta": AUDIO, **delta}).encode(),
        "delta, audio last": json.dumps({**delta, "delta": AUDIO}).encode(),
        "escaped slash in the audio": json.dumps({**append, "audio": AUDIO}).replace(
            "/", "\\/").encode(),
        "audio in a nested object": json.dumps(
            {**append, "audio": "", "x": {"audio": AUDIO}}).encode(),
        "audio member twice": json.dumps({**append, "audio": AUDIO})[:-1].encode()
        + b', "audio": "AAAA"}',
        "not base64": json.dumps({**append, "audio": AUDIO[:-8] + "!!!!====="}).encode(),
        "malformed length": json.dumps({**append, "audio": AUDIO + "A"}).encode(),
        "invalid JSON after the audio": json.dumps({**append, "audio": AUDIO}).encode()
        + b"}",
        "a JSON array": json.dumps([{**append, "audio": AUDIO}]).encode(),
        "other type": json.dumps({"type": "conversation.item.create", "audio": AUDIO}).encode(),
    }


@pytest.mark.parametrize("name", sorted(_frames()))
def test_large_frame_fields_equal_a_full_parse(name: str) -> None:
    data = _frames()[name]
    assert len(data) >= LARGE_FRAME
    full = parse_frame(data)
    b64 = audio_payload(full.event) if full.event is not None else None
    audio_bytes = (b64_decoded_len(b64) or 0) if b64 is not None else 0
    ev = SessionTally().build("s1", 0, "client", 0, 0, "text", data)
    fields = (ev.type, ev.event_id, ev.item_id, ev.response_id, ev.call_id, ev.parse_error)
    assert fields == (full.type, full.event_id, full.item_id, full.response_id, full.call_id,
                      full.parse_error and full.parse_error[:255])
    assert ev.audio_bytes == audio_bytes
    assert ev.data is data


def test_the_fast_path_takes_plain_audio_frames() -> None:
    """The simple shapes are parsed without decoding their audio (else the test above
    would pass by decoding every frame); a type past the first 256 bytes, or an audio
    value that is not plain base64, is decoded whole."""
    frames = _frames()
    taken = {name for name, data in frames.items() if parse_large_frame(data) is not None}
    assert taken == {"append, compact", "append, spaced", "delta, audio last"}
