"""The turn analysis fed from the export's own pass over a session's chunks.

The analyzer (:mod:`rtcapture.check.turns`) takes events one at a time; a chunk is
mostly audio appends and deltas, which it takes in bulk. Between two events it must see
one by one (``Batch.FEED``), the bulk kinds cannot affect each other, so each stretch is
handed over as three column slices, then the next event on its own.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..check.turns import Batch, TurnAnalyzer, batch_of
from ..protocol import Direction, Opcode
from ..store import EventRecord
from ..store.chunks import RawChunk


def _kinds(chunk: RawChunk) -> np.ndarray:
    """Each row's :class:`Batch` kind, from its (direction, type)."""
    types = chunk.type.dictionary_encode()
    dirs = chunk.direction.dictionary_encode()
    type_values, dir_values = types.dictionary.to_pylist(), dirs.dictionary.to_pylist()
    # one extra row and column for nulls (index -1)
    table = np.array([[batch_of(d, t) for t in [*type_values, None]]
                      for d in [*dir_values, None]], dtype=np.int8)
    ti = pc.fill_null(types.indices, -1).to_numpy(zero_copy_only=False)
    di = pc.fill_null(dirs.indices, -1).to_numpy(zero_copy_only=False)
    return table[di, ti]


def _take(array: pa.Array, rows: np.ndarray) -> list[str | None]:
    return array.take(pa.array(rows, pa.int64())).to_pylist() if len(rows) else []


def _event(chunk: RawChunk, i: int, offsets: np.ndarray) -> EventRecord:
    """Row ``i`` as a record (``data`` as read: raw frame, audio possibly cut)."""
    return EventRecord(
        "", int(chunk.seq[i]), Direction(chunk.direction[i].as_py()), int(chunk.t_ns[i]),
        int(chunk.wall_ns[i]), Opcode.TEXT, chunk.data[offsets[i]:offsets[i + 1]],
        chunk.type[i].as_py(), chunk.event_id[i].as_py(), chunk.item_id[i].as_py(),
        chunk.response_id[i].as_py(), chunk.call_id[i].as_py(), chunk.parse_error[i].as_py(),
        bool(chunk.delivered[i]), int(chunk.audio_bytes[i]))


def feed_chunk(analyzer: TurnAnalyzer, chunk: RawChunk) -> None:
    """Feed one chunk's rows to ``analyzer``, as :meth:`TurnAnalyzer.feed` would one by one."""
    if not len(chunk):
        return
    offsets = np.zeros(len(chunk) + 1, dtype=np.int64)
    np.cumsum(chunk.sizes, out=offsets[1:])
    if analyzer.timeline is not None:  # a timeline dialect (GPT-Live) reads every event
        for row in range(len(chunk)):
            analyzer.feed(_event(chunk, row, offsets))
        return
    kinds = _kinds(chunk)
    t_ms = chunk.t_ns / 1e6
    app = np.flatnonzero(kinds == Batch.APPENDS)
    aud = np.flatnonzero(kinds == Batch.AUDIO_DELTAS)
    txt = np.flatnonzero(kinds == Batch.TEXT_DELTAS)
    one = np.flatnonzero(kinds == Batch.FEED)
    app_t, app_n = t_ms[app].tolist(), chunk.audio_bytes[app].tolist()
    app_e = _take(chunk.event_id, app)
    aud_t, aud_n = t_ms[aud].tolist(), chunk.audio_bytes[aud].tolist()
    aud_r, aud_i = _take(chunk.response_id, aud), _take(chunk.item_id, aud)
    aud_ok = chunk.delivered[aud].tolist()
    txt_t, txt_r = t_ms[txt].tolist(), _take(chunk.response_id, txt)
    # where each bulk kind's rows stop before each one-by-one event (and at the end)
    cuts = [np.append(np.searchsorted(rows, one), len(rows)).tolist()
            for rows in (app, aud, txt)]
    a0 = d0 = x0 = 0
    for k, row in enumerate([*one.tolist(), -1]):
        a1, d1, x1 = cuts[0][k], cuts[1][k], cuts[2][k]
        if a1 > a0:
            analyzer.feed_appends(app_t[a0:a1], app_n[a0:a1], app_e[a0:a1])
        if d1 > d0:
            analyzer.feed_audio_deltas(aud_t[d0:d1], aud_r[d0:d1], aud_i[d0:d1],
                                       aud_n[d0:d1], aud_ok[d0:d1])
        if x1 > x0:
            analyzer.feed_text_deltas(txt_t[x0:x1], txt_r[x0:x1])
        a0, d0, x0 = a1, d1, x1
        if row >= 0:
            analyzer.feed(_event(chunk, row, offsets))
