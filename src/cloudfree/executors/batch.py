"""Batches of scenes: one task per scene, sequential in-process or on Dask (local processes or a cluster).

:func:`run_batch` takes :class:`SceneJob` s and a *worker factory*: a picklable zero-argument
callable returning ``process(job) -> dict``. The factory is called once per process (the model
loads there once, in a per-process cache keyed by the factory), ``process`` writes the job's output
atomically itself (temporary name, then rename), so an output that exists is a complete one: a
rerun skips it unless ``overwrite``. A scene that fails is reported with its one-line message and
the others finish; a scene that kills its worker process (segfault, out of memory) is marked
failed after Dask's ``distributed.scheduler.allowed-failures`` worker deaths instead of being
retried forever.

Where the tasks run (``scheduler``, the CLI's ``--scheduler``; see :func:`parse_scheduler`):

* ``None``: sequentially in this process;
* ``"local"`` / ``"local:N"``: a ``distributed.LocalCluster`` of N single-threaded worker processes
  on 127.0.0.1 (N defaults to the number of CPU cores), started and closed by the batch;
* ``"tcp://HOST:PORT"`` (or ``tls://``): a running Dask scheduler, e.g. ``dask scheduler`` +
  ``dask worker`` s, dask-jobqueue or the Dask Kubernetes operator (docs/scaling.md). Its workers
  need cloudfree installed and the input and output paths visible under the same names.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudfree.errors import CloudfreeError
from cloudfree.executors.scheduler import parse_scheduler


class BatchError(CloudfreeError, ValueError):
    """A batch that cannot start as given (e.g. two scenes writing the same output)."""


@dataclass(frozen=True)
class SceneJob:
    """One scene of a batch.

    Attributes:
        name: display name, e.g. the input file name.
        output: final output path; the worker's ``process`` writes it atomically.
        inputs: named input paths: ``"optical"`` (required), ``"mask"``, ``"sar"``, ``"prev"`` ...
    """

    name: str
    output: str
    inputs: Mapping[str, str] = field(default_factory=dict)


@dataclass
class BatchReport:
    """Outcome of a batch: job names done and skipped (output existed), failed ``(name, message)``.

    ``summaries`` maps each done job's name to the dict its ``process`` returned.
    """

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    summaries: dict[str, dict] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        """One line of counts, then one ``FAILED name: message`` line per failed scene."""
        lines = [f"{len(self.done)} written, {len(self.skipped)} skipped (already done), {len(self.failed)} failed"]
        lines += [f"  FAILED {name}: {message}" for name, message in self.failed]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# what runs in a worker process

_PROCESSES: dict[Any, Callable[[SceneJob], dict]] = {}
_LOCK = threading.Lock()


def _cache_key(factory: Callable[[], Any]) -> Any:
    try:
        hash(factory)
        return factory
    except TypeError:  # an unhashable factory: key by its pickled bytes
        import cloudpickle

        return cloudpickle.dumps(factory)


def process_for(factory: Callable[[], Callable[[SceneJob], dict]]) -> Callable[[SceneJob], dict]:
    """``factory()`` called once per process and cached (the model loads once per worker)."""
    key = _cache_key(factory)
    with _LOCK:
        if key not in _PROCESSES:
            _PROCESSES[key] = factory()
        return _PROCESSES[key]


def run_job(factory: Callable[[], Callable[[SceneJob], dict]], job: SceneJob) -> dict:
    """The task of one scene: this process's ``process`` applied to ``job``; its summary dict."""
    return dict(process_for(factory)(job) or {})


def one_line(exc: BaseException) -> str:
    """The user-facing message of a failed scene: a CloudfreeError's own text, else ``Type: text``."""
    if type(exc).__name__ == "KilledWorker":
        return (
            "its worker process died each time it ran this scene (a crash such as running out of memory); "
            "see the Dask worker logs"
        )
    text = " ".join(str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc).split())
    return text if isinstance(exc, CloudfreeError) else f"{type(exc).__name__}: {text}"


# ---------------------------------------------------------------------------------------------
# the batch


def _plan(jobs: list[SceneJob], overwrite: bool, report: BatchReport) -> list[SceneJob]:
    """Jobs to run: refuses colliding outputs, skips finished ones, fails those writing onto an input."""
    outputs: dict[str, str] = {}
    for job in jobs:
        key = os.path.abspath(job.output)
        if key in outputs:
            raise BatchError(f"scenes {outputs[key]!r} and {job.name!r} would both write {job.output}")
        outputs[key] = job.name
    todo = []
    for job in jobs:
        out = Path(job.output).resolve()
        if any(Path(p).resolve() == out for p in job.inputs.values()):
            report.failed.append((job.name, f"output {job.output} would overwrite an input; choose another output"))
        elif out.exists() and not overwrite:
            report.skipped.append(job.name)
        else:
            todo.append(job)
    return todo


def run_batch(
    jobs: Iterable[SceneJob],
    factory: Callable[[], Callable[[SceneJob], dict]],
    *,
    scheduler: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> BatchReport:
    """Run ``factory()(job)`` for every job, one task per scene; see the module docstring.

    Failed scenes are printed to stderr as they happen (``cloudfree: NAME: message``); the caller
    prints :meth:`BatchReport.summary` and turns ``not report.ok`` into its exit code.
    """
    from tqdm import tqdm

    spec = parse_scheduler(scheduler)
    jobs = list(jobs)
    report = BatchReport()
    todo = _plan(jobs, overwrite, report)
    bar = tqdm(total=len(todo), desc="scenes", unit="scene", file=sys.stderr, disable=not progress or not todo)

    def finished(job: SceneJob, summary: dict | None, exc: BaseException | None) -> None:
        if exc is None:
            report.done.append(job.name)
            report.summaries[job.name] = summary or {}
        else:
            message = one_line(exc)
            report.failed.append((job.name, message))
            bar.write(f"cloudfree: {job.name}: {message}", file=sys.stderr)
        bar.update(1)

    try:
        if not todo:
            pass
        elif spec.kind == "sequential":
            for job in todo:
                try:
                    summary = run_job(factory, job)
                except Exception as exc:  # any scene's failure is reported, the others go on
                    finished(job, None, exc)
                else:
                    finished(job, summary, None)
        else:
            from cloudfree.executors.on_dask import run_on_dask

            run_on_dask(todo, factory, spec, finished)
    finally:
        bar.close()
    order = {job.name: i for i, job in enumerate(jobs)}
    report.done.sort(key=order.__getitem__)
    report.failed.sort(key=lambda item: order[item[0]])
    return report
