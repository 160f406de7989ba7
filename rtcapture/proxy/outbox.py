"""A leg's output while a large frame is written: the frame slice by slice, the rest after.

websockets would serialise a 50 MB frame into one more 50 MB string (two when it masks),
and the transport's buffer would hold a third copy, and copy its remainder again as it
drains. Here the payload stays where it is: the transport takes ``LARGE_CHUNK`` slices of
it (masked one by one towards the upstream) while its buffer is under the high-water mark,
and everything the leg sends meanwhile (pongs, a close, the next frames) waits behind it.
"""

from __future__ import annotations

import asyncio
import secrets
import struct
from collections import deque
from dataclasses import dataclass

from websockets.frames import Frame

try:
    from websockets.speedups import apply_mask
except ImportError:  # websockets built without its C extension
    from websockets.utils import apply_mask

LARGE_CHUNK = 1 << 20
"""Slice of a large payload handed to the transport at a time (a multiple of 4, so that
every slice starts at the mask's first byte)."""


@dataclass
class _Payload:
    view: memoryview
    mask: bytes | None
    at: int = 0


class Outbox:
    """Output waiting behind a large frame, in order."""

    def __init__(self) -> None:
        self._items: deque[bytes | _Payload] = deque()

    def add(self, chunk: bytes) -> None:
        """Output of the protocol (an empty chunk is its end-of-stream marker)."""
        self._items.append(chunk)

    def add_frame(self, frame: Frame, masked: bool) -> None:
        """A data frame (no extension negotiated): its header, then its payload."""
        data = frame.data
        mask = secrets.token_bytes(4) if masked else None
        self._items.append(struct.pack(
            "!BBQ", (0x80 if frame.fin else 0) | frame.opcode, (0x80 if masked else 0) | 127,
            len(data)) + (mask or b""))  # every large frame needs the 8-byte length
        self._items.append(_Payload(memoryview(data), mask))

    def feed(self, transport: asyncio.WriteTransport, paused: bool = False) -> bool:
        """Write in order until the transport pauses its protocol (its buffer passed the
        high-water mark: call again on ``resume_writing``); True once all is written."""
        items = self._items
        while items and not paused:
            item = items[0]
            if isinstance(item, _Payload):
                at = item.at
                chunk = item.view[at:at + LARGE_CHUNK]
                item.at = at + len(chunk)
                if item.at >= len(item.view):
                    items.popleft()
                paused = _write(transport, apply_mask(chunk, item.mask)
                                if item.mask is not None else bytes(chunk))
            else:
                items.popleft()
                if item:
                    paused = _write(transport, item)
                elif transport.can_write_eof():
                    transport.write_eof()
                else:
                    transport.close()
        return not items


def _write(transport: asyncio.WriteTransport, data: bytes) -> bool:
    """Write; True if the transport's buffer is now over its high-water mark."""
    transport.write(data)
    return transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]
