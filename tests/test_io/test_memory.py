"""The heap of a scene pass (glibc): freed pages handed back, malloc arenas capped; no-ops elsewhere."""

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


def test_limit_heap_arenas_leaves_a_user_setting_alone_and_threads_still_allocate(monkeypatch):
    import threading

    from cloudfree.io import memory

    memory.limit_heap_arenas.cache_clear()
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert memory.limit_heap_arenas() is False  # the exported value wins: nothing set
    memory.limit_heap_arenas.cache_clear()
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    done = memory.limit_heap_arenas()
    if sys.platform.startswith("linux") and "musl" not in (memory.ctypes.util.find_library("c") or ""):
        assert done is True  # glibc accepted M_ARENA_MAX
    sums = []
    workers = [threading.Thread(target=lambda: sums.append(int(np.ones(2**20, np.uint8).sum()))) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sums == [2**20] * 4  # threads share the capped arenas and allocate as before
