"""The ``payload`` column: each frame as text, audio base64 replaced by a marker, keys masked.

Rules (the analysis docs state them too):

- a text frame's payload is its text, unchanged but for the two edits below;
- a binary frame, or a text frame that is not valid UTF-8, has a null payload (its exact
  bytes are in the JSONL cassette; ``parse_error`` says why);
- unless ``keep_audio``, the base64 audio of ``input_audio_buffer.append`` and of audio
  deltas is replaced in place by ``protocol.strip_audio``'s marker (``<audio N bytes>``),
  the rest of the frame left byte for byte; a frame laid out in a way the byte-level rules
  below do not recognise is decoded and re-encoded with ``strip_audio`` instead;
- unless ``redact`` is off, ``sk-…`` / ``ek_…`` keys are replaced by their markers.

The byte-level rules exist for speed (a million audio events must cost well under a
second). They apply only where the audio value provably is the top-level string and
carries no escapes: its raw length equals the base64 length implied by ``audio_bytes``.
The same rules exist as SQL (:func:`strip_sql`, run inside SQLite by the fast reader) and
in Python (:func:`strip_audio_bytes`), tried in the same order, so both readers give the
same bytes.
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..protocol import (
    AUDIO_DELTA_TYPES,
    AUDIO_KEY_TOKENS,
    INPUT_AUDIO_APPEND,
    audio_span,
    b64_len,
    redact_bytes,
    strip_audio,
)
from ..store.chunks import AudioCut, RawChunk, replace_rows
from ..store.chunks import row_offsets as _offsets

_AUDIO_TYPES = pa.array(sorted(AUDIO_DELTA_TYPES | {INPUT_AUDIO_APPEND}), pa.string())


@lru_cache(maxsize=1024)
def audio_marker(audio_bytes: int) -> bytes:
    """The marker ``strip_audio`` puts in place of base64 carrying ``audio_bytes`` bytes."""
    length = b64_len(audio_bytes)
    pad = length // 4 * 3 - audio_bytes
    b64 = "A" * (length - pad) + "=" * pad
    return str(strip_audio({"type": INPUT_AUDIO_APPEND, "audio": b64})["audio"]).encode()


@lru_cache(maxsize=1)
def _marker_parts() -> tuple[bytes, bytes]:
    """The marker's text before and after the byte count."""
    probe = 4093
    marker = audio_marker(probe)
    if marker.count(str(probe).encode()) != 1:  # pragma: no cover - strip_audio changed shape
        raise RuntimeError("unexpected audio marker format")
    head, _, tail = marker.partition(str(probe).encode())
    return head, tail


def strip_frame(frame: bytes) -> bytes:
    """Slow path: decode a frame, ``strip_audio`` it, encode it again."""
    event = strip_audio(json.loads(frame))
    try:
        return json.dumps(event, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (escaped in the frame): keep them escaped
        return json.dumps(event).encode("ascii")


def strip_audio_bytes(frame: bytes, is_append: bool, audio_bytes: int) -> bytes | None:
    """The byte-level rules (``protocol.audio_span``) on one frame; None when none applies
    (use :func:`strip_frame`)."""
    span = audio_span(frame, is_append, audio_bytes)
    if span is None:
        return None
    return frame[:span[0]] + audio_marker(audio_bytes) + frame[span[1]:]


def _hex(data: bytes) -> str:
    return f"X'{data.hex()}'"


def strip_sql() -> str:
    """SQLite expression: the frame cut just before its audio value where rule 1 holds for the
    two common layouts (``, "delta": "…"}`` and ``,"delta":"…"}``), else the whole frame;
    rows with a parse error give ``X''``.

    Cheap on purpose: one ``substr`` per audio row; :func:`finish_sql_rows` appends the
    marker, and a row it leaves whole goes through :func:`strip_audio_bytes`.
    """
    size = "(((audio_bytes + 2) / 3) * 4)"
    cut = f"substr(data, 1, length(data) - {size} - 2)"
    rules = []
    for is_append in (True, False):
        test = f"type {'=' if is_append else '<>'} '{INPUT_AUDIO_APPEND}'"
        for key in AUDIO_KEY_TOKENS[is_append]:
            window = b"," + (b" " if key.endswith(b' "') else b"") + key
            rules.append(
                f"WHEN {test} AND substr(data, -({size} + {2 + len(window)}), {len(window)}) = "
                f"{_hex(window)} THEN {cut}")
    return ("CASE WHEN parse_error IS NOT NULL THEN X'' "
            "WHEN audio_bytes = 0 OR substr(data, -2) <> X'227d' THEN data "
            + " ".join(rules) + " ELSE data END")


def finish_sql_rows(data: bytes, sizes: np.ndarray, size_bytes: np.ndarray,
                    audio_bytes: np.ndarray) -> tuple[bytes, np.ndarray, np.ndarray]:
    """Append ``marker + '"}'`` to the rows :func:`strip_sql` cut (vectorised).

    Returns the new buffer, row sizes, and which rows are now stripped. A cut row is
    exactly ``b64_len(audio_bytes) + 2`` bytes shorter than its frame; no other row is.
    """
    n = len(sizes)
    cut = (audio_bytes > 0) & (sizes == size_bytes - 4 * ((audio_bytes + 2) // 3) - 2)
    if not cut.any():
        return data, sizes, cut
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(sizes, out=offsets[1:])
    rows = pa.BinaryArray.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets),
                                                        pa.py_buffer(data)])
    head, tail = _marker_parts()
    counts = pc.cast(pc.cast(pa.array(audio_bytes), pa.string()), pa.binary())
    markers = pc.binary_join_element_wise(pa.scalar(head), counts, pa.scalar(tail + b'"}'),
                                          pa.scalar(b""))
    suffix = pc.if_else(pa.array(cut), markers, pa.scalar(b""))
    joined = pc.binary_join_element_wise(rows, suffix, pa.scalar(b""))
    ends = np.frombuffer(joined.buffers()[1], dtype=np.int32, count=n + 1)
    buffer = joined.buffers()[2].to_pybytes()[ends[0]:ends[-1]]
    return buffer, np.diff(ends).astype(np.int64), cut


