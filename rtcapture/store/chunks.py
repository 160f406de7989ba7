"""Columnar chunks of a session's events: the record the bulk readers return.

No SQL here: :class:`RawChunk` is a value (numpy and Arrow columns, the frames' bytes in one
buffer), :class:`AudioCut` is how a caller asks the SQLite reader to cut audio out while
reading, and :func:`replace_rows` edits a chunk's buffer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa


@dataclass
class RawChunk:
    """Consecutive events of one session, column by column."""

    seq: np.ndarray
    t_ns: np.ndarray
    wall_ns: np.ndarray
    size_bytes: np.ndarray
    """Length of each stored frame."""
    audio_bytes: np.ndarray
    delivered: np.ndarray
    """False where the recorder marked the frame as not delivered to its peer (booleans)."""
    direction: pa.Array
    type: pa.Array
    event_id: pa.Array
    item_id: pa.Array
    response_id: pa.Array
    call_id: pa.Array
    parse_error: pa.Array
    data: bytes
    """Every row's bytes, concatenated: the frame, or its audio-stripped form (``stripped``)."""
    sizes: np.ndarray
    """Length of each row's bytes in ``data``."""
    stripped: np.ndarray
    """True where ``data`` holds the frame with its audio already replaced by the marker."""
    opcode_binary: dict[int, bool] = field(default_factory=dict)
    """Row index -> opcode is binary, for rows with a parse error only."""

    def __len__(self) -> int:
        return len(self.seq)


FinishRows = Callable[[bytes, np.ndarray, np.ndarray, np.ndarray],
                      tuple[bytes, np.ndarray, np.ndarray]]
"""``(data, sizes, size_bytes, audio_bytes) -> (data, sizes, stripped)``."""


@dataclass(frozen=True)
class AudioCut:
    """How the SQLite reader strips audio while reading (the rules belong to the caller).

    ``sql`` is an SQLite expression over the ``events`` columns giving each row's bytes
    (``X''`` for rows with a parse error); ``finish`` completes the rows it cut and says
    which rows are now stripped.
    """

    sql: str
    finish: FinishRows


def row_offsets(sizes: np.ndarray) -> np.ndarray:
    """Start of each row in a buffer of rows of ``sizes`` bytes, and the end (n + 1 values)."""
    out = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=out[1:])
    return out


def replace_rows(data: bytes, sizes: np.ndarray, replace: dict[int, bytes]
                 ) -> tuple[bytes, np.ndarray]:
    """``data`` (rows of ``sizes`` bytes) with some rows' bytes replaced."""
    if not replace:
        return data, sizes
    offsets = row_offsets(sizes)
    sizes = sizes.copy()
    pieces: list[bytes] = []
    pos = 0
    for row in sorted(replace):
        pieces.append(data[pos:offsets[row]])
        pieces.append(replace[row])
        pos = int(offsets[row + 1])
        sizes[row] = len(replace[row])
    pieces.append(data[pos:])
    return b"".join(pieces), sizes
