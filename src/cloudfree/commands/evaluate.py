"""Compare cloud-free predictions with references: PSNR, SSIM, SAM, MAE, RMSE under a published
protocol, spectral-index agreement, burn-severity agreement, figures and an HTML report.

PRED and REF are two files on one grid (single mode) or two folders (data-set mode: files matched
by name, a SEN12MS-CR "_s2_cloudy_" name matching its "_s2_" target; masks from --mask-dir by the
same name). Every pair is read by 512 px windows with a 5 px halo, never whole.

Protocols (--protocol; details and sources in docs/evaluation.md):
  cloudfree  reflectance (DN + offset)/10000 unclipped; all valid pixels, with --mask also the
             cloudy (codes 1-3) and clear (0) pixels of the input's mask; one file = one image
  sen12mscr  SEN12MS-CR / UnCRtainTS: DN clipped to 0..10000, /10000; all pixels of each 256x256
             patch, metrics per patch then averaged
  allclear   AllClear: (DN + offset)/10000 clipped to 0..1; only pixels clear (0) in the TARGET's
             mask (--mask / --mask-dir required)
  dsen2cr    DSen2-CR: DN clipped to 0..10000, /10000; all pixels plus cloudy/clear splits
All use data_range 1.0; SAM in degrees; nodata of either raster is never scored.

--indices NDVI,NBR,...  agreement of each index (spyndex names) between prediction and reference:
                        RMSE, bias (prediction - reference), Pearson r, per subset
--pre PRE.tif           pre-fire image: USGS burn-severity classes of dNBR(PRE, PRED) and
                        dNBR(PRE, REF) compared: overall accuracy, Cohen's kappa, IoU of the burned
                        classes (4-7) and of each; --thresholds / --nir as in `cloudfree burn`

Writes into --out DIR (default evaluation/):
  single:   metrics.json (subsets, indices, severity, ndvi_diff, scaling, protocol; null where
            undefined), metrics.csv (subset x band rows), per_image.csv / summary.* when a file
            holds several patches, figures (comparison/error/histograms PNG; rasters up to
            2048 px a side), report.html with --html
  data set: per_image.csv, summary.csv (mean, std), summary.json

Grids of PRED, REF, mask and PRE must match (CRS, transform, size): otherwise exit code 2 with
both grids named. --bands / --dn-offset apply to PRED, REF and PRE.

examples:
  cloudfree evaluate pred.tif clear.tif --mask cloud_mask.tif --indices NDVI,NBR --html
  cloudfree evaluate post_pred.tif post_ref.tif --pre pre_fire.tif --indices NBR
  cloudfree evaluate predictions/ SEN12MSCR/ROIs1868_summer_s2/ --protocol sen12mscr --out eval/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cloudfree.commands.options import add_imagery_options, imagery_options

FIGURE_MAX_SIDE = 2048


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prediction", help="cloud-free prediction (a raster, or a folder of them)")
    parser.add_argument("reference", help="clear reference on the same grid (or a folder)")
    parser.add_argument("--mask", help="cloud mask (codes 0-3, 255 nodata, or binary) on the same grid")
    parser.add_argument("--mask-dir", help="data-set mode: folder of masks matched by name")
    parser.add_argument("--input", help="the cloudy input, shown in the figures")
    parser.add_argument(
        "--protocol", default="cloudfree", choices=("cloudfree", "sen12mscr", "allclear", "dsen2cr", "reflectance")
    )
    parser.add_argument("--indices", help="spectral indices to compare, e.g. NDVI,NBR,NDWI")
    parser.add_argument("--pre", help="pre-fire image: compare burn-severity maps")
    parser.add_argument("--thresholds", help="six dNBR class bounds (see `cloudfree burn --help`)")
    parser.add_argument("--nir", choices=("auto", "B08", "B8A"), default="auto", help="NIR band of NBR")
    parser.add_argument("--out", default="evaluation", help="output folder (default: evaluation/)")
    parser.add_argument("--no-figures", action="store_true", help="write metrics only")
    parser.add_argument("--html", action="store_true", help="also write report.html (single mode)")
    add_imagery_options(parser)


def _print(summary: dict) -> None:
    for subset, m in summary.items():
        if isinstance(m, dict) and "per_band" in m:
            print(
                f"{subset:>12}: PSNR {m['psnr']:.2f} dB  SSIM {m['ssim']:.4f}  SAM {m['sam']:.2f} deg  "
                f"MAE {m['mae']:.4f}  RMSE {m['rmse']:.4f}"
            )
    for idx, by in summary.get("indices", {}).items():
        for subset, a in by.items():
            print(f"{idx:>8} {subset:>12}: RMSE {a['rmse']:.4f}  bias {a['bias']:+.4f}  r {a['r']:.4f}")
    for subset, s in summary.get("severity", {}).items():
        print(
            f"severity {subset:>12}: OA {s['overall_accuracy']:.4f}  kappa {s['kappa']:.4f}  "
            f"burned IoU {s['burned_iou']:.4f}"
        )


def _dataset(args: argparse.Namespace) -> int:
    from cloudfree.evaluation.dataset import aggregate, match_files, write_dataset_report
    from cloudfree.evaluation.protocols import get_protocol
    from cloudfree.evaluation.scoring import open_pair, score_pair
    from cloudfree.inference.checks import check_mask_file

    if args.pre or args.mask or args.input or args.html:
        raise ValueError("data-set mode takes --mask-dir; --mask, --pre, --input and --html need single files")
    protocol = get_protocol(args.protocol)
    pairs = match_files(args.prediction, args.reference, args.mask_dir)
    for *_, mask in pairs:
        if mask is not None:
            check_mask_file(mask, "--mask-dir file")
    opened = [(name, open_pair(p, r, mask=m, indices=args.indices, **imagery_options(args))) for name, p, r, m in pairs]
    results = []
    from tqdm import tqdm

    for name, inputs in tqdm(opened, desc="evaluate", unit="image", file=sys.stderr, disable=len(opened) < 2):
        results += score_pair(inputs, protocol, thresholds=args.thresholds, name=name)
    summary = aggregate(results) | {"protocol": protocol.name, "scaling": protocol.note}
    paths = write_dataset_report(results, summary, args.out)
    print(f"{len(pairs)} files, {summary['images']} images, protocol {protocol.name}: mean over images")
    _print(summary["mean"])
    print(f"wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return 0


def _is_dataset(path: str) -> bool:
    """A folder that is not itself a product (.SAFE, band-file folder) holds a data set."""
    from cloudfree.io.open import detect_layout

    if not Path(path).is_dir():
        return False
    try:
        detect_layout(path)
    except ValueError:
        return True
    return False


def run(args: argparse.Namespace) -> int:
    if _is_dataset(args.prediction):
        return _dataset(args)
    if args.mask_dir:
        raise ValueError("--mask-dir is for data-set mode (PRED and REF folders); give --mask for one pair")
    from cloudfree.evaluation.dataset import aggregate, write_dataset_report
    from cloudfree.evaluation.protocols import get_protocol
    from cloudfree.evaluation.report import write_report
    from cloudfree.evaluation.scoring import open_pair, score_pair

    protocol = get_protocol(args.protocol)
    if args.mask:  # a 0/100 or fractional mask would score no pixel as cloudy, silently
        from cloudfree.inference.checks import check_mask_file

        check_mask_file(args.mask, "--mask")
    inputs = open_pair(
        args.prediction,
        args.reference,
        mask=args.mask,
        pre=args.pre,
        indices=args.indices,
        nir=args.nir,
        **imagery_options(args),
    )
    results = score_pair(inputs, protocol, thresholds=args.thresholds, name=Path(args.prediction).name)
    summary = aggregate(results) | {"protocol": protocol.name, "scaling": protocol.note}
    result = dict(summary["mean"])
    if "NDVI" in result.get("indices", {}):
        result["ndvi_diff"] = {k: v["mae"] for k, v in result["indices"]["NDVI"].items()}
        if not args.indices:
            del result["indices"]
    result |= {"scaling": protocol.note, "protocol": protocol.name, "images": summary["images"]}
    json_path, csv_path = write_report(result, args.out)
    if summary["images"] > 1:
        write_dataset_report(results, summary, args.out)
    small = max(inputs.ref.height, inputs.ref.width) <= FIGURE_MAX_SIDE
    if not args.no_figures and small:
        _figures(args, inputs, protocol, result)
    if args.html:
        from cloudfree.evaluation.html_report import write_html_report

        settings = {k: v for k, v in vars(args).items() if v not in (None, False) and k != "command"}
        before = args.input or args.prediction
        write_html_report(
            Path(args.out) / "report.html",
            before=before,
            after=args.prediction,
            reference=args.reference,
            mask=args.mask,
            metrics=result,
            settings=settings,
        )
    _print(result)
    note = "" if args.no_figures or small else f" (figures skipped: larger than {FIGURE_MAX_SIDE} px; see --html)"
    print(f"wrote {json_path}, {csv_path} in {Path(args.out)}{note}", file=sys.stderr)
    return 0


def _figures(args: argparse.Namespace, inputs, protocol, result: dict) -> None:
    import numpy as np

    from cloudfree.evaluation.figures import write_figures
    from cloudfree.evaluation.protocols import scale
    from cloudfree.evaluation.scene import check_same_grid, open_imagery
    from cloudfree.io import read_mask

    bands = inputs.bands
    pred, ref = inputs.pred.read(select=bands), inputs.ref.read(select=bands)
    cloudy = None
    if args.input:
        raw = open_imagery(args.input, **imagery_options(args))
        check_same_grid(inputs.ref, raw, "input")
        cloudy = scale(raw.read(select=bands), protocol)
    mask = read_mask(args.mask) if args.mask else None
    p, r = scale(pred, protocol), scale(ref, protocol)
    cloudy = None if cloudy is None else np.nan_to_num(cloudy)
    write_figures(np.nan_to_num(p), np.nan_to_num(r), bands, pred.valid & ref.valid, args.out, cloudy=cloudy, mask=mask)
