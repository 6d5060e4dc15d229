"""Overlapped stages of the streaming engine: reading ahead and writing behind on background threads.

The engine's loop (:func:`~cloudfree.inference.streaming.predict_scene`) has three kinds of work per
strip: reading the next input rows (GDAL decompression), computing (stacking tiles, the model,
blending), and finishing output windows (``finalize``, casting, GDAL compression of the temporary
GTiff). rasterio releases the GIL while GDAL reads and writes, and numpy while it works on large
arrays, so the three overlap on threads even in CPython:

* :class:`Stage` runs submitted calls **in order on one thread** (a one-worker executor) and keeps
  at most ``depth`` of them in flight: :meth:`Stage.submit` waits for the oldest before queueing
  another, so memory stays bounded by ``depth`` strips (or windows). Because one thread does all the
  calls of a stage, a dataset handle used only inside one stage is never used by two threads at once
  (rasterio datasets are not thread-safe).
* An exception raised on the stage's thread is re-raised in the engine's thread at the next
  :meth:`Stage.submit`, :meth:`Stage.result` or :meth:`Stage.drain`; leaving the stage's context
  with an exception cancels what is queued and waits for the running call, so no thread outlives
  the pass and the writers' temporary files are removed (nothing partial is left).
* ``threaded=False`` runs every call at once in the caller's thread (the serial engine: same
  calls, same order, same bytes), for debugging and for the serial-vs-threaded identity test.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Stage(Generic[T]):
    """Calls of one pipeline stage, run in submission order on one background thread.

    Args:
        name: thread name (shows in tracebacks and profilers).
        depth: calls in flight at most (queued or running); ``submit`` blocks beyond that.
        threaded: False runs each call at submission, in the caller's thread.
    """

    def __init__(self, name: str, depth: int = 1, threaded: bool = True) -> None:
        if depth < 1:
            raise ValueError(f"a stage needs depth >= 1, got {depth}")
        self.name, self.depth, self.threaded = name, depth, threaded
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[T]] = deque()

    def __enter__(self) -> Stage[T]:
        if self.threaded:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"cloudfree-{self.name}")
        return self

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        """Queue ``fn(*args, **kwargs)``; first wait (and re-raise) while ``depth`` calls are in flight."""
        while len(self._pending) >= self.depth:
            self._pending.popleft().result()
        if self._pool is None:
            future: Future[T] = Future()
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to the caller through the future
                future.set_exception(exc)
        else:
            future = self._pool.submit(fn, *args, **kwargs)
        self._pending.append(future)
        return future

    def result(self) -> T:
        """The oldest call's result, in submission order (waits for it; re-raises its exception)."""
        if not self._pending:
            raise RuntimeError(f"stage {self.name!r}: no call in flight")
        return self._pending.popleft().result()

    def drain(self) -> None:
        """Wait for every call in flight (re-raising the first exception)."""
        while self._pending:
            self._pending.popleft().result()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self.drain()
        finally:
            for future in self._pending:
                future.cancel()
            self._pending.clear()
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
