"""Batches of scenes as tasks: sequential, on a local Dask cluster, or on a running Dask scheduler.

See :mod:`cloudfree.executors.batch` (jobs, worker factories, :func:`run_batch`) and
:mod:`cloudfree.executors.scheduler` (``--scheduler`` values); docs/scaling.md for clusters.
"""

from cloudfree.executors.batch import BatchError, BatchReport, SceneJob, process_for, run_batch, run_job
from cloudfree.executors.scheduler import (
    SCHEDULER_HELP,
    Scheduler,
    SchedulerError,
    parse_scheduler,
    scheduler_argument,
)

__all__ = [
    "SCHEDULER_HELP",
    "BatchError",
    "BatchReport",
    "SceneJob",
    "Scheduler",
    "SchedulerError",
    "parse_scheduler",
    "process_for",
    "run_batch",
    "run_job",
    "scheduler_argument",
]
