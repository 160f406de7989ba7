"""The byte-level sniffer and the strict base64 decoder: an answer only where the frame's
bytes prove it, and then the same answer decoding the JSON gives."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcapture.codec import decode_chunk, decode_pcm16
from rtcapture.protocol import (
    G711_ULAW,
    INPUT_AUDIO_APPEND,
    PCM16,
    append_audio_b64,
    audio_delta_b64,
    audio_span,
    b64_decoded_len,
    decode_audio_b64,
    sniff_type,
)

DELTA = "response.output_audio.delta"


@pytest.mark.parametrize(("frame", "expected"), [
    (b'{"type":"response.done","response":{"type":"x"}}', "response.done"),
    (b'{ "type" :\n "session.created" }', "session.created"),
    (b'{"event_id": "e1", "type": "response.created"}', "response.created"),
    (b'{"note": "the \\"type\\": \\"fake\\"", "type": "real"}', "real"),  # text, not a key
    (b'{"k\\"type": "fake", "type": "real"}', "real"),  # an escaped quote in a key
    (b'{"item": {"type": "message"}, "type": "x"}', None),  # nested before the top level
    (b'{"type": "a\\u0062"}', None),  # an escape in the value: decode the JSON
    (b'{"type": 5}', None),
    (b'{"pad": "' + b"x" * 300 + b'", "type": "late"}', None),  # past the window
    (b'{"type": "\xff"}', None),
])
def test_sniff_type(frame: bytes, expected: str | None) -> None:
    assert sniff_type(frame) == expected


@pytest.mark.parametrize(("frame", "expected"), [
    (b'{"type": "input_audio_buffer.append", "x\\"audio": "QUJD"}', None),  # no audio key
    (b'{"type": "input_audio_buffer.append", "note": "\\"audio\\": \\"QUJD\\"",'
     b' "audio": "QUFB"}', b"QUFB"),
    (b'{"type": "input_audio_buffer.append", "audio"  :  "QUJD"}', b"QUJD"),
])
def test_append_sniffer_ignores_escaped_keys(frame: bytes, expected: bytes | None) -> None:
    """A quote escaped inside a key is not the start of an ``"audio"`` member."""
    assert append_audio_b64(frame) == expected


@pytest.mark.parametrize(("frame", "expected"), [
    (b'{"type":"response.output_audio.delta","content_index":2,"delta":"QUJD"}',
     (b"QUJD", 2)),
    (b'{"type":"response.output_audio.delta","delta":"QUJD"}', (b"QUJD", 0)),
    (b'{"type":"response.output_audio.delta","x\\"content_index":3,"delta":"QUJD"}', None),
    (b'{"type":"response.output_audio.delta","content_index":"1","delta":"QUJD"}', None),
    (b'{"type":"response.output_audio.delta","x\\"delta":"QUFB"}', None),
])
def test_delta_sniffer(frame: bytes, expected: tuple[bytes, int] | None) -> None:
    assert audio_delta_b64(frame) == expected


# Frames laid out as serialisers do, with members chosen to trip a byte-level rule.
_b64 = st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode())
_tricky_text = st.sampled_from(['"type": "fake"', '"audio": "QUJD"', '"delta":"QUJD"', "{",
                                '\\', '"content_index": 7,', "é", "\n"])
_extra = st.dictionaries(
    st.sampled_from(["event_id", 'x"type', 'x"audio', 'x"delta', 'x"content_index', "note",
                     "item"]),
    _tricky_text | st.integers() | st.fixed_dictionaries({"type": st.just("message"),
                                                          "audio": _b64}),
    max_size=4)
_layouts = st.sampled_from([{}, {"separators": (",", ":")}, {"indent": 1},
                            {"ensure_ascii": False}])


@st.composite
def _frames(draw: st.DrawFn) -> tuple[bytes, dict]:
    etype = draw(st.sampled_from([INPUT_AUDIO_APPEND, DELTA]))
    key = "audio" if etype == INPUT_AUDIO_APPEND else "delta"
    members = [("type", etype), (key, draw(_b64 | st.text(max_size=6)))]
    if etype == DELTA and draw(st.booleans()):
        members.append(("content_index", draw(st.integers(0, 3))))
    members += list(draw(_extra).items())
    order = draw(st.permutations(members))
    text = json.dumps(dict(order), **draw(_layouts))
    return text.encode(), json.loads(text)


@settings(max_examples=400, deadline=None)
@given(_frames())
def test_sniffers_agree_with_json(case: tuple[bytes, dict]) -> None:
    """Each sniffer answers None or what decoding the frame gives."""
    frame, event = case
    etype = event["type"]
    assert sniff_type(frame) in (None, etype)
    if etype == INPUT_AUDIO_APPEND:
        found = append_audio_b64(frame)
        assert found is None or found.decode() == event["audio"]
    else:
        delta = audio_delta_b64(frame)
        assert delta is None or delta == (event["delta"].encode(),
                                          event.get("content_index", 0))
    value = event["audio" if etype == INPUT_AUDIO_APPEND else "delta"]
    audio_bytes = b64_decoded_len(value) or 0  # what ingest stores
    if audio_bytes:
        span = audio_span(frame, etype == INPUT_AUDIO_APPEND, audio_bytes)
        assert span is None or frame[span[0]:span[1]].decode() == value


@pytest.mark.parametrize(("b64", "expected"), [
    ("QUJD", b"ABC"),
    (b"QUJD", b"ABC"),
    ("QQ==", b"A"),
    ("QUI=", b"AB"),
    ("", b""),
    ("QQ", None),  # padding missing
    ("QQ=", None),
    ("Q===", None),
    ("=QQ=", None),  # padding first
    ("QQ==QUJD", None),  # data after the padding
    ("QU JD", None),  # white space
    ("QUJD\n", None),
    ("QU*D", None),  # outside the alphabet
    ("QUJ-", None),  # url-safe alphabet
    ("QUJé", None),  # not ASCII
    (None, None),
    (3, None),
    (bytearray(b"QUJD"), None),
])
def test_decode_audio_b64_is_strict(b64: object, expected: bytes | None) -> None:
    assert decode_audio_b64(b64) == expected


def test_decode_chunk_reasons_for_sniffed_bytes_and_strings() -> None:
    """A chunk a sniffer found (bytes) decodes, or fails, as its string does."""
    raw = b"\x01\x00\xff\x7f"
    for b64 in (base64.b64encode(raw), base64.b64encode(raw).decode()):
        assert decode_chunk(b64, PCM16).tolist() == [1, 32767]
        assert decode_pcm16(b64).tolist() == [1, 32767]  # type: ignore[union-attr]
    for bad in (b"QQ", "QQ", b"QU JD", "QUJé"):
        assert decode_chunk(bad, PCM16) == "invalid base64"
    assert decode_pcm16(b"QQ") == "invalid base64"
    assert decode_chunk(b"QUJD", PCM16) == "odd length (3 bytes) for 16-bit PCM"
    assert decode_pcm16(b"QUJD") == "odd length (3 bytes) for 16-bit PCM"
    assert decode_chunk(["QUJD"], PCM16) == "audio missing or not a string"
    ulaw = decode_chunk(b"QUJD", G711_ULAW)  # one sample a byte: no length rule
    assert isinstance(ulaw, np.ndarray) and ulaw.size == 3
