"""Hand freed heap memory back to the operating system between a scene pass's windows (glibc).

A scene pass allocates and frees arrays of one window or tile batch (1-100 MB) on three threads
(reader, compute, writer). glibc keeps each thread's freed chunks in that thread's arena for reuse,
so the resident size drifts several windows' worth above what is live: on a full 10980 px,
13-band L1C scene that drift decided whether peak RSS stayed under 2 GB. ``malloc_trim(0)`` returns
the free pages of every arena to the system (the remedy Dask documents for its workers' "unmanaged
memory"). No maintained library wraps it, hence these few lines; with a C library that lacks it
(macOS, Windows, musl) :func:`release_free_memory` does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


def release_free_memory() -> bool:
    """Return free heap pages of every thread's arena to the system; False where that is not possible.

    Costs a few milliseconds; the engine calls it once per written window and before the COG copy.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
