"""After ``kill -9`` the next run of the same output removes the temporaries the dead process left.

Before (issue 15 item 5): hidden ``.part`` / ``.ovr.tmp`` files of 20-100 MB and
``/tmp/cloudfree-*`` folders stayed forever, and a rerun did not clean them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from cloudfree.io import write_raster
from cloudfree.io.atomic import HOST, remove_stale_temporaries, temp_directory, temp_sibling
from cloudfree.io.writer import WindowedCOGWriter
from tests.fixtures import make_raster

REPO = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from affine import Affine
    from rasterio.crs import CRS
    from rasterio.windows import Window
    from cloudfree.io.writer import WindowedCOGWriter

    size = 2048
    with WindowedCOGWriter(sys.argv[1], height=size, width=size, crs=CRS.from_epsg(32633),
                           transform=Affine(10, 0, 500000, 0, -10, 5100000),
                           descriptions=("B02", "B03", "B04", "B08"), dtype="float32", nodata=None) as w:
        rng = np.random.default_rng(0)
        for row in range(0, size, 256):
            w.write(rng.random((4, 256, size), dtype=np.float32), Window(0, row, size, 256))
        w._dst.close()  # flush what was written, as a long run would have by now
        print("written", flush=True)
        time.sleep(600)  # killed here, before the COG copy and the rename
    """
)


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_kill_9_leftovers_are_removed_by_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "scene.tif"
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(out)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "written"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    leftovers = _hidden(tmp_path)
    assert len(leftovers) == 1 and leftovers[0].startswith(f".scene.tif.part-{HOST}-{proc.pid}-")
    assert (tmp_path / leftovers[0]).stat().st_size > 5_000_000  # a large, real leftover
    assert not out.exists()

    # the same output written again: the dead process's temporary goes, nothing else is left
    write_raster(make_raster(16, 16), out)
    assert out.is_file() and _hidden(tmp_path) == []


def test_gdal_side_files_of_a_dead_temporary_go_with_it(tmp_path: Path) -> None:
    out = tmp_path / "scene.tif"
    pid = _dead_pid()
    stem = f".scene.tif.tmp-{HOST}-{pid}-abcdef.tif"
    for name in (stem, stem + ".ovr.tmp", stem + ".aux.xml"):
        (tmp_path / name).write_bytes(b"x" * 100)
    other = tmp_path / f".other.tif.tmp-{HOST}-{pid}-abcdef.tif"  # another output's: not ours to clean now
    other.write_bytes(b"x")
    with WindowedCOGWriter(
        out, height=16, width=16, crs=None, transform=make_raster().transform, descriptions=("a",),
        dtype="uint8", nodata=None,
    ) as w:  # fmt: skip
        from rasterio.windows import Window

        w.write(np.zeros((1, 16, 16), np.uint8), Window(0, 0, 16, 16))
    assert _hidden(tmp_path) == [other.name]


def test_live_processes_keep_their_temporaries(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".scene.tif.part-{HOST}-{sleeper.pid}-abcdef.tif"
        live.write_bytes(b"x")
        foreign = tmp_path / f".scene.tif.part-000000-{_dead_pid()}-abcdef.tif"  # another host: unknown
        foreign.write_bytes(b"x")
        assert remove_stale_temporaries(tmp_path / "scene.tif") == []
        assert live.exists() and foreign.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert remove_stale_temporaries(tmp_path / "scene.tif") == [live]


def test_legacy_names_are_removed_when_old(tmp_path: Path) -> None:
    old = tmp_path / ".scene.tif.part-0123abcd.tif"
    new = tmp_path / ".scene.tif.tmp-89abcdef.tif"
    for p in (old, new):
        p.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert remove_stale_temporaries(tmp_path / "scene.tif") == [old]
    assert new.exists()


def test_a_folder_moved_aside_is_put_back_when_the_output_is_missing(tmp_path: Path) -> None:
    store = tmp_path / "chips"
    aside = tmp_path / f".chips.old-{HOST}-{_dead_pid()}-abcdef"
    aside.mkdir()
    (aside / "index.csv").write_text("kept")
    temp_sibling(store, "staging")
    assert (store / "index.csv").read_text() == "kept" and not aside.exists()


def test_temp_directories_of_dead_processes_are_removed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    stale = tmp_path / f"cloudfree-remove-{HOST}-{_dead_pid()}-abcdef"
    (stale / "sub").mkdir(parents=True)
    with temp_directory("remove") as folder:
        assert folder.parent == tmp_path and folder.is_dir()
        assert not stale.exists()
    assert not folder.exists()
    out = tmp_path / "out" / "scene.tif"
    with temp_directory("scratch", near=out) as folder:
        assert folder.parent == out.parent and folder.name.startswith(".scene.tif.scratch-")
    assert list(out.parent.iterdir()) == []
