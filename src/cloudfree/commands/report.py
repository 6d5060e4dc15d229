"""A self-contained HTML report of a cloud-removal run: one file that opens offline in any browser.

It shows a before/after swipe viewer in true colour (B04/B03/B02) and false colour (B08/B04/B03)
with the image on each side selectable (before, after, reference), the cloud mask and the
provenance map as toggleable overlays, NDVI (and NBR with B12) maps of each image, the metric tables
of `cloudfree evaluate` (--metrics metrics.json) and the run's settings (--settings JSON, plus this
command's options). Images are PNGs inlined as base64, read decimated to --max-side pixels (default
1024), so a 10980 px scene gives a report of a few MB; no script or image is fetched at view time.

examples:
  cloudfree report --before cloudy.tif --after cloudfree.tif --mask mask.tif -o report.html
  cloudfree report --before cloudy.tif --after out.tif --reference clear.tif \\
      --provenance out_provenance.tif --metrics eval/metrics.json -o report.html
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cloudfree.commands.options import add_output_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--before", required=True, help="the cloudy input (any layout cloudfree reads)")
    parser.add_argument("--after", required=True, help="the cloud-free result")
    parser.add_argument("--reference", help="a clear reference, selectable in the viewer")
    parser.add_argument("--mask", help="cloud mask (0 clear, 1 thick, 2 thin, 3 shadow, 255 nodata; or binary)")
    parser.add_argument("--provenance", help="provenance map (0 original, 1 model, 2+k series date k, 255 nodata)")
    parser.add_argument("--metrics", help="metrics.json of `cloudfree evaluate` (or any JSON of such results)")
    parser.add_argument("--settings", help="JSON file of the run's settings to show")
    parser.add_argument("--max-side", type=int, default=1024, help="display size limit in pixels (default 1024)")
    parser.add_argument("--title", default="cloudfree report")
    parser.add_argument("-o", "--output", default="report.html", help="output HTML file (default report.html)")
    add_output_options(parser)


def _json(path: str | None, what: str) -> dict | None:
    if path is None:
        return None
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: the {what} file is not readable JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{path}: the {what} file must hold a JSON object")
    return value


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise ValueError(f"{out}: exists; pass --overwrite to replace it")
    if args.max_side < 16:
        raise ValueError(f"--max-side must be at least 16 pixels, not {args.max_side}")
    from cloudfree.evaluation.html_report import write_html_report

    if args.mask:  # 0/100 or fractions would draw no cloud, silently
        from cloudfree.inference.checks import check_mask_file

        check_mask_file(args.mask, "--mask")

    settings = _json(args.settings, "settings") or {}
    settings |= {k: v for k, v in vars(args).items() if v not in (None, False) and k not in ("command", "overwrite")}
    path = write_html_report(
        out,
        before=args.before,
        after=args.after,
        reference=args.reference,
        mask=args.mask,
        provenance=args.provenance,
        metrics=_json(args.metrics, "metrics"),
        settings=settings,
        max_side=args.max_side,
        title=args.title,
    )
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return 0
