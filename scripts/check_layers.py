"""Layering contract of the cloudfree package, checked on the source (AST, nothing imported).

Layers, lowest first; a module may import its own layer and the layers below, never one above,
not even lazily inside a function:

    core        bands, masks, radiometry, raster, errors, normalization, metrics
    io          io/, executors/ (generic batch runner: imports only cloudfree.errors)
    data        data/, models/, masking/ (tile-level mask methods), acquisition/
    training    tasks/, training/
    inference   inference/ (the streaming engine and the pipelines on it)
    evaluation  evaluation/
    top         commands/, cli, demo, api, __main__

The package root ``cloudfree/__init__.py`` (the lazy public facade) is outside the contract, and
``from cloudfree import bands`` counts as an import of ``cloudfree.bands``. KNOWN_VIOLATIONS lists
the imports still being moved (one place, each with its owner); the check fails on any other.

Usage: ``python scripts/check_layers.py [SRC_DIR]`` (default ``src``); exit 1 with one line per
violation, 0 when the contract holds.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

LAYERS: dict[str, int] = {
    "bands": 0,
    "masks": 0,
    "radiometry": 0,
    "raster": 0,
    "errors": 0,
    "normalization": 0,
    "metrics": 0,
    "io": 1,
    "executors": 1,  # generic batch runner (imports only errors); inference/batch builds its jobs
    "data": 2,
    "models": 2,
    "masking": 2,
    "acquisition": 2,
    "tasks": 3,
    "training": 3,
    "inference": 4,
    "evaluation": 5,
    "commands": 6,
    "cli": 6,
    "demo": 6,
    "api": 6,
    "__main__": 6,
}
NAMES = ["core", "io", "data/models/masking", "tasks/training", "inference", "evaluation", "commands/cli/api"]
# (importer, imported) pairs tolerated until their owners move them; nothing else may point up.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    """The layer of ``cloudfree.x.y`` (None for the package root and unknown top-level names)."""
    parts = module.split(".")
    if parts[0] != "cloudfree" or len(parts) < 2:
        return None
    return LAYERS.get(parts[1])


def imports_of(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Absolute ``cloudfree.*`` modules imported anywhere in ``tree`` (functions included)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("cloudfree"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("cloudfree"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return found


def violations(src: Path, seen: set[tuple[str, str]] | None = None) -> list[str]:
    """One message per import that points up the layers and is not a known violation.

    ``seen`` collects the known violations that still occur (the others can leave the list).
    """
    files = sorted((src / "cloudfree").rglob("*.py"))
    known = {module_name(p, src) for p in files}
    out = []
    for path in files:
        module = module_name(path, src)
        own = layer_of(module)
        if own is None:
            if module != "cloudfree":
                out.append(f"{path}: {module} has no layer; add its top-level name to LAYERS in {Path(__file__).name}")
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for target in sorted(imports_of(tree, module, path.name == "__init__.py", known)):
            theirs = layer_of(target)
            if theirs is None or theirs <= own:
                continue
            if (module, target) in KNOWN_VIOLATIONS:
                if seen is not None:
                    seen.add((module, target))
            else:
                out.append(f"{path}: {module} ({NAMES[own]}) imports {target} ({NAMES[theirs]}), a higher layer")
    return out


def main(argv: list[str]) -> int:
    src = Path(argv[0]) if argv else Path("src")
    seen: set[tuple[str, str]] = set()
    found = violations(src, seen)
    for importer, imported in sorted(KNOWN_VIOLATIONS - seen):
        print(f"layering: known violation {importer} -> {imported} is gone; remove it from KNOWN_VIOLATIONS")
    for line in found:
        print(line)
    if found:
        print(f"layering: {len(found)} violation(s); see scripts/check_layers.py for the layers", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
