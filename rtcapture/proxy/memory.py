"""Large buffers go back to the system as soon as they are freed (glibc's malloc).

glibc serves an allocation of its mmap threshold or more by a mapping of its own, returned
to the system when freed; but each such free raises the threshold to the block's size (up
to 32 MiB), so that the buffers of the next big frame come from the heap, and a heap with
anything live above them keeps them resident. Three 50 MB frames through the recorder left
it at 66 MB resident instead of 29, and its peak grew with each frame. A fixed threshold
ends that adjustment. It sits above every buffer an ordinary frame needs (a socket read is
256 KiB at most), so small frames allocate exactly as before.
"""

from __future__ import annotations

import ctypes

from ..protocol.sniff import LARGE_FRAME

M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter (malloc.h)."""


def release_large_buffers(threshold: int = LARGE_FRAME) -> bool:
    """Fix the mmap threshold of this process at ``threshold`` bytes; False where the C
    library has no ``mallopt`` or refused it (nothing changes then)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
