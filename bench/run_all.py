"""Run every benchmark, then print one summary table and write ``bench/results/all.json``.

Each script in ``SCRIPTS`` runs in its own process (so peak-memory figures are its own) and writes
``bench/results/<name>.json`` with a list of ``rows``; this runner gathers those rows into one table
of (benchmark, item, measure, value). ``--quick`` passes ``--quick`` to the scripts that take it
(smaller sizes, for a smoke run). Benchmarks are never part of the test run.

    python bench/run_all.py [--quick] [--only remove,masking]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import RESULTS, machine, print_table  # noqa: E402

# script -> (results name, takes --quick)
SCRIPTS: dict[str, tuple[str, bool]] = {
    "bench_compute_floor.py": ("compute_floor", False),
    "bench_remove.py": ("remove", True),
    "bench_memory.py": ("memory", True),
    "bench_masking.py": ("masking", True),
    "bench_models.py": ("models", True),
    "bench_quality.py": ("quality", True),
    "bench_rim.py": ("rim", False),
    "bench_prior.py": ("prior", False),
}
ID_KEYS = ("model", "method", "tile", "steps", "name", "dataset", "subset", "size", "missed_thin", "prior")


def summarise(name: str, payload: dict) -> list[dict]:
    """Flatten a result file's rows into (benchmark, item, measure, value) rows."""
    out = []
    for row in payload.get("rows", []):
        item = " ".join(f"{k}={row[k]}" for k in ID_KEYS if k in row) or "-"
        for key, value in row.items():
            if key in ID_KEYS or not isinstance(value, int | float):
                continue
            out.append({"benchmark": name, "item": item, "measure": key, "value": value})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    parser.add_argument("--only", default="", help="comma-separated result names to run (default all)")
    args = parser.parse_args()
    only = {s.strip() for s in args.only.split(",") if s.strip()}

    failures, summary = [], []
    for script, (name, takes_quick) in SCRIPTS.items():
        if only and name not in only:
            continue
        path = HERE / script
        if not path.exists():
            failures.append(f"{script}: missing")
            continue
        cmd = [sys.executable, str(path)] + (["--quick"] if args.quick and takes_quick else [])
        print(f"== {script}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, check=False)
        print(f"   ({time.perf_counter() - t0:.0f} s, exit {proc.returncode})", flush=True)
        if proc.returncode != 0:
            failures.append(f"{script}: exit {proc.returncode}")
            continue
        result = RESULTS / f"{name}.json"
        if result.exists():
            summary.extend(summarise(name, json.loads(result.read_text())))

    info = machine()
    print_table(f"cloudfree benchmarks, {info['date']}, {info['cpu']} ({info['cores']} cores)", summary)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "all.json").write_text(json.dumps({"machine": info, "rows": summary, "failures": failures}, indent=2))
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
