"""Batch runs over many scenes: a folder or a glob pattern in, one output per scene in a folder.

Each scene's output is ``OUTDIR/<input file name>``, written atomically by the per-scene function,
so an existing output is a complete one: a rerun skips it (unless ``overwrite``) and picks up
where an interrupted run stopped. A scene that fails (bad file, band mismatch ...) is reported
with its file and reason and the others go on; the caller turns any failure into a non-zero exit.
Per-scene side inputs (masks, Sentinel-1) come from folders holding files of the same name.
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

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


@dataclass
class BatchResult:
    """Outcome of a batch: outputs written, skipped (already complete), failed ``(input, reason)``."""

    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        lines = [f"{len(self.done)} written, {len(self.skipped)} skipped (already done), {len(self.failed)} failed"]
        lines += [f"  FAILED {path}: {reason}" for path, reason in self.failed]
        return "\n".join(lines)


def run_batch(
    inputs: list[Path],
    out_dir: str | os.PathLike[str],
    process: Callable[[Path, Path], Any],
    *,
    overwrite: bool = False,
    progress: bool = True,
    log: TextIO | None = None,
) -> BatchResult:
    """Run ``process(input, output)`` for each scene; see the module docstring for the rules.

    Failures and the final summary are printed to ``log`` (default: stderr).
    """
    log = log or sys.stderr
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: output of a batch run must be a folder")
    names = [p.name for p in inputs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"several inputs share the file name(s) {dupes}; outputs in {out} would collide")
    out.mkdir(parents=True, exist_ok=True)
    result = BatchResult()
    for scene in tqdm(inputs, desc="scenes", unit="scene", file=sys.stderr, disable=not progress or len(inputs) < 2):
        target = out / scene.name
        if target.resolve() == scene.resolve():
            result.failed.append((scene, "output would overwrite the input; choose another output folder"))
            continue
        if target.exists() and not overwrite:
            result.skipped.append(target)
            continue
        try:
            process(scene, target)
        except (ValueError, OSError, RuntimeError, KeyError) as exc:
            reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            result.failed.append((scene, str(reason)))
            print(f"cloudfree: {scene}: {reason}", file=log)
            continue
        result.done.append(target)
    print(result.summary(), file=log)
    return result
