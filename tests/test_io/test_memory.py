"""Handing freed heap pages back to the system (glibc ``malloc_trim``; a no-op elsewhere)."""

from __future__ import annotations

import sys

import numpy as np

from cloudfree.io.memory import release_free_memory


def test_release_free_memory_is_safe_to_call_and_says_whether_it_could():
    blocks = [np.ones(2**20, np.uint8) for _ in range(8)]  # a few MB through the heap, then freed
    del blocks
    done = release_free_memory()
    assert isinstance(done, bool)
    if sys.platform.startswith("linux"):  # glibc (the wheels' platform); musl has no malloc_trim
        import ctypes.util

        assert done or "musl" in (ctypes.util.find_library("c") or "")
