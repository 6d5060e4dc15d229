"""The layering contract (scripts/check_layers.py, run by `make lint` and `make test`) holds and bites."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKER = ROOT / "scripts" / "check_layers.py"


def run(src: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECKER), str(src)], capture_output=True, text=True, check=False)


def copy_package(tmp_path):
    """A copy of ``src/cloudfree`` (no caches, no weights) under ``tmp_path / "src"``, to plant imports in."""
    src = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "cloudfree", src / "cloudfree", ignore=shutil.ignore_patterns("__pycache__", "*.safetensors")
    )
    return src


def test_the_package_keeps_its_layers():
    result = run(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_upward_import_fails_the_check(tmp_path):
    src = copy_package(tmp_path)
    (src / "cloudfree" / "io" / "sneaky.py").write_text(
        "def f():\n    from cloudfree.inference.streaming import predict_scene  # lazy, still counted\n"
        "    return predict_scene\n"
    )
    (src / "cloudfree" / "bands_extra.py").write_text("from cloudfree.io import read_raster\n")
    result = run(src)
    assert result.returncode == 1
    assert "cloudfree.io.sneaky (io) imports cloudfree.inference.streaming (inference)" in result.stdout
    assert "cloudfree.bands_extra has no layer" in result.stdout  # every module must be placed


def test_relative_and_package_imports_resolve(tmp_path):
    src = copy_package(tmp_path)
    (src / "cloudfree" / "data" / "sneaky.py").write_text(
        "from ..evaluation import report\nfrom cloudfree import demo\n"
    )
    result = run(src)
    assert result.returncode == 1
    assert "imports cloudfree.evaluation.report (evaluation)" in result.stdout
    assert "imports cloudfree.demo (commands/cli/api)" in result.stdout


def test_make_lint_and_test_run_the_checker():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lint:", "test:"):
        body = makefile.split(target, 1)[1].split("\n\n", 1)[0]
        assert "scripts/check_layers.py" in body, target
