"""Options shared by every command that reads or writes imagery, so they read and behave alike.

``add_imagery_options(parser)`` adds ``--bands`` (names of a file's bands in file order, for files
without band descriptions: a set such as ``l1c13`` / ``rgbn`` or a list ``B04,B03,B02``) and
``--dn-offset`` (the processing-baseline offset in DN, e.g. ``-1000``, for files that lost it; the
default reads it from the product metadata or the file's tags). ``add_output_options(parser)`` adds
``--overwrite`` and ``add_batch_options(parser)`` ``--scheduler``. Commands read them back with
:func:`imagery_options`. ``add_radiometry_option(parser)`` adds ``--radiometry dn|reflectance``: state
what the values of the input are when the file's own tags or dtype say otherwise (a float file holding
DN, 8-bit data, float reflectance tagged as DN); without it such files are refused. Read back with
:func:`radiometry_option`.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_imagery_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--bands SPEC`` and ``--dn-offset DN`` for the command's imagery input(s)."""
    parser.add_argument(
        "--bands",
        default=None,
        help="names of the input's bands in file order when the file has no band descriptions "
        "(a set: rgbn, l1c13, l2a12 ...; or a list: B04,B03,B02)",
    )
    parser.add_argument(
        "--dn-offset",
        type=float,
        default=None,
        help="processing-baseline DN offset of the input (e.g. -1000 for baseline >= 04.00); "
        "default: from the product metadata or the file's tags",
    )


def add_output_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--overwrite``: replace outputs that already exist (never the input itself)."""
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")


def add_batch_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--scheduler``: where a batch of scenes runs (sequential, local Dask processes, a scheduler)."""
    from cloudfree.executors.scheduler import SCHEDULER_HELP, scheduler_argument

    parser.add_argument(
        "--scheduler", type=scheduler_argument, default=None, metavar="local[:N]|tcp://HOST:PORT", help=SCHEDULER_HELP
    )


def imagery_options(args: argparse.Namespace) -> dict[str, Any]:
    """``{"bands": str | None, "dn_offset": float | None}`` from parsed arguments."""
    return {"bands": getattr(args, "bands", None), "dn_offset": getattr(args, "dn_offset", None)}


RADIOMETRY_CHOICES = ("dn", "reflectance")


def add_radiometry_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--radiometry dn|reflectance``: trust this radiometry instead of the file's tags/dtype."""
    parser.add_argument(
        "--radiometry",
        choices=RADIOMETRY_CHOICES,
        default=None,
        help="what the input's values are: 'dn' (reflectance x 10000, converted with the DN offset) or "
        "'reflectance' (0..1); default: from the file's tags and dtype, and values that cannot be that "
        "(DN in a float file, 8-bit data, reflectance tagged as DN) are refused",
    )


def radiometry_option(args: argparse.Namespace) -> str | None:
    """The ``--radiometry`` value, or None when not given."""
    return getattr(args, "radiometry", None)
