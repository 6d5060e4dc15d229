"""Train a cloud-removal model from a YAML config.

The config names the task (pix2pix, cyclegan, diffusion, dsen2cr, multitemporal ...), the model
and its bands, the data, the optimiser, the Lightning Trainer settings and the callbacks; see the
files in configs/ and cloudfree.training.config. Any key can be overridden on the command line
as dotted.key=value (the value is parsed as YAML).

Outputs in out_dir: checkpoints/ (one per epoch, the best by val/psnr, and last.ckpt),
logs/ (TensorBoard: losses, val/psnr, val/ssim, input/prediction/target image grids) and
config.yaml (the resolved config). Turn a checkpoint into a release with `cloudfree export`.

Runs are seeded (seed: in the config; trainer.deterministic=true for deterministic kernels) and
resume exactly: --resume continues from a checkpoint with the same data order, random state and
learning-rate schedule as the uninterrupted run. trainer.max_steps counts optimiser steps: a GAN
batch (discriminator + generator update) counts 2. Progress bars go to stderr; stdout gets the
path of last.ckpt.

Examples:
  cloudfree train --config configs/pix2pix_sen12mscr.yaml
  cloudfree train --config configs/pix2pix_single_pair.yaml trainer.max_epochs=5 optim.lr=1e-4
  cloudfree train --config configs/cyclegan_s1_to_rgb.yaml trainer.precision=bf16-mixed
  cloudfree train --config configs/pix2pix_sen12mscr.yaml trainer.devices=2 trainer.strategy=ddp
  cloudfree train --config configs/pix2pix_sen12mscr.yaml --resume auto
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="experiment YAML config")
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. trainer.max_epochs=2 optim.lr=1e-4"
    )
    parser.add_argument(
        "--resume",
        metavar="PATH|auto",
        help="resume exactly from a checkpoint; 'auto' uses out_dir/checkpoints/last.ckpt when it exists",
    )
    parser.add_argument("--out-dir", help="run folder (overrides the config's out_dir)")


def run(args: argparse.Namespace) -> int:
    from cloudfree.training.config import load_config
    from cloudfree.training.trainer import build_run, check_config, fit, resolve_resume

    overrides = list(args.overrides) + ([f"out_dir={args.out_dir}"] if args.out_dir else [])
    config = load_config(args.config, overrides)
    check_config(config)  # every section's keys, before any data is read or model built
    resume = resolve_resume(args.resume, Path(config["out_dir"]), config["task"])
    training = build_run(config)
    last = fit(training, resume)
    if training.trainer.is_global_zero:
        print(f"cloudfree train: checkpoints in {last.parent} (last: {last.name})", file=sys.stderr)
        print(last)
    return 0
