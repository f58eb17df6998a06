"""Freed memory kept for reuse by the C allocator, for batched CPU work.

glibc maps each block above its mmap threshold (which grows to 32 MiB at most) on its own and
hands it back to the kernel when it is freed. A CPU batch's activations are larger, so every
forward pass mapped them afresh and the kernel zeroed each page again on first touch: much of
an evaluation's wall time went to page faults (docs/benchmarks.md, "CPU memory reuse").
Raising glibc's thresholds keeps those blocks in the process for the next batch.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameters, from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
KEPT_BYTES = 1 << 30  # blocks under 1 GiB are reused, and up to 1 GiB of free memory is kept


def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed blocks under ``KEPT_BYTES``; False where the C library is not
    glibc (macOS, musl), which keeps its own behaviour."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, KEPT_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, KEPT_BYTES))
