"""Under thick cloud the default models' output is their prior: how far is it from the best linear fills?

Thick cloud carries most of the default models' remaining error, and there their output is the
prior (push-pull with ``PRIOR_RELAX`` Jacobi sweeps per level, over the scene background). This
bench measures whether a better-converged or differently shaped linear fill would help, on
TRAINING-side windows only (``bench_rim.training_windows``: Slovenia rows 0-63 of two clear dates,
Sen1Floods11 rows 0-127, the BigEarthNet patches but the held-out one; seeds 7001+, not the held-out
bench's 1000+):

1. **The fill alone** (``fill`` rows): realistic clouds (``HELD_OUT_SIMULATOR``), only the thick
   pixels unknown (thin cloud and shadow given their true values, so that the thick fill is
   isolated), B02 B03 B04 B08 reflectance; thick-pixel PSNR pooled over cases, the median gain over
   the prior and in how many cases it is better. Methods: scikit-image biharmonic (the peer),
   push-pull without sweeps, the prior, push-pull followed by conjugate gradients per pyramid level
   (a cascadic multigrid: 2 / 8 / 16 iterations on full resolution / level 1 / coarser), the exact
   harmonic (Laplace) fill (scipy sparse LU), and the screened-Poisson fill ``(L + k^2) u = k^2 m``
   towards the clear mean ``m`` (the conditional mean of a Whittle-Matern field of range ``1/k``).
2. **Through the engine** (``--engine``): each default removal model through ``cloudfree remove``
   with the true mask, the engine's prior as shipped and with the cascadic solve in its place; all
   cloud and shadow pixels, PSNR / SSIM. The model and the scene background stay as they are.

    python bench/bench_prior.py [--engine]      # prints tables, writes bench/results/prior.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spl
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rim import training_windows
from cloudfree.data.holdout import data_root
from cloudfree.evaluation.baselines import biharmonic_fill
from cloudfree.evaluation.holdout import HELD_OUT_SIMULATOR
from cloudfree.models.push_pull import PRIOR_RELAX, _mean4, _sum2x2, push_pull_fill
from common import machine, print_table, save_json

SEEDS = (7001, 7002, 7003)
CASCADE = (2, 8, 16)  # CG iterations at full resolution, level 1, coarser levels


def _cg(u: torch.Tensor, fixed: torch.Tensor, free: torch.Tensor, iters: int) -> torch.Tensor:
    """Conjugate gradients on the harmonic system over ``free`` (0/1) pixels; ``fixed`` = known values."""
    u = fixed + free * u
    r = free * (_mean4(u) - u)
    p, rs = r.clone(), (r * r).sum(dim=(-2, -1), keepdim=True)
    for _ in range(iters):
        ap = free * (p - _mean4(p))
        alpha = rs / (p * ap).sum(dim=(-2, -1), keepdim=True).clamp_min(1e-30)
        u, r = u + alpha * p, r - alpha * ap
        rs_new = (r * r).sum(dim=(-2, -1), keepdim=True)
        p, rs = r + (rs_new / rs.clamp_min(1e-30)) * p, rs_new
    return u


def cascadic_fill(x: torch.Tensor, known: torch.Tensor, iters: tuple[int, int, int] = CASCADE) -> torch.Tensor:
    """Push-pull's pyramid with CG on every level instead of Jacobi sweeps (``known`` 0/1, ``(N, 1, H, W)``)."""
    xs, ws, sizes = [], [], []
    w, cur = known.clamp(0, 1), torch.where(known > 0, x, torch.zeros_like(x))
    while True:
        xs.append(cur), ws.append(w), sizes.append(cur.shape[-2:])
        h, wd = cur.shape[-2:]
        if h <= 1 and wd <= 1:
            xs[-1] = w * cur
            break
        weighted = cur * w
        if h % 2 or wd % 2:
            weighted, w = F.pad(weighted, (0, wd % 2, 0, h % 2)), F.pad(w, (0, wd % 2, 0, h % 2))
        sw = _sum2x2(w)
        cur, w = _sum2x2(weighted) / sw.clamp_min(1e-6), sw.clamp(max=1.0)
    out = xs[-1]
    for level in range(len(xs) - 2, -1, -1):
        h, wd = sizes[level]
        out = F.interpolate(out, size=(h, wd), mode="bilinear", align_corners=False)
        fixed, free = ws[level] * xs[level], 1.0 - ws[level]
        out = fixed + free * out
        if min(h, wd) > 1:
            out = _cg(out, fixed, free, iters[min(level, 2)])
    return out


def exact_fill(img: np.ndarray, unknown: np.ndarray, k: float = 0.0) -> np.ndarray:
    """``(L + k^2) u = k^2 m`` on the unknown pixels of ``img`` ``(bands, h, w)`` (``k = 0``: harmonic)."""
    h, w = unknown.shape
    index = -np.ones((h, w), int)
    flat = np.flatnonzero(unknown)
    index.flat[flat] = np.arange(flat.size)
    r, c = np.divmod(flat, w)
    rows, cols, rhs, degree = [], [], np.zeros((flat.size, img.shape[0])), np.zeros(flat.size)
    for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):  # 4 neighbours inside the image (Neumann at its edge)
        rr, cc = r + dr, c + dc
        inside = np.flatnonzero((rr >= 0) & (rr < h) & (cc >= 0) & (cc < w))
        degree[inside] += 1
        j = index[rr[inside], cc[inside]]
        rows.append(inside[j >= 0]), cols.append(j[j >= 0])
        known = inside[j < 0]
        rhs[known] += img[:, rr[known], cc[known]].T
    mean = img[:, ~unknown].mean(axis=1)
    diag = np.arange(flat.size)
    a = sp.csc_matrix(
        (np.concatenate([-np.ones(sum(x.size for x in rows)), degree + k * k]),
         (np.concatenate([*rows, diag]), np.concatenate([*cols, diag]))),
        shape=(flat.size, flat.size),
    )  # fmt: skip
    out = img.copy()
    out[:, r, c] = spl.splu(a).solve(rhs + k * k * mean[None]).T
    return out


