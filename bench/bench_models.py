"""Model speed, and the diffusion sampler's speed/quality trade-off per number of steps.

Part 1, throughput of every cloud-removal model at its default (paper-like) size, built through
its Lightning task exactly as ``cloudfree train`` builds it:

* training samples/s: optimisation steps of a Lightning ``Trainer`` (all networks of the task,
  e.g. generator + discriminator for Pix2Pix, both generators and both discriminators for
  CycleGAN), timed after ``--warmup`` steps;
* inference patches/s: the released network (``task.predictor()``) in eval mode, no grad. For the
  diffusion model this is ONE network evaluation (a sample costs ``steps x n_samples`` of them).

Inputs are ``--patch`` px RGBN (4 bands: B02, B03, B04, B08) reflectance; Pix2Pix and diffusion
also get the cloud mask channel, DSen2-CR and the multi-temporal model Sentinel-1 VV/VH (the latter
at two dates). The numbers come from real Sen1Floods11 chips (../shared/data) under simulated
clouds, though speed does not depend on the values.

Part 2, the diffusion sampler. A small conditional diffusion model is trained for ``--train-steps``
steps on crops of the northern 3/4 of the Sen1Floods11 scene under simulated clouds, then
``--eval-chips`` chips from the southern quarter (unseen pixels) are sampled, one sample each, with
DDPM (1000 steps, ancestral), DDIM (1000, 50, 20, 10 steps) and DPM-Solver++ (50, 20, 10 steps);
``--quick`` runs 100 and 10 steps only. Each row reports the time per chip and the PSNR (dB,
reflectance 0..1) of the raw sample against the clear target over all pixels and over the cloudy
pixels, next to the cloudy input's own PSNR.
THE MODEL IS UNDER-TRAINED (minutes on a CPU, a few thousand samples): its absolute PSNR says
nothing about what a trained diffusion model reaches. What the table shows is the trade-off: how
much the estimate changes and how long it takes as the number of steps falls from 1000 to 10.

Results: a table on stdout and ``bench/results/models.json``. Never part of the test run.

    python bench/bench_models.py                 # defaults: minutes on an idle CPU, most of it part 2's
                                                 # two 1000-step runs (4 chips x 1000 network calls each)
    python bench/bench_models.py --quick         # tiny sizes, a smoke run
    python bench/bench_models.py --device cuda --patch 256 --batch 8
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from rasterio.windows import Window
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cloudfree import metrics
from cloudfree.data.dataset import SyntheticCloudDataset
from cloudfree.data.synthetic_clouds import CloudSimulator
from cloudfree.io.geotiff import read_raster
from cloudfree.models.diffusion import sample
from cloudfree.tasks import task_class
from common import best_time, print_table, save_json

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sen1floods11_spain"
S2, S1 = SHARED / "Spain_7370579_S2Hand.tif", SHARED / "Spain_7370579_S1Hand.tif"
BANDS = ("B02", "B03", "B04", "B08")
SAMPLER_RUNS = (("ddpm", 1000), ("ddim", 1000), ("ddim", 50), ("ddim", 20), ("ddim", 10))
SAMPLER_RUNS += (("dpm", 50), ("dpm", 20), ("dpm", 10))
QUICK_SAMPLER_RUNS = (("ddpm", 100), ("ddim", 100), ("ddim", 10), ("dpm", 10))
TINY_UNET = {"base_channels": 16, "channel_mults": (1, 2), "num_res_blocks": 1}
SMALL_UNET = {"base_channels": 32, "channel_mults": (1, 2, 2), "num_res_blocks": 1}


def model_specs(quick: bool) -> dict[str, tuple[str, dict[str, Any]]]:
    """name -> (task, keyword arguments): the configs' defaults, or tiny widths with ``quick``."""
    if quick:
        return {
            "pix2pix": ("pix2pix", {"use_mask": True, "generator": {"ngf": 8}, "discriminator": {"ndf": 8}}),
            "cyclegan": (
                "cyclegan",
                {"sar_bands": (), "generator": {"ngf": 8, "n_blocks": 2}, "discriminator": {"ndf": 8}},
            ),
            "diffusion": ("diffusion", {"use_mask": True, "attention": False, **TINY_UNET}),
            "dsen2cr": ("dsen2cr", {"feature_size": 16, "num_layers": 2}),
            "multitemporal": ("multitemporal", {"features": 8, "num_blocks": 1}),
        }
    return {
        "pix2pix": ("pix2pix", {"use_mask": True, "generator": {"ngf": 64, "norm": "instance"}}),
        "cyclegan": ("cyclegan", {"sar_bands": (), "generator": {"ngf": 64}}),
        "diffusion": ("diffusion", {"use_mask": True}),  # base 64, widths 64/128/256, attention
        "dsen2cr": ("dsen2cr", {}),  # 256 features, 16 residual blocks (the paper's)
        "multitemporal": ("multitemporal", {}),
    }


