"""Export a training checkpoint as a release: model.safetensors + config.json.

The checkpoint is read without unpickling code (torch.load weights_only=True). The release holds
the exported network's weights (safetensors) and a JSON config with its architecture and
arguments, input bands (optical, SAR, mask channel), output bands, normalisation (reflectance
0..1 -> network units), radiometric convention and the cloudfree version. `cloudfree remove
--model DIR` loads it and refuses data whose bands or normalisation do not match.

Examples:
  cloudfree export runs/pix2pix_sen12mscr/checkpoints/last.ckpt -o releases/pix2pix-l1c13
  cloudfree export runs/cyclegan_s1_to_rgb/checkpoints/last.ckpt -o releases/s1-rgb --name s1-to-rgb
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CKPT", help="training checkpoint (.ckpt) written by `cloudfree train`")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="release folder to write")
    parser.add_argument("--name", help="model name recorded in config.json (default: the folder name)")
    parser.add_argument("--half", action="store_true", help="store weights as float16 (half the size)")


def run(args: argparse.Namespace) -> int:
    from cloudfree.training.export import export_release

    out, config = export_release(args.checkpoint, args.output, args.name, half=args.half)
    bands = ", ".join(config.in_bands + config.sar_bands) + (" + mask" if config.uses_mask else "")
    print(f"{out}: {config.architecture} ({config.kind}), inputs {bands} -> {', '.join(config.out_bands)}")
    return 0
