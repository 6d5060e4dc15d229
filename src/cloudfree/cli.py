"""The ``cloudfree`` command: one entry point, one module per subcommand.

Each subcommand lives in ``cloudfree.commands.<module>`` and provides ``add_arguments(parser)`` and
``run(args) -> int``. Modules are imported only when their subcommand runs, so ``cloudfree info``
does not pay for importing PyTorch. Input errors (a :class:`cloudfree.errors.CloudfreeError`, or a
``ValueError`` / ``OSError`` raised with a message naming the file and the problem) end the command
with exit code 2 and a one-line reason; warnings are printed as one line each.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Sequence

from cloudfree import __version__
from cloudfree.errors import CloudfreeError, one_line

# name -> (module in cloudfree.commands, one-line help). A closed list: nothing is imported by path.
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("info", "describe a raster: bands, size, resolution, CRS, radiometry, valid and cloud fraction"),
    "prepare": ("prepare", "turn cloudy/clear (+SAR) pairs into a chip store of GeoTIFF chips and an index"),
    "simulate-clouds": ("simulate", "add synthetic clouds and shadows to a clear scene, with exact masks"),
    "mask": ("mask", "cloud and shadow mask of a whole scene (auto: ukis-csmask; own U-Net, s2cloudless, SCL)"),
    "train": ("train", "train a model from a YAML config"),
    "export": ("export", "export a training checkpoint as model.safetensors + config.json"),
    "remove": ("remove", "remove clouds from a scene with a model or a temporal baseline; writes a COG"),
    "evaluate": ("evaluate", "compare a prediction with a reference: PSNR, SSIM, SAM, MAE, RMSE, figures"),
    "indices": ("indices", "spectral indices (NDVI, NBR, NDWI ... any that spyndex knows) of a scene as a COG"),
    "burn": ("burn", "burned-area assessment: dNBR and burn-severity classes from pre- and post-fire scenes"),
    "report": ("report", "a self-contained HTML report: before/after swipe, mask and provenance overlays, metrics"),
    "demo": ("demo", "simulate clouds on a real scene, mask and remove them, report metrics"),
    "search": ("search", "search a STAC API for Sentinel-1/2 items over an area and period"),
    "mine-pairs": ("mine_pairs", "pair clear and cloudy scenes (and Sentinel-1) from search results"),
    "fetch": ("fetch", "download the AOI windows of mined pairs as GeoTIFFs for `prepare --pairs`"),
}


def _module(name: str):
    return importlib.import_module(f"cloudfree.commands.{COMMANDS[name][0]}")


def _available() -> dict[str, str]:
    """Subcommands whose module is installed (optional ones may be missing)."""
    out = {}
    for name, (mod, help_text) in COMMANDS.items():
        if importlib.util.find_spec(f"cloudfree.commands.{mod}") is not None:
            out[name] = help_text
    return out


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only ``command``'s module is imported and given its arguments."""
    parser = argparse.ArgumentParser(
        prog="cloudfree",
        description="Remove clouds from Sentinel-2 imagery: prepare data, mask, train, remove, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"cloudfree {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in _available().items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = _module(name)
            if module.__doc__:
                sp.description = module.__doc__.strip()
                sp.formatter_class = argparse.RawDescriptionHelpFormatter
            module.add_arguments(sp)
    return parser


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings reach the terminal as one line, without a source excerpt."""
    return f"cloudfree: warning: {' '.join(str(message).split())}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; expected failures print ``cloudfree CMD: error: MESSAGE`` and return 2.

    Expected failures are :class:`~cloudfree.errors.CloudfreeError` (and the ``ValueError`` /
    ``OSError`` that lower layers raise with a message naming the file); anything else is a bug
    and keeps its traceback. ``CLOUDFREE_DEBUG=1`` shows the traceback of expected failures too.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    formatwarning, warnings.formatwarning = warnings.formatwarning, _format_warning
    from cloudfree.io.memory import limit_heap_arenas  # with cloudfree.io: every subcommand needs it

    limit_heap_arenas()  # before PyTorch's and GDAL's threads exist (cloudfree.io.memory)
    try:
        return int(_module(args.command).run(args) or 0)
    except (CloudfreeError, ValueError, OSError, KeyError) as exc:
        if os.environ.get("CLOUDFREE_DEBUG"):
            raise
        print(f"cloudfree {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cloudfree {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = formatwarning


if __name__ == "__main__":
    sys.exit(main())
