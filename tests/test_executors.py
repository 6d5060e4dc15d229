"""Batches through cloudfree.executors: --scheduler values, sequential runs (skip, overwrite, failures,
one factory call per process), and on Dask: a LocalCluster (local:2) with a failing and a
worker-crashing scene, and a separately started `dask scheduler` + `dask worker` pair whose worker
is SIGKILLed mid-batch; outputs are byte-identical to a sequential run.

The worker factories live here (picklable dataclasses imported by the workers as
``tests.test_executors``); each records its loads as one line per call in ``loads-<pid>`` files, so
"the model loads once per worker process" is checked across processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from cloudfree.errors import CloudfreeError, RasterReadError
from cloudfree.executors import BatchError, SceneJob, SchedulerError, parse_scheduler, run_batch, scheduler_argument
from cloudfree.io import read_raster, write_mask, write_raster
from cloudfree.radiometry import Radiometry
from tests.fixtures import make_raster

REPO = Path(__file__).resolve().parents[1]


def _record(folder: str, what: str, text: str) -> None:
    with open(Path(folder) / what, "a") as f:
        f.write(text + "\n")


def loads_per_process(folder: Path) -> dict[str, int]:
    """{pid: number of factory calls in that process}."""
    return {p.name.split("-", 1)[1]: len(p.read_text().splitlines()) for p in folder.glob("loads-*")}


@dataclass(frozen=True)
class TinyModelFactory:
    """A 1x1 convolution over 4 bands written as a float32 COG; ``fail`` raises, ``crash`` kills the process."""

    counter_dir: str
    fail: str = ""
    crash: str = ""
    pause: float = 0.0

    def __call__(self):
        _record(self.counter_dir, f"loads-{os.getpid()}", "load")
        model: list = []  # built on the first scene that needs it: a crashing scene stays cheap

        def process(job: SceneJob) -> dict:
            (Path(self.counter_dir) / f"started-{job.name}").write_text(str(os.getpid()))
            if job.name == self.crash:
                os._exit(1)
            if job.name == self.fail:
                raise RasterReadError(f"{job.inputs['optical']}: band B08 is missing (expected B02, B03, B04, B08)")
            import torch

            if not model:
                torch.manual_seed(0)
                model.append(torch.nn.Conv2d(4, 4, 1).eval())
            time.sleep(self.pause)
            raster = read_raster(job.inputs["optical"])
            with torch.no_grad():
                out = model[0](torch.from_numpy(raster.data[None]))[0].numpy()
            write_raster(replace(raster, data=out), job.output, dtype="float32")
            return {"pid": os.getpid(), "torch_threads": torch.get_num_threads()}

        return process


@dataclass(frozen=True)
class IdentityRemovalFactory:
    """Today's ``remove`` with an identity release and a cloud mask (the real compositing path)."""

    release: str
    counter_dir: str
    pause: float = 0.0

    def __call__(self):
        import torch

        from cloudfree.inference.removal import remove

        _record(self.counter_dir, f"loads-{os.getpid()}", "load")

        def process(job: SceneJob) -> dict:
            (Path(self.counter_dir) / f"started-{job.name}").write_text(str(os.getpid()))
            time.sleep(self.pause)
            summary = remove(
                job.inputs["optical"],
                job.output,
                model=self.release,
                mask=job.inputs["mask"],
                tile=32,
                overlap=8,
                device="cpu",
                progress=False,
            )
            return {"pid": os.getpid(), "tiles": summary.tiles, "torch_threads": torch.get_num_threads()}

        return process


