"""The Dask side of a batch: a client for the parsed ``--scheduler``, one task per scene, results as they come.

``local:N`` starts a ``distributed.LocalCluster`` (N nanny-supervised worker processes with one
thread each, on 127.0.0.1, no dashboard) with ``distributed.scheduler.allowed-failures`` set to
:data:`ALLOWED_FAILURES`: a scene whose worker dies (killed, out of memory, segfault) is rerun on
another worker, and marked failed when a second worker dies running it. A nanny restarts
a dead worker. With ``tcp://HOST:PORT`` the running scheduler's own settings apply (start it with
``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1``, see docs/scaling.md).

Every worker gets the :class:`TorchThreads` plugin (one torch thread per task thread: the worker
processes are the parallelism); the model loads once per worker process on its first scene
(:func:`cloudfree.executors.batch.process_for`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import dask
from distributed import Client, LocalCluster, WorkerPlugin, as_completed

from cloudfree.executors.scheduler import Scheduler, SchedulerError

if TYPE_CHECKING:
    from cloudfree.executors.batch import SceneJob

ALLOWED_FAILURES = 1  # worker deaths a scene may be involved in before it is marked failed (Dask: 3)
LOCAL_CONFIG = {
    "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
    # hand a worker only as many scene tasks as it has threads, so a dying worker takes the blame
    # for the scene it was running and not for scenes merely queued on it
    "distributed.scheduler.worker-saturation": 1.0,
}


class TorchThreads(WorkerPlugin):
    """Sets torch to one intra-op thread in every worker process (set up again on restarted workers)."""

    idempotent = True
    name = "cloudfree-torch-threads"

    def setup(self, worker: Any) -> None:
        if importlib.util.find_spec("torch") is not None:
            import torch

            torch.set_num_threads(1)


@contextlib.contextmanager
def client_for(spec: Scheduler) -> Iterator[Client]:
    """A ``distributed.Client`` on a fresh LocalCluster (closed afterwards) or on a running scheduler."""
    if spec.kind == "local":
        with dask.config.set(LOCAL_CONFIG):
            cluster = LocalCluster(
                n_workers=spec.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.CRITICAL,  # failed scenes are reported by run_batch, one line each
            )
        with cluster, Client(cluster, set_as_default=False) as client:
            yield client
        return
    host, _, port = spec.address.split("://", 1)[1].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=10):
            pass  # fail fast (connection refused, unknown host) before Client's retries
        client = Client(spec.address, timeout="20s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise SchedulerError(f"--scheduler {spec.address}: cannot reach a Dask scheduler there ({exc})") from None
    with client:
        yield client


def run_on_dask(
    todo: list[SceneJob],
    factory: Callable[[], Any],
    spec: Scheduler,
    finished: Callable[[SceneJob, dict | None, BaseException | None], None],
) -> None:
    """Submit one task per job and call ``finished(job, summary, error)`` for each as it completes."""
    from cloudfree.executors.batch import run_job

    if spec.kind == "local":  # no idle worker processes for a small batch
        spec = dataclasses.replace(spec, workers=max(1, min(spec.workers or 1, len(todo))))
    with client_for(spec) as client:
        client.register_plugin(TorchThreads())
        if not client.scheduler_info(n_workers=-1)["workers"]:
            print(f"cloudfree: waiting for Dask workers to connect to {spec.address}", file=sys.stderr)
        token = uuid.uuid4().hex[:8]
        futures = {
            client.submit(run_job, factory, job, key=f"cloudfree-scene-{token}-{i}", pure=False): job
            for i, job in enumerate(todo)
        }
        for future in as_completed(futures, loop=client.loop):
            job = futures.pop(future)
            if future.status == "finished":
                finished(job, future.result(), None)
            else:
                finished(job, None, future.exception())
            future.release()
