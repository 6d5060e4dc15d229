"""Batch runs over many scenes: a folder or a glob pattern in, one output per scene in a folder.

Each scene's output is ``OUTDIR/<input file name>``, written atomically by the per-scene function,
so an existing output is a complete one: a rerun skips it (unless ``overwrite``) and picks up
where an interrupted run stopped. A scene that fails (bad file, band mismatch ...) is reported
with its file and reason and the others go on; the caller turns any failure into a non-zero exit.
Per-scene side inputs (masks, Sentinel-1, earlier dates) come from folders holding files of the
same name. A batch is a list of :class:`SceneJob` and a *worker factory* (interfaces.md item 2,
e.g. :class:`cloudfree.inference.remover.RemoverFactory`): the factory is called once, so the
model loads once per process. The batch itself runs on :func:`cloudfree.executors.run_batch`
(sequential, or Dask tasks with ``--scheduler``); this module builds its jobs.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from pathlib import Path

from cloudfree.executors import BatchReport, SceneJob, run_batch
from cloudfree.io.open import is_product

__all__ = ["BatchReport", "SceneJob", "expand_inputs", "is_batch", "run_batch", "scene_jobs", "side_input"]

RASTER_SUFFIXES = (".tif", ".tiff", ".TIF", ".TIFF")


def expand_inputs(spec: str | os.PathLike[str]) -> list[Path]:
    """Scenes named by ``spec``: a folder (its GeoTIFFs), a glob pattern, or one file or product.

    A product folder (SAFE, band-per-file, fetched pair: :func:`cloudfree.io.open.is_product`) is
    one scene, not a batch."""
    text = str(spec)
    path = Path(text)
    if path.is_dir() and not is_product(path):
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
    folder = Path(text).is_dir() and not is_product(text)
    return folder or glob.has_magic(text) or str(output).endswith(os.sep) or Path(output).is_dir()


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
