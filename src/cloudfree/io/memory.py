"""Keep a scene pass's heap small (glibc): few malloc arenas, freed pages handed back between windows.

A scene pass allocates and frees arrays of one window or tile batch (1-100 MB) on three threads
(reader, compute, writer). glibc keeps each thread's freed chunks in that thread's arena for reuse,
so the resident size drifts several windows' worth above what is live: on a full 10980 px,
13-band L1C scene that drift decided whether peak RSS stayed under 2 GB. ``malloc_trim(0)`` returns
the free pages of every arena to the system (the remedy Dask documents for its workers' "unmanaged
memory"). Each thread that allocates under contention also gets an arena of its own (up to 8 per
core), whose free chunks no other thread reuses: :func:`limit_heap_arenas` caps them with
``mallopt(M_ARENA_MAX)``, what the ``MALLOC_ARENA_MAX`` environment variable does at start-up. On a
10980 x 2240 crop with default-l1c13 (the generated scene of bench/bench_memory.py, 26 % cloud),
peak RSS was 1920-2009 MiB with glibc's default (4 runs), 1808-1864 MiB with one arena set here
(3 runs; 1729-1739 MiB with ``MALLOC_ARENA_MAX=1`` exported, 1827-1895 MiB with 2), for the same
68-84 s per run (alternating runs on a shared machine). No maintained library wraps either call, hence these few
lines; with a C library that lacks them (macOS, Windows, musl) both functions do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Callable

M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)
HEAP_ARENAS = 1  # arenas for the whole process while cloudfree runs a scene pass


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"))
    except (OSError, TypeError):
        return None


@functools.cache
def limit_heap_arenas(arenas: int = HEAP_ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` (threads created later share them); once per process.

    A ``MALLOC_ARENA_MAX`` the user exported wins. False where the C library has no ``mallopt``.
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    mallopt = getattr(_libc(), "mallopt", None)
    return bool(mallopt is not None and mallopt(M_ARENA_MAX, int(arenas)) == 1)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    return getattr(_libc(), "malloc_trim", None)


def release_free_memory() -> bool:
    """Return free heap pages of every thread's arena to the system; False where that is not possible.

    Costs a few milliseconds; the engine calls it once per written window and before the COG copy.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