def make_scenes(folder: Path, n: int, *, dn: bool = False) -> list[Path]:
    """``n`` small 4-band scenes (reflectance, or DN with a cloud-mask file beside each)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        kind = Radiometry.DN if dn else Radiometry.REFLECTANCE
        raster = make_raster(48, 40, seed=i, radiometry=kind)
        path = write_raster(raster, folder / f"scene{i}.tif")
        if dn:
            codes = np.zeros((48, 40), np.uint8)
            codes[5 + i : 25 + i, 8:30] = 1
            write_mask(codes, raster, folder / f"scene{i}_mask.tif")
        paths.append(path)
    return paths


def jobs_for(scenes: list[Path], out: Path, *, masks: bool = False) -> list[SceneJob]:
    jobs = []
    for s in scenes:
        inputs = {"optical": str(s)}
        if masks:
            inputs["mask"] = str(s.with_name(s.stem + "_mask.tif"))
        jobs.append(SceneJob(s.name, str(out / s.name), inputs))
    return jobs


def same_bytes(a: Path, b: Path, names: list[str]) -> None:
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_parse_scheduler() -> None:
    assert parse_scheduler(None).kind == "sequential"
    assert parse_scheduler("local").workers == (os.cpu_count() or 1)
    assert parse_scheduler("local:3").workers == 3
    assert parse_scheduler("tcp://10.0.0.5:8786").address == "tcp://10.0.0.5:8786"
    for bad in ("local:0", "local:two", "10.0.0.5:8786", "tcp://:8786", "tcp://host", "http://h:1", "tcp://h:99999"):
        with pytest.raises(SchedulerError, match="expected 'local'"):
            parse_scheduler(bad)
    assert issubclass(SchedulerError, CloudfreeError) and issubclass(SchedulerError, ValueError)
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="local:N"):
        scheduler_argument("lokal")


def test_sequential_batch_skips_reports_and_loads_once(tmp_path: Path) -> None:
    scenes = make_scenes(tmp_path / "in", 3)
    counter = tmp_path / "count"
    counter.mkdir()
    factory = TinyModelFactory(str(counter), fail="scene1.tif")
    jobs = jobs_for(scenes, tmp_path / "out")
    report = run_batch(jobs, factory, progress=False)
    assert report.done == ["scene0.tif", "scene2.tif"] and report.skipped == []
    assert report.failed == [("scene1.tif", f"{scenes[1]}: band B08 is missing (expected B02, B03, B04, B08)")]
    assert not report.ok and "1 failed" in report.summary()
    assert not (tmp_path / "out" / "scene1.tif").exists()
    assert list(loads_per_process(counter).values()) == [1]
    # rerun: finished scenes are skipped, the failed one is tried again; --overwrite redoes all
    again = run_batch(jobs, factory, progress=False)
    assert again.skipped == ["scene0.tif", "scene2.tif"] and [n for n, _ in again.failed] == ["scene1.tif"]
    ok = TinyModelFactory(str(counter))
    assert run_batch(jobs, ok, overwrite=True, progress=False).done == [j.name for j in jobs]
    # an output onto its own input fails that scene; two scenes onto one output refuse the batch
    onto = SceneJob("x", str(scenes[0]), {"optical": str(scenes[0])})
    assert "overwrite an input" in run_batch([onto], ok, progress=False).failed[0][1]
    with pytest.raises(BatchError, match="would both write"):
        run_batch([jobs[0], replace(jobs[1], output=jobs[0].output)], ok, progress=False)


@pytest.mark.slow
def test_local_cluster_matches_sequential_and_marks_crashing_scene_failed(tmp_path: Path) -> None:
    scenes = make_scenes(tmp_path / "in", 8)
    seq_count, dask_count = tmp_path / "seq-count", tmp_path / "dask-count"
    seq_count.mkdir(), dask_count.mkdir()
    fail, crash = "scene2.tif", "scene5.tif"
    good = [s.name for s in scenes if s.name not in (fail, crash)]
    sequential = run_batch(
        [j for j in jobs_for(scenes, tmp_path / "seq") if j.name != crash],
        TinyModelFactory(str(seq_count), fail=fail),
        progress=False,
    )
    assert sequential.done == good
    t0 = time.perf_counter()
    report = run_batch(
        jobs_for(scenes, tmp_path / "dask"),
        TinyModelFactory(str(dask_count), fail=fail, crash=crash),
        scheduler="local:2",
        progress=False,
    )
    print(f"local:2 batch of {len(scenes)} scenes with one crash: {time.perf_counter() - t0:.1f} s")
    assert report.done == good
    assert dict(report.failed)[fail] == sequential.failed[0][1]
    assert "worker process died" in dict(report.failed)[crash]
    threads = [s["torch_threads"] for s in report.summaries.values() if "torch_threads" in s]
    assert threads and set(threads) == {1}
    same_bytes(tmp_path / "seq", tmp_path / "dask", good)
    assert not (tmp_path / "dask" / crash).exists() and not list((tmp_path / "dask").glob(".*"))
    loads = loads_per_process(dask_count)
    assert set(loads.values()) == {1}  # one factory call per worker process, restarted ones included
    assert len(loads) >= 2  # restarted workers load again, once


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dask scheduler exited with code {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"dask scheduler did not listen on port {port} within {timeout:.0f} s")


@pytest.fixture
def dask_pair(tmp_path: Path):
    """A `dask scheduler` and two `dask worker` processes (1 thread each, no nanny: a killed worker stays
    dead) started as subprocesses on loopback, with the scheduler settings docs/scaling.md advises."""
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
        "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0",
    }
    address = f"tcp://127.0.0.1:{port}"
    worker = ["worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1", "--no-dashboard",
              "--death-timeout", "60"]  # fmt: skip
    commands = {
        "scheduler": ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        "worker-a": worker,
        "worker-b": worker,
    }
    started = []
    try:
        for name, args in commands.items():
            log = open(tmp_path / f"dask-{name}.log", "w")  # noqa: SIM115 - closed with the process below
            proc = subprocess.Popen([sys.executable, "-m", "dask", *args], env=env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
            started.append((proc, log))
            if name == "scheduler":  # workers and the batch connect once it listens (a cold start takes seconds)
                _wait_for_port(port, proc, timeout=120)
        yield address
    finally:
        for proc, log in reversed(started):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            log.close()


@pytest.mark.slow
def test_dask_scheduler_and_worker_survive_a_killed_worker(tmp_path: Path, dask_pair: str) -> None:
    """A separately started scheduler + two workers; one worker process is SIGKILLed mid-scene."""
    from tests.test_inference.releases import identity_release  # torch: not imported by workers with this module

    scenes = make_scenes(tmp_path / "in", 6, dn=True)
    release = str(identity_release(tmp_path / "identity"))
    seq_count, dask_count = tmp_path / "seq-count", tmp_path / "dask-count"
    seq_count.mkdir(), dask_count.mkdir()
    sequential = run_batch(
        jobs_for(scenes, tmp_path / "seq", masks=True), IdentityRemovalFactory(release, str(seq_count)), progress=False
    )
    assert sequential.ok and len(sequential.done) == 6

    killed: list[int] = []

    def kill_first_started() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            markers = sorted(dask_count.glob("started-*"))
            if markers:
                pid = int(markers[0].read_text())
                os.kill(pid, signal.SIGKILL)  # the worker process running that scene
                killed.append(pid)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_started, daemon=True)
    killer.start()
    t0 = time.perf_counter()
    report = run_batch(
        jobs_for(scenes, tmp_path / "dask", masks=True),
        IdentityRemovalFactory(release, str(dask_count), pause=1.5),
        scheduler=dask_pair,
        progress=False,
    )
    killer.join(timeout=5)
    print(f"scheduler + 2 workers, one killed: {time.perf_counter() - t0:.1f} s")
    assert killed, "no scene started"
    assert report.ok, report.summary()
    assert report.done == sequential.done
    assert killed[0] not in {s["pid"] for s in report.summaries.values()}
    same_bytes(tmp_path / "seq", tmp_path / "dask", report.done)
    loads = loads_per_process(dask_count)
    assert str(killed[0]) in loads and set(loads.values()) == {1} and len(loads) == 2
    threads = [s["torch_threads"] for s in report.summaries.values() if "torch_threads" in s]
    assert threads and set(threads) == {1}


def test_unreachable_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    scenes = make_scenes(tmp_path / "in", 1)
    with pytest.raises(SchedulerError, match=r"cannot reach a Dask scheduler"):
        run_batch(jobs_for(scenes, tmp_path / "out"), TinyModelFactory(str(tmp_path)),
                  scheduler=f"tcp://127.0.0.1:{_free_port()}", progress=False)  # fmt: skip
