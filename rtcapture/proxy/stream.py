"""The record stream between the relay process and the writer process.

Binary, length-prefixed, append-only: the relay packs a frame with one ``struct`` call
and never parses it; the writer decodes, parses and stores. Control records (session
begin/open/end, :mod:`.controls`) are small JSON objects on the same stream, so order is
preserved.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from ..protocol.sniff import LARGE_FRAME
from .controls import Control, from_wire, to_wire

FRAME = b"F"
CONTROL = b"C"

FRAME_HEADER = struct.Struct("<cBIIqqI")
"""kind, flags, session number, seq, t_ns, wall_ns, payload length."""
CONTROL_HEADER = struct.Struct("<cI")

FLAG_SERVER = 1
FLAG_BINARY = 2
FLAG_UNDELIVERED = 4
FLAG_INCOMPLETE = 8
INCOMPLETE_MESSAGE = "incomplete message: the connection ended before its last fragment"
"""The ``parse_error`` of a message whose fragments were relayed but never completed."""


def pack_frame(session_no: int, seq: int, server: bool, binary: bool, delivered: bool,
               t_ns: int, wall_ns: int, data: bytes | bytearray, incomplete: bool = False
               ) -> bytes:
    """The header of one frame record (the payload follows it unchanged)."""
    flags = (FLAG_SERVER if server else 0) | (FLAG_BINARY if binary else 0) | (
        0 if delivered else FLAG_UNDELIVERED) | (FLAG_INCOMPLETE if incomplete else 0)
    return FRAME_HEADER.pack(FRAME, flags, session_no, seq, t_ns, wall_ns, len(data))


def pack_control(msg: Control) -> bytes:
    """One control record (JSON)."""
    body = json.dumps(to_wire(msg), separators=(",", ":")).encode("utf-8")
    return CONTROL_HEADER.pack(CONTROL, len(body)) + body


@dataclass(slots=True)
class FrameMsg:
    """A decoded frame record."""

    session_no: int
    seq: int
    server: bool
    binary: bool
    delivered: bool
    t_ns: int
    wall_ns: int
    data: bytes
    incomplete: bool = False
    """The message's last fragment never arrived (the fragments so far, joined)."""


class StreamDecoder:
    """Incremental decoder: feed bytes, iterate complete records."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> Iterator[FrameMsg | Control]:
        """Append ``data`` and yield every record now complete."""
        buf = self._buf
        if self._pos:
            del buf[: self._pos]
            self._pos = 0
        buf += data
        pos, end = 0, len(buf)
        while pos < end:
            kind = buf[pos:pos + 1]
            if kind == FRAME:
                if end - pos < FRAME_HEADER.size:
                    break
                _, flags, sno, seq, t_ns, wall_ns, length = FRAME_HEADER.unpack_from(buf, pos)
                start = pos + FRAME_HEADER.size
                if end - start < length:
                    break
                with memoryview(buf) as view:  # one copy, not a slice and then a copy
                    frame = FrameMsg(sno, seq, bool(flags & FLAG_SERVER),
                                     bool(flags & FLAG_BINARY), not flags & FLAG_UNDELIVERED,
                                     t_ns, wall_ns, bytes(view[start:start + length]),
                                     bool(flags & FLAG_INCOMPLETE))
                pos = start + length
                if pos == end:  # the last record held: free its bytes before it is handled
                    buf.clear()
                    pos = end = 0
                elif length >= LARGE_FRAME:  # and a large one's while the rest waits
                    del buf[:pos]
                    pos, end = 0, len(buf)
                self._pos = pos
                yield frame
                del frame  # a large payload is not held while the next record is decoded
            elif kind == CONTROL:
                if end - pos < CONTROL_HEADER.size:
                    break
                _, length = CONTROL_HEADER.unpack_from(buf, pos)
                start = pos + CONTROL_HEADER.size
                if end - start < length:
                    break
                msg = from_wire(json.loads(bytes(buf[start:start + length])))
                pos = start + length
                self._pos = pos
                yield msg
            else:
                raise ValueError(f"corrupt record stream at byte {pos}")
            self._pos = pos
        if self._pos and self._pos == len(buf):  # all consumed: free a large frame's buffer
            buf.clear()
            self._pos = 0

    @property
    def pending(self) -> int:
        """Bytes of an incomplete trailing record."""
        return len(self._buf) - self._pos
