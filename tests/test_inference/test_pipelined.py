"""The overlapped engine: threaded and serial runs write the same bytes, and errors raised on the reader
or writer thread reach the caller and leave no file."""

from __future__ import annotations

import numpy as np
import pytest

from cloudfree.inference.sources import Source
from cloudfree.inference.stages import Stage
from cloudfree.inference.streaming import predict_scene
from cloudfree.io import write_raster
from tests.fixtures import make_raster


def tile_dependent(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """A model whose output depends on the whole tile (so blending matters): input minus the tile mean."""
    return x[:, :2] - x[:, :2].mean(axis=(2, 3), keepdims=True) + 0.25 * valid[:, None]


def _scene(tmp_path, h=150, w=130):
    r = make_raster(h, w, seed=11)
    r.valid[:5, :7] = False
    return write_raster(r, tmp_path / "in.tif")


def _files(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir())


def test_threaded_and_serial_runs_write_the_same_bytes(tmp_path):
    src = _scene(tmp_path)
    for threaded in (True, False):
        summary = predict_scene(src, tmp_path / f"out-{threaded}.tif", tile_dependent, out_descriptions=["a", "b"],
                                tile=48, overlap=8, batch_size=3, progress=False, threaded=threaded)  # fmt: skip
        assert summary.extra["rows_read"] == {"input0": 150}
    assert (tmp_path / "out-True.tif").read_bytes() == (tmp_path / "out-False.tif").read_bytes()


@pytest.mark.parametrize("threaded", [True, False])
def test_an_error_in_finalize_or_in_a_read_reaches_the_caller_and_leaves_nothing(tmp_path, monkeypatch, threaded):
    src = _scene(tmp_path)
    before = _files(tmp_path)
    calls = []

    def finalize(blended, window, raster):
        calls.append(window.row_off)
        if len(calls) == 2:
            raise ZeroDivisionError("finalize failed on the writer thread")
        return blended

    with pytest.raises(ZeroDivisionError):
        predict_scene(src, tmp_path / "out.tif", tile_dependent, out_descriptions=["a", "b"], tile=32, overlap=8,
                      finalize=finalize, progress=False, threaded=threaded)  # fmt: skip
    assert _files(tmp_path) == before

    real_read, reads = Source.read, []

    def failing_read(self, window):
        reads.append(window)
        if len(reads) == 3:
            raise OSError("read failed on the reader thread")
        return real_read(self, window)

    monkeypatch.setattr(Source, "read", failing_read)
    with pytest.raises(OSError, match="reader thread"):
        predict_scene(src, tmp_path / "out.tif", tile_dependent, out_descriptions=["a", "b"], tile=32, overlap=8,
                      progress=False, threaded=threaded)  # fmt: skip
    assert _files(tmp_path) == before


def test_a_stage_keeps_order_bounds_calls_in_flight_and_reraises():
    seen = []
    with Stage[int]("t", depth=2) as stage:
        for k in range(5):
            stage.submit(seen.append, k)
            assert len(stage._pending) <= 2
    assert seen == [0, 1, 2, 3, 4]
    with pytest.raises(KeyError), Stage[None]("t", depth=1) as stage:
        stage.submit({}.__getitem__, "missing")
        stage.submit(seen.append, 5)  # waits for the first call, which raises here
    assert seen[-1] == 4
