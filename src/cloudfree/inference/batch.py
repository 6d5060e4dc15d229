"""Batch runs over many scenes: a folder or a glob pattern in, one output per scene in a folder.

Each scene's output is ``OUTDIR/<input file name>``, written atomically by the per-scene function,
so an existing output is a complete one: a rerun skips it (unless ``overwrite``) and picks up
where an interrupted run stopped. A scene that fails (bad file, band mismatch ...) is reported
with its file and reason and the others go on; the caller turns any failure into a non-zero exit.
Per-scene side inputs (masks, Sentinel-1, earlier dates) come from folders holding files of the
same name. A batch is a list of :class:`SceneJob` and a *worker factory* (interfaces.md item 2,
e.g. :class:`cloudfree.inference.remover.RemoverFactory`): the factory is called once, so the
model loads once for the whole batch; :func:`run_batch` has the signature of the distributed
executors' runner, which replaces it for ``--scheduler``.
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from cloudfree.errors import CloudfreeError

RASTER_SUFFIXES = (".tif", ".tiff", ".TIF", ".TIFF")


def expand_inputs(spec: str | os.PathLike[str]) -> list[Path]:
    """Scenes named by ``spec``: a folder (its GeoTIFFs), a glob pattern, or one file."""
    text = str(spec)
    path = Path(text)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix in RASTER_SUFFIXES and not p.name.startswith("."))
        if not found:
            raise FileNotFoundError(f"{path}: folder holds no .tif scenes")
        return found
    if glob.has_magic(text):
        found = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
        if not found:
            raise FileNotFoundError(f"{text}: pattern matches no files")
        return found
    return [path]


def is_batch(spec: str | os.PathLike[str], output: str | os.PathLike[str]) -> bool:
    """True when ``spec`` names a folder or a pattern, or ``output`` is a folder (ends with ``/``)."""
    text = str(spec)
    return Path(text).is_dir() or glob.has_magic(text) or str(output).endswith(os.sep) or Path(output).is_dir()


def side_input(folder_or_file: str | os.PathLike[str] | None, scene: Path, what: str) -> Path | None:
    """The per-scene file for ``scene`` in a folder (same file name); a plain value passes through."""
    if folder_or_file is None:
        return None
    p = Path(folder_or_file)
    if not p.is_dir():
        return p
    candidate = p / scene.name
    if not candidate.exists():
        raise FileNotFoundError(f"{scene}: no {what} {candidate} (the {what} folder must hold a file of the same name)")
    return candidate


@dataclass(frozen=True)
class SceneJob:
    """One scene of a batch (interfaces.md item 2).

    Attributes:
        name: display name (the input file name).
        output: final output path; the worker writes it atomically itself.
        inputs: named input paths: ``optical`` (required), ``mask``, ``sar``, ``prev``, ``prev_sar``.
    """

    name: str
    output: str
    inputs: Mapping[str, str]


@dataclass
class BatchReport:
    """Outcome of a batch: outputs written, skipped (already complete), failed ``(name, reason)``."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        lines = [f"{len(self.done)} written, {len(self.skipped)} skipped (already done), {len(self.failed)} failed"]
        lines += [f"  FAILED {name}: {reason}" for name, reason in self.failed]
        return "\n".join(lines)


BatchResult = BatchReport  # former name


def scene_jobs(
    scenes: list[Path], out_dir: str | os.PathLike[str], side: Mapping[str, str | os.PathLike[str] | None] | None = None
) -> list[SceneJob]:
    """One job per scene, output ``OUTDIR/<scene name>``; ``side`` maps input names (``mask``,
    ``sar``, ``prev``, ``prev_sar``) to folders holding files of the scene's name (or one file)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: output of a batch run must be a folder")
    names = [p.name for p in scenes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"several inputs share the file name(s) {dupes}; outputs in {out} would collide")
    jobs = []
    for scene in scenes:
        inputs = {"optical": str(scene)}
        for key, spec in (side or {}).items():
            path = side_input(spec, scene, key.replace("_", " "))
            if path is not None:
                inputs[key] = str(path)
        jobs.append(SceneJob(scene.name, str(out / scene.name), inputs))
    return jobs


def run_batch(
    jobs: Sequence[SceneJob],
    factory: Callable[[], Callable[[SceneJob], dict[str, Any]]],
    *,
    scheduler: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    log: TextIO | None = None,
) -> BatchReport:
    """Run every job with one worker built by ``factory()`` (its model loads once); see the module docstring.

    ``scheduler`` is reserved for the distributed executors (``cloudfree.executors``); here only
    ``None`` (sequential, in this process) is accepted. Failures and the final summary go to ``log``
    (default: stderr).
    """
    if scheduler is not None:
        raise ValueError(f"scheduler {scheduler!r}: this build runs batches sequentially only")
    log = log or sys.stderr
    report = BatchReport()
    process: Callable[[SceneJob], dict[str, Any]] | None = None
    for job in tqdm(jobs, desc="scenes", unit="scene", file=sys.stderr, disable=not progress or len(jobs) < 2):
        target = Path(job.output)
        if any(target.resolve() == Path(p).resolve() for p in job.inputs.values()):
            report.failed.append((job.name, "output would overwrite an input; choose another output folder"))
            print(f"cloudfree: {job.name}: output would overwrite an input", file=log)
            continue
        if target.exists() and not overwrite:
            report.skipped.append(str(target))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            process = process or factory()
            report.results.append(process(job))
        except (CloudfreeError, ValueError, OSError, RuntimeError, KeyError) as exc:
            reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            report.failed.append((job.name, str(reason)))
            print(f"cloudfree: {job.inputs.get('optical', job.name)}: {reason}", file=log)
            continue
        report.done.append(str(target))
    print(report.summary(), file=log)
    return report