def real_samples(patch: int, n: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """``n`` real Sen1Floods11 RGBN + S1 chips with simulated clouds and a second-date copy."""
    clear = read_raster(S2, select=BANDS)
    data = SyntheticCloudDataset([clear], patch, n, CloudSimulator(coverage=(0.2, 0.5)), seed=seed, bands=BANDS)
    sar = read_raster(S1)
    out = []
    for i in range(n):
        s = data[i]
        row, col, h, w = s["meta"]["window"]
        vvvh = torch.from_numpy(np.nan_to_num(sar.data[:, row : row + h, col : col + w], nan=-25.0))
        out.append(
            {
                "cloudy": s["cloudy"],
                "clear": s["clear"],
                "mask": s["mask"],
                "sar": vvvh,
                "prev_optical": s["clear"] * 0.9,
                "prev_sar": vvvh - 0.5,
            }
        )
    return out


class StepTimer(L.Callback):
    """Wall-clock time of the training batches after the first ``warmup``."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.times, self._t0 = warmup, [], 0.0

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self._sync(trainer)
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._sync(trainer)
        self.times.append(time.perf_counter() - self._t0)

    @staticmethod
    def _sync(trainer: L.Trainer) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()

    def seconds(self) -> float:
        return float(np.sum(self.times[self.warmup :]))


def trainer_for(device: str, steps: int, callbacks: list) -> L.Trainer:
    return L.Trainer(
        max_steps=steps,
        accelerator="gpu" if device.startswith("cuda") else "cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        callbacks=callbacks,
    )


def forward_seconds(net: torch.nn.Module, inputs: tuple[torch.Tensor, ...], args: argparse.Namespace) -> float:
    """Best wall-clock time of one no-grad forward pass."""

    def run() -> None:
        with torch.no_grad():
            net(*inputs)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    return best_time(run, repeats=args.repeats, warmup=1)


def bench_throughput(args: argparse.Namespace, samples: list[dict]) -> list[dict]:
    rows = []
    loader = DataLoader(samples, batch_size=args.batch, shuffle=False, drop_last=True)
    for name, (task_name, kwargs) in model_specs(args.quick).items():
        torch.manual_seed(0)
        extra = {"patch_size": args.patch} if task_name in ("pix2pix", "cyclegan") else {}
        task = task_class(task_name)(in_bands=BANDS, **extra, **kwargs)
        timer = StepTimer(args.warmup)
        trainer_for(args.device, args.warmup + args.train_batches, [timer]).fit(task, loader)
        train_rate = args.train_batches * args.batch / timer.seconds()
        net = task.predictor().to(args.device).eval()
        x = task.build_input({k: v.to(args.device) for k, v in next(iter(loader)).items()})
        inputs: tuple[torch.Tensor, ...] = (x,)
        if name == "diffusion":  # one denoiser call: noisy target + condition, one timestep per patch
            x = torch.cat([torch.randn_like(x[:, : task.out_channels]), x], 1)
            inputs = (x, torch.full((x.shape[0],), 500, device=args.device))
        seconds = forward_seconds(net, inputs, args)
        rows.append(
            {
                "model": name,
                "network": type(net).__name__,
                "params_M": sum(p.numel() for p in net.parameters()) / 1e6,
                "in_ch": int(x.shape[1]),
                "patch": args.patch,
                "train_samples_per_s": train_rate,
                "infer_patches_per_s": x.shape[0] / seconds,
                "note": "per network evaluation" if name == "diffusion" else "",
            }
        )
        print(
            f"  {name}: {rows[-1]['train_samples_per_s']:.3g} train samples/s, "
            f"{rows[-1]['infer_patches_per_s']:.3g} patches/s",
            file=sys.stderr,
        )
    return rows


def bench_sampler(args: argparse.Namespace) -> tuple[list[dict], dict]:
    """Train a small diffusion model briefly, then sample held-out chips with each sampler/step count."""
    scene = read_raster(S2, select=BANDS)
    split = scene.height * 3 // 4
    train_part = scene.window(Window(0, 0, scene.width, split))
    test_part = scene.window(Window(0, split, scene.width, scene.height - split))
    sim = CloudSimulator(coverage=(0.2, 0.5))
    size = args.sampler_patch
    n_train = args.train_steps * args.sampler_batch
    train = SyntheticCloudDataset([train_part], size, n_train, sim, seed=1, bands=BANDS)
    test = SyntheticCloudDataset([test_part], size, args.eval_chips, sim, seed=2, bands=BANDS)
    arch = TINY_UNET if args.quick else SMALL_UNET
    torch.manual_seed(0)
    task = task_class("diffusion")(in_bands=BANDS, use_mask=True, attention=False, lr=1e-3, ema_decay=0.995, **arch)
    keys = ("cloudy", "clear", "mask")

    def collate(items: list[dict]) -> dict[str, torch.Tensor]:
        return {k: torch.stack([item[k] for item in items]) for k in keys}

    loader = DataLoader(train, batch_size=args.sampler_batch, shuffle=False, collate_fn=collate)
    t0 = time.perf_counter()
    trainer_for(args.device, args.train_steps, []).fit(task, loader)
    train_s = time.perf_counter() - t0
    info = {
        "train_steps": args.train_steps,
        "train_samples": n_train,
        "train_seconds": train_s,
        "patch": size,
        "architecture": arch,
        "eval_chips": args.eval_chips,
    }
    print(f"  diffusion trained {args.train_steps} steps in {train_s:.0f} s", file=sys.stderr)

    batch = {k: v.to(args.device) for k, v in collate([test[i] for i in range(len(test))]).items()}
    model = task.predictor().to(args.device).eval()
    cond = task.build_input(batch)
    clear = batch["clear"].cpu().numpy()
    cloudy = batch["mask"][:, 0].cpu().numpy() > 0
    everywhere = np.ones_like(cloudy)

    def score(pred: np.ndarray, sel: np.ndarray) -> float:
        vals = [metrics.psnr(p, c, m) for p, c, m in zip(pred, clear, sel, strict=True) if m.any()]
        return float(np.mean(vals)) if vals else float("nan")

    base = batch["cloudy"].cpu().numpy()
    rows = [
        {
            "model": "cloudy-input",
            "sampler": "-",
            "steps": 0,
            "seconds_per_chip": 0.0,
            "psnr_all": score(base, everywhere),
            "psnr_cloudy": score(base, cloudy),
        }
    ]
    for kind, steps in QUICK_SAMPLER_RUNS if args.quick else SAMPLER_RUNS:
        gen = torch.Generator(device=args.device).manual_seed(0)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        mean, _ = sample(model, cond, task.scheduler_settings, steps=steps, n_samples=1, generator=gen, scheduler=kind)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        pred = task.to_reflectance(mean).clamp(0, 1).cpu().numpy()
        rows.append(
            {
                "model": f"diffusion-{kind}",  # unique (model, steps) for bench/run_all.py's summary
                "sampler": kind,
                "steps": steps,
                "seconds_per_chip": seconds / len(pred),
                "psnr_all": score(pred, everywhere),
                "psnr_cloudy": score(pred, cloudy),
            }
        )
        print(f"  {kind} {steps} steps: {seconds:.1f} s, PSNR cloudy {rows[-1]['psnr_cloudy']:.2f} dB", file=sys.stderr)
    return rows, info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny models and sizes: a smoke run")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--patch", type=int, default=None, help="patch size in px for part 1 (default 64; quick 32)")
    parser.add_argument("--batch", type=int, default=2, help="patches per batch in part 1 (default 2)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed training steps per model (default 1)")
    parser.add_argument("--train-batches", type=int, default=None, help="timed training steps (default 3)")
    parser.add_argument("--repeats", type=int, default=3, help="timed inference repeats, best kept (default 3)")
    parser.add_argument("--train-steps", type=int, default=None, help="diffusion training steps (default 300)")
    parser.add_argument("--sampler-batch", type=int, default=8, help="diffusion training batch (default 8)")
    parser.add_argument("--sampler-patch", type=int, default=32, help="diffusion chip size in px (default 32)")
    parser.add_argument("--eval-chips", type=int, default=None, help="held-out chips sampled (default 4)")
    parser.add_argument("--skip-sampler", action="store_true", help="part 1 only")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.patch = args.patch or (32 if args.quick else 64)
    args.train_batches = args.train_batches or (2 if args.quick else 3)
    args.train_steps = args.train_steps or (20 if args.quick else 300)
    args.eval_chips = args.eval_chips or (2 if args.quick else 4)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda but no CUDA device is available")

    print("part 1: model throughput", file=sys.stderr)
    samples = real_samples(args.patch, args.batch * (args.warmup + args.train_batches))
    rows = bench_throughput(args, samples)
    print_table(f"model throughput, {args.patch} px, RGBN (+mask / +VV,VH), batch {args.batch}, {args.device}", rows)
    sampler_rows, info = [], {}
    if not args.skip_sampler:
        print(
            "part 2: diffusion sampler (UNDER-TRAINED model: compare step counts, not absolute PSNR)", file=sys.stderr
        )
        sampler_rows, info = bench_sampler(args)
        print_table(
            f"diffusion sampler after {info['train_steps']} training steps (under-trained!), "
            f"{info['eval_chips']} held-out {info['patch']} px chips, {args.device}",
            sampler_rows,
        )
    path = save_json(
        "models",
        {
            "settings": {k: v for k, v in vars(args).items()},
            "sampler_training": info,
            "note": "diffusion-ddpm/ddim/dpm rows come from a briefly trained (under-trained) model; inference "
            "patches/s of the diffusion row is per network evaluation",
            "rows": rows + sampler_rows,
        },
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
