"""Add synthetic clouds and cloud shadows to a clear Sentinel-2 scene and write their exact mask.

Writes OUTPUT (same grid, CRS, band names, dtype and radiometry as INPUT: DN in -> DN out with the
same offsets, reflectance in -> reflectance out) and OUTPUT's stem + ``_mask.tif`` (uint8: 0 clear,
1 thick cloud, 2 thin cloud, 3 cloud shadow, 255 nodata). The mask marks exactly the pixels whose
values changed. Both files are Cloud-Optimized GeoTIFFs written atomically.

Clouds come from a multi-scale random field thresholded so that ``--coverage`` of the valid pixels
are cloud (thick + thin; ``--thin-fraction`` of them thin). Thick clouds are bright (0.4..0.8
reflectance) and flat up to B09, darker in B11/B12; thin clouds scatter more in the blue and show
in the cirrus band B10. Shadows are cast opposite the sun (``--sun-azimuth``, degrees clockwise
from north) at ``--cloud-height * tan(--sun-zenith)`` pixels from their cloud and dim the light the
ground reflects (to x0.35..0.8, less in the blue, where diffuse sky light fills them) but not the
atmosphere's path reflectance, most of the blue at the top of the atmosphere (L1C: real shadows keep
about 92 % of the blue around them and 60-77 % of the SWIR); the scene's darkest pixels cap that
path, so over L2A shadows dim every band alike. Other parameters (cloud brightness, spectral slopes,
path reflectance, texture) are drawn from ``--seed``: the same seed gives the same output.

The scene is processed in strips of ``--block`` rows (the per-pixel cloud fields of the whole grid
are kept in memory, about 13 bytes per pixel).

Examples:
  cloudfree simulate-clouds clear.tif -o cloudy.tif --coverage 0.3 --seed 1
  cloudfree simulate-clouds chip.tif -o cloudy.tif --coverage 0.5 --thin-fraction 0.6 --sun-azimuth 150
  cloudfree simulate-clouds nodesc.tif -o cloudy.tif --bands l1c13
  cloudfree simulate-clouds S2B_MSIL1C_20220105T101319_N0400_R022_T33UUP_20220105T121516.zip -o cloudy.tif

INPUT is anything cloudfree reads (GeoTIFF, .SAFE folder or .zip, band-file folder, SEN12MS-CR
patch); an existing OUTPUT is replaced only with --overwrite.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from rasterio.windows import Window
from tqdm import tqdm

from cloudfree.commands.options import (
    add_imagery_options,
    add_output_options,
    add_radiometry_option,
    imagery_options,
    radiometry_option,
)
from cloudfree.data.cloud_optics import dark_levels
from cloudfree.data.synthetic_clouds import CloudSimulator, band_wavelengths
from cloudfree.io.cog import standard_tags
from cloudfree.io.open import RasterSource, open_source
from cloudfree.io.writer import WindowedCOGWriter
from cloudfree.masks import NODATA, cloud_fraction, fractions
from cloudfree.radiometry import QUANTIFICATION, Radiometry


def mask_path_for(output: str | Path) -> Path:
    """``out/cloudy.tif`` -> ``out/cloudy_mask.tif``."""
    out = Path(output)
    return out.with_name(f"{out.stem}_mask.tif")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="clear Sentinel-2 scene (GeoTIFF, SAFE, band files ...; DN or reflectance)")
    parser.add_argument(
        "-o", "--output", required=True, help="cloudy GeoTIFF to write; the mask goes to <stem>_mask.tif"
    )
    parser.add_argument("--coverage", type=float, default=0.3, help="fraction of valid pixels made cloud, 0..1")
    parser.add_argument("--thin-fraction", type=float, default=0.3, help="fraction of the cloud that is thin, 0..1")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same clouds)")
    parser.add_argument("--sun-azimuth", type=float, default=150.0, help="sun azimuth, degrees from north")
    parser.add_argument("--sun-zenith", type=float, default=40.0, help="sun zenith angle, degrees")
    parser.add_argument("--cloud-height", type=float, default=12.0, help="cloud height above ground, pixels")
    parser.add_argument("--no-shadows", action="store_true", help="clouds without shadows")
    parser.add_argument("--feature-size", type=float, default=None, help="largest cloud size, pixels (default random)")
    add_imagery_options(parser)
    add_radiometry_option(parser)
    add_output_options(parser)
    parser.add_argument("--block", type=int, default=512, help="rows per processing strip")


def run(args: argparse.Namespace) -> int:
    output, mask_out = Path(args.output), mask_path_for(args.output)
    if output.resolve() == Path(args.input).resolve():
        raise ValueError(f"{args.output}: the output would overwrite the input")
    for path in (output, mask_out):
        if path.exists() and not args.overwrite:
            raise FileExistsError(f"{path}: exists; pass --overwrite to replace it")
    opts = imagery_options(args)
    with open_source(args.input, opts["bands"], dn_offset=opts["dn_offset"], radiometry=radiometry_option(args)) as src:
        return _simulate(args, src, output, mask_out)


def _simulate(args: argparse.Namespace, info: RasterSource, output: Path, mask_out: Path) -> int:
    names = info.bands
    try:
        band_wavelengths(names)
    except ValueError as exc:
        raise ValueError(f"{args.input}: {exc}") from exc
    sim = CloudSimulator(
        coverage=args.coverage,
        thin_fraction=args.thin_fraction,
        sun_azimuth_deg=args.sun_azimuth,
        sun_zenith_deg=args.sun_zenith,
        cloud_height_px=args.cloud_height,
        shadows=not args.no_shadows,
        **({"feature_px": args.feature_size} if args.feature_size else {}),
    )
    block = max(16, int(args.block))
    strips = [Window(0, r, info.width, min(block, info.height - r)) for r in range(0, info.height, block)]

    def read(win: Window):
        return info.read(window=win)

    valid = np.zeros((info.height, info.width), bool)
    first = None
    # the scene's dark levels (the shadows' path cap) from every k-th pixel of the scene, whatever the strips
    sample: list[np.ndarray] = []
    every = max(1, info.height * info.width // 200_000)
    for win in tqdm(strips, desc="reading validity", unit="strip", file=sys.stderr):
        part = read(win)
        if first is None:
            first = part
        if part.radiometry not in (Radiometry.DN, Radiometry.REFLECTANCE):
            raise ValueError(
                f"{args.input}: synthetic clouds need Sentinel-2 DN or reflectance, got {part.radiometry.value} data"
            )
        valid[int(win.row_off) : int(win.row_off + win.height)] = part.valid
        index = int(win.row_off) * info.width + np.arange(part.valid.size).reshape(part.valid.shape)
        sample.append(part.to_reflectance().data[:, part.valid & (index % every == 0)])
    assert first is not None
    plan = sim.plan(info.height, info.width, names, valid, np.random.default_rng(args.seed))
    plan = plan.cap_path(dark_levels(np.concatenate(sample, axis=1)[:, None]))

    record = {"seed": args.seed, **plan.params}
    tags: dict[str, object] = {k: v for k, v in info.tags.items() if k != "AREA_OR_POINT"}
    tags.update(standard_tags(first, {"CLOUDFREE_SIMULATION": record}))
    nodata = info.nodata if info.nodata is not None else (0 if first.radiometry is Radiometry.DN else None)
    grid = dict(height=info.height, width=info.width, crs=info.crs, transform=info.transform)
    mask = np.full((info.height, info.width), NODATA, np.uint8)
    with ExitStack() as stack:
        img_writer = stack.enter_context(
            WindowedCOGWriter(output, descriptions=names, dtype=info.dtype, nodata=nodata, tags=tags, **grid)
        )
        mask_tags = {"CLOUDFREE_RADIOMETRY": "label", "CLOUDFREE_CLASSES": "0 clear, 1 thick, 2 thin, 3 shadow"}
        mask_writer = stack.enter_context(
            WindowedCOGWriter(mask_out, descriptions=("mask",), dtype="uint8", nodata=NODATA, tags=mask_tags, **grid)
        )
        for win in tqdm(strips, desc="simulating clouds", unit="strip", file=sys.stderr):
            part = read(win)
            r0 = int(win.row_off)
            refl = part.to_reflectance()
            cloudy, codes = plan.apply(refl.data, row=r0, valid=part.valid)
            if part.radiometry is Radiometry.DN and np.issubdtype(np.dtype(info.dtype), np.integer):
                data = refl.with_data(cloudy).to_dn(offset=part.dn_offset, dtype=np.dtype(info.dtype).type).data
            elif part.radiometry is Radiometry.DN:  # float DN (stated with --radiometry dn): stays float DN
                data = (cloudy * QUANTIFICATION - part.dn_offset[:, None, None]).astype(info.dtype)
            else:
                data = cloudy.astype(info.dtype)
            untouched = (codes == 0) | (codes == NODATA)
            data = np.where(untouched[None], part.data, data)  # clear and nodata pixels: exactly as read
            img_writer.write(data, win)
            mask_writer.write(codes[None], win)
            mask[r0 : r0 + codes.shape[0]] = codes
    shares = fractions(mask)
    print(
        f"wrote {output} and {mask_out}: cloud and shadow {cloud_fraction(mask):.1%} of valid pixels "
        f"(thick {shares['thick_cloud']:.1%}, thin {shares['thin_cloud']:.1%}, shadow {shares['shadow']:.1%})"
    )
    return 0
