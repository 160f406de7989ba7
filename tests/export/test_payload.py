"""The payload column: audio stripped exactly as protocol.strip_audio does, keys masked."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from rtcapture.export.payload import audio_cut, build_payloads, strip_audio_bytes, strip_frame
from rtcapture.protocol import INPUT_AUDIO_APPEND, strip_audio
from rtcapture.store import columnar as source
from rtcapture.store import open_store
from tests.factories import b64, make_session

AUDIO = b64(bytes(range(256)) * 4 + b"\x01")  # 1,025 bytes: one padding character
APPEND = INPUT_AUDIO_APPEND
DELTA = "response.output_audio.delta"

TEMPLATES = [
    (APPEND, '{"type": "@T", "audio": "@A"}'),
    (APPEND, '{"type":"@T","audio":"@A"}'),
    (APPEND, '{"audio": "@A", "type": "@T"}'),
    (APPEND, '{"type": "@T", "audio": "@A", "event_id": "e1"}'),
    (APPEND, '{ "type" : "@T" ,\n "audio" : "@A" }'),
    (DELTA, '{"type":"@T","response_id":"r","item_id":"i","output_index":0,'
            '"content_index":0,"delta":"@A"}'),
    (DELTA, '{"type": "@T", "delta": "@A", "item_id": "i"}'),
    (DELTA, '{"type": "@T", "x": {"delta": "AAAA"}, "delta": "@A"}'),
    (DELTA, '{"type": "@T", "delta": "@E"}'),
    (DELTA, '{"type": "@T", "note": "\\"delta\\": \\"", "delta": "@A"}'),
    (DELTA, '{"type": "@T", "x": {"delta": "@B"}, "delta": "@A", "item_id": "i"}'),
    (APPEND, '{"event_id": "e1", "item": {"audio": "@B"}, "audio": "@A", "type": "@T"}'),
]
LAYOUTS = [(etype, text.replace("@T", etype).replace("@E", AUDIO.replace("/", "\\/"))
            .replace("@A", AUDIO).replace("@B", AUDIO.swapcase())) for etype, text in TEMPLATES]


@pytest.mark.parametrize(("etype", "text"), LAYOUTS)
def test_byte_rules_agree_with_strip_audio(etype, text):
    """Whatever rule applies, the payload decodes to what strip_audio gives."""
    frame = text.encode()
    event = json.loads(frame)
    expected = strip_audio(event)
    nbytes = len(bytes(range(256)) * 4 + b"\x01")
    fast = strip_audio_bytes(frame, etype == APPEND, nbytes)
    result = fast if fast is not None else strip_frame(frame)
    assert json.loads(result) == expected
    if fast is not None:  # the byte rules only ever touch the audio value
        marker = expected["audio" if etype == APPEND else "delta"]
        assert fast.replace(marker.encode(), AUDIO.encode()) == frame


def _session(store):
    frames = [(d, json.loads(t) if i % 2 else t.encode(), float(i))
              for i, (d, t) in enumerate(("client" if e == APPEND else "server", t)
                                         for e, t in LAYOUTS)]
    frames += [
        ("client", b"\xff\xfe\x00binary", 20.0),
        ("client", b"not json sk-abcdefghijklmnop", 21.0),
        ("client", {"type": APPEND, "audio": ""}, 22.0),
        ("client", {"type": APPEND, "audio": "abc"}, 23.0),
        ("client", {"type": APPEND, "audio": b64(b"\x00" * 3)}, 24.0),
        ("client", {"type": "response.create", "k": "ek_abcdefghijklmno\u00e9"}, 25.0),
        ("server", b'{"type": "error", "message": "\\ud800 lone"}', 26.0),
    ]
    return make_session(store, frames)


@pytest.mark.parametrize("keep_audio", [False, True])
@pytest.mark.parametrize("chunk_rows", [3, 1024])
def test_sqlite_fast_reader_equals_generic_reader(sqlite_url, keep_audio, chunk_rows,
                                                  monkeypatch):
    """The SQLite aggregate reader and the row reader give the same columns and payloads."""
    monkeypatch.setattr(source, "MIN_CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(source, "MAX_CHUNK_ROWS", chunk_rows)
    store = open_store(sqlite_url)
    sid = _session(store)
    out = []
    for fast in (True, False):
        chunks = list(store.read_chunks(sid, cut=None if keep_audio else audio_cut(), fast=fast))
        payloads = pa.concat_arrays([build_payloads(c, keep_audio=keep_audio) for c in chunks])
        seqs = [int(s) for c in chunks for s in c.seq]
        types = [t for c in chunks for t in c.type.to_pylist()]
        out.append((payloads.to_pylist(), seqs, types))
    store.close()
    assert out[0] == out[1]
    payloads = out[0][0]
    assert payloads[len(LAYOUTS)] is None  # binary frame
    assert "sk-abcdef" not in payloads[len(LAYOUTS) + 1]
    assert all(p is None or "ek_abcdef" not in p for p in payloads)
    if not keep_audio:
        assert all(p is None or AUDIO not in p for p in payloads)
        assert json.loads(payloads[len(LAYOUTS) + 2])["audio"] == "<audio 0 bytes>"
        assert json.loads(payloads[len(LAYOUTS) + 3])["audio"] == "<audio ? bytes>"
    else:
        assert sum(AUDIO in (p or "") for p in payloads) == len(LAYOUTS) - 1


def test_no_redact_keeps_keys(sqlite_url):
    """redact=False leaves keys in payloads."""
    store = open_store(sqlite_url)
    sid = make_session(store, [("client", {"type": "x", "k": "sk-abcdefghijklmnop"}, 0)])
    chunk = next(store.read_chunks(sid))
    store.close()
    assert "sk-abcdefghijklmnop" in build_payloads(chunk, redact=False)[0].as_py()
    assert "sk-abcdefghijklmnop" not in build_payloads(chunk, redact=True)[0].as_py()