def _torch_fill(fn, img: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(img.astype(np.float32))[None]
    known = torch.from_numpy((~unknown).astype(np.float32))[None, None]
    with torch.no_grad():
        return fn(x, known)[0].numpy().astype(np.float64)


FILLS = {
    "biharmonic (skimage)": lambda img, u: biharmonic_fill(img, u.astype(np.uint8)).astype(np.float64),
    "push-pull, no sweeps": lambda img, u: _torch_fill(push_pull_fill, img, u),
    "prior (push-pull, PRIOR_RELAX sweeps)": lambda img, u: _torch_fill(
        lambda x, k: push_pull_fill(x, k, relax=PRIOR_RELAX), img, u
    ),
    "cascadic CG 2/8/16": lambda img, u: _torch_fill(cascadic_fill, img, u),
    "exact harmonic": lambda img, u: exact_fill(img, u),
    "screened, range 64 px": lambda img, u: exact_fill(img, u, 1 / 64),
    "screened, range 32 px": lambda img, u: exact_fill(img, u, 1 / 32),
}


def fill_rows() -> list[dict]:
    mse: dict[str, list[float]] = {name: [] for name in FILLS}
    for _, scene in training_windows(data_root()):
        truth = scene.to_reflectance().data.astype(np.float64)
        for seed in SEEDS:
            _, mask, _ = HELD_OUT_SIMULATOR.simulate_raster(scene, rng=seed)
            thick = mask == 1
            if thick.sum() < 50 or thick.all():
                continue
            for name, fill in FILLS.items():
                mse[name].append(float(((fill(truth, thick)[:, thick] - truth[:, thick]) ** 2).mean()))
    ref = np.array(mse["prior (push-pull, PRIOR_RELAX sweeps)"])
    rows = []
    for name, values in mse.items():
        gain = 10 * np.log10(ref / np.array(values))
        pooled = 10 * np.log10(1 / np.mean(values))
        rows.append({"method": name, "psnr_db_pooled": round(float(pooled), 2),
                     "gain_vs_prior_db_median": round(float(np.median(gain)), 2),
                     "cases_better": f"{int((gain > 0.005).sum())}/{gain.size}"})  # fmt: skip
    return rows


def engine_rows() -> list[dict]:
    import cloudfree.inference.runner as runner
    from cloudfree import bands as bandcat
    from cloudfree.evaluation.report import evaluate_rasters
    from cloudfree.inference.removal import remove
    from cloudfree.io import read_raster, write_mask, write_raster

    shipped = (runner.push_pull_fill, runner.background_prior)
    swapped = (lambda x, k, relax=0: cascadic_fill(x, k), lambda x, k, b, relax=0: b + cascadic_fill(x - b, k))
    scores: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (_, scene) in enumerate(training_windows(data_root())):
            for seed in SEEDS[:2]:
                cloudy, mask, _ = HELD_OUT_SIMULATOR.simulate_raster(scene, rng=seed)
                base = Path(tmp) / f"w{i}_{seed}"
                write_raster(cloudy, f"{base}_c.tif", cog=False, tags={"DATETIME": scene.tags.get("DATETIME", "")})
                write_mask(mask, scene, f"{base}_m.tif", cog=False)
                for label, (fill, over_background) in (("shipped prior", shipped), ("cascadic CG prior", swapped)):
                    runner.push_pull_fill, runner.background_prior = fill, over_background
                    out = Path(f"{base}_{label[:4]}.tif")
                    remove(f"{base}_c.tif", out, model="default-rgbn", mask=f"{base}_m.tif", progress=False)
                    pred = read_raster(out).to_reflectance().select(bandcat.resolve("rgbn"))
                    r = evaluate_rasters(pred, scene.to_reflectance(), mask=mask)["cloudy"]
                    scores.setdefault(("default-rgbn", label), []).append((float(r["psnr"]), float(r["ssim"])))
    runner.push_pull_fill, runner.background_prior = shipped
    return [{"model": m, "prior under thick cloud": label, "psnr_db_mean": round(float(np.mean([p for p, _ in v])), 3),
             "ssim_mean": round(float(np.mean([s for _, s in v])), 4), "cases": len(v)}
            for (m, label), v in scores.items()]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", action="store_true", help="also run default-rgbn through remove with each prior")
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    result = {"machine": machine(), "rows": fill_rows()}
    print_table(f"thick-cloud fill alone, training-side windows, {len(SEEDS)} simulations each", result["rows"])
    if args.engine:
        result["engine"] = engine_rows()
        print_table("default-rgbn through remove, cloud + shadow pixels", result["engine"])
    print("results:", save_json("prior", result))


if __name__ == "__main__":
    main()