@lru_cache(maxsize=1)
def audio_cut() -> AudioCut:
    """These rules for the store's SQLite reader: :func:`strip_sql`, then
    :func:`finish_sql_rows`."""
    return AudioCut(strip_sql(), finish_sql_rows)


def has_parse_error(chunk: RawChunk) -> np.ndarray:
    """True where the row has a parse error."""
    return chunk.parse_error.is_valid().to_numpy(zero_copy_only=False)


def is_utf8(data: bytes) -> bool:
    """True if ``data`` is valid UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _redact(data: bytes, sizes: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Mask keys in every row that holds ``sk-`` or ``ek_``."""
    hits: list[int] = []
    for needle in (b"sk-", b"ek_"):
        pos = data.find(needle)
        while pos >= 0:
            hits.append(pos)
            pos = data.find(needle, pos + 1)
    if not hits:
        return data, sizes
    offsets = _offsets(sizes)
    rows = np.unique(np.searchsorted(offsets, np.array(hits), side="right") - 1)
    replace: dict[int, bytes] = {}
    for row in rows.tolist():
        frame = data[offsets[row]:offsets[row + 1]]
        masked = redact_bytes(frame)
        if masked != frame:
            replace[row] = masked
    return replace_rows(data, sizes, replace)


def build_payloads(chunk: RawChunk, *, keep_audio: bool = False, redact: bool = True) -> pa.Array:
    """The ``payload`` column (Arrow ``string``) of a chunk."""
    n = len(chunk)
    offsets = _offsets(chunk.sizes).tolist()
    valid = np.ones(n, dtype=bool)
    replace: dict[int, bytes] = {}
    for row, is_binary in chunk.opcode_binary.items():
        if is_binary or not is_utf8(chunk.data[offsets[row]:offsets[row + 1]]):
            valid[row] = False
            replace[row] = b""
    if not keep_audio:
        todo = np.flatnonzero(~chunk.stripped & ~has_parse_error(chunk))
        if len(todo):
            audio = pc.fill_null(pc.is_in(chunk.type.take(pa.array(todo)), _AUDIO_TYPES), False)
            todo = todo[audio.to_numpy(zero_copy_only=False)]
        types = chunk.type.take(pa.array(todo)).to_pylist() if len(todo) else []
        for row, etype, nbytes in zip(todo.tolist(), types, chunk.audio_bytes[todo].tolist(),
                                      strict=True):
            frame = chunk.data[offsets[row]:offsets[row + 1]]
            new = strip_audio_bytes(frame, etype == INPUT_AUDIO_APPEND, nbytes) \
                if nbytes > 0 else None
            replace[row] = new if new is not None else strip_frame(frame)
    data, sizes = replace_rows(chunk.data, chunk.sizes, replace)
    if redact:
        data, sizes = _redact(data, sizes)
    ends = _offsets(sizes)
    if ends[-1] >= 2**31:
        raise ValueError("chunk too large for one Arrow string array")
    validity = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    binary = pa.BinaryArray.from_buffers(
        pa.binary(), n, [validity, pa.py_buffer(ends.astype(np.int32)), pa.py_buffer(data)])
    return binary.cast(pa.string())
