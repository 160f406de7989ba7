"""The record stream between recorder and writer: any split of the bytes decodes the same,
and a large frame's bytes are not kept once it has been handed out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcapture.proxy.controls import Begin, End, SessionFields
from rtcapture.proxy.stream import FrameMsg, StreamDecoder, pack_control, pack_frame
from rtcapture.store.records import Status

BEGIN = Begin(1, SessionFields("s1", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                               headers=(("host", "h"),), subprotocols=("realtime",)))
END = End(1, datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC), Status.FAILED, "HTTP 502",
          close_code=502, dropped={"client_events": 2}, relayed=7)


def _frame(no: int, seq: int, data: bytes) -> bytes:
    return pack_frame(no, seq, seq % 2 == 1, False, True, seq, seq, data) + data


@given(payloads=st.lists(st.binary(max_size=300), min_size=1, max_size=12),
       cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=8))
def test_any_split_decodes_the_same(payloads: list[bytes], cuts: list[int]) -> None:
    stream = pack_control(BEGIN) + b"".join(
        _frame(1, i, p) for i, p in enumerate(payloads)) + pack_control(END)
    points = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    decoder = StreamDecoder()
    out = []
    for a, b in zip(points, points[1:], strict=False):
        out.extend(decoder.feed(stream[a:b]))
    assert out[0] == BEGIN and out[-1] == END  # typed controls come back equal
    frames = out[1:-1]
    assert all(isinstance(f, FrameMsg) for f in frames)
    assert [f.data for f in frames] == payloads  # type: ignore[union-attr]
    assert [f.seq for f in frames] == list(range(len(payloads)))  # type: ignore[union-attr]
    assert decoder.pending == 0


def test_large_frame_is_not_kept_after_it_is_handed_out() -> None:
    big = b"A" * (8 << 20)
    record = _frame(1, 0, big)
    decoder = StreamDecoder()
    held = []
    for i in range(0, len(record), 1 << 20):
        for msg in decoder.feed(record[i:i + (1 << 20)]):
            held.append(len(decoder._buf))  # while the consumer handles the frame
            assert isinstance(msg, FrameMsg) and msg.data == big
    assert held == [0]


def test_unknown_control_record_is_refused() -> None:
    """A control the writer does not know is an error, not a silent no-op."""
    body = b'{"op":"nonsense","no":1}'
    with pytest.raises(ValueError, match="unknown control record 'nonsense'"):
        list(StreamDecoder().feed(b"C" + len(body).to_bytes(4, "little") + body))
