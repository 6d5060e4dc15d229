"""Distil ukis-csmask into cloudfree's own small mask U-Net (the ``default-mask`` candidate).

Teacher: ukis-csmask soft class probabilities (clear, cloud, shadow), run as cloudfree runs it (at
about 30 m, :func:`cloudfree.masking.predict.csmask_array_probabilities`), on every real scene in
``../shared/data`` except the evaluation tile ``cloud_labels_6band`` (never read here):
Madagascar (L1C, ~70 m), the five Slovenia dates (L1C), Sen1Floods11 (L1C), the SEN12MS-CR patch
(L1C), the six BigEarthNet patches (L2A, the L2A teacher). Scenes at 10 m are also used reduced to
20 m and 30 m (block means; the teacher is rerun on each version), so the student sees several
resolutions (versions under 100 px are skipped: the teacher's heavily padded tiles go wrong
there, e.g. a third of a clear Slovenia date called shadow at 20 m). Plus simulated clouds and
shadows with exact masks (:mod:`cloudfree.data.synthetic_clouds`) over the clear scenes, for a
third of each batch. s2cloudless probabilities are not mixed in: they are cloud only (they would
dilute the shadow class) and s2cloudless agrees with ukis-csmask on these L1C scenes anyway.

Selection: the bottom quarter of every teacher-labelled scene version is held out; the student
checkpoint with the best mean of cloud and shadow F1 against the teacher's argmax on those windows
is kept. The current packaged ``default-mask`` is scored on the same windows; the new model is
written to ``--out`` and only installed as ``default-mask`` by the user (``--install``) when it
is better there.

Run (background, one thread, others share the cores):
    nohup python scripts/distill_mask.py --minutes 35 --out runs/distill_mask > runs/distill_mask.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cloudfree.data.synthetic_clouds import CloudSimulator
from cloudfree.io.open import open_raster
from cloudfree.masking.csmask import CsmaskModel, resample_factor
from cloudfree.masking.predict import MaskModel, csmask_array_probabilities
from cloudfree.masking.segmentation import SegmentationUNet, input_normalization, prepare_input
from cloudfree.masks import fold
from cloudfree.models.release import WEIGHTS_DIR, ReleaseConfig, save_release

BANDS6 = ("B02", "B03", "B04", "B08", "B11", "B12")
STUDENT_BANDS = ("B02", "B03", "B04", "B08")
DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CROP = 64
ARCH = {
    "in_channels": 4,
    "classes": 3,
    "encoder_name": "tu-tf_mobilenetv3_small_minimal_100",
    "encoder_depth": 4,
    "decoder_channels": [64, 32, 16, 16],
}


def scenes() -> list[tuple[str, Path, str | None, str, bool]]:
    """``(name, path, bands, level, clear)`` of every real scene used (not cloud_labels_6band)."""
    out = [("madagascar", DATA / "madagascar_cloudy_l1c/S2_L1C_cloudy.tif", None, "L1C", False)]
    for p in sorted((DATA / "slovenia_timeseries_l1c").glob("S2_L1C_*.tif")):
        clear = p.stem.split("_")[-1] in ("2015-07-11", "2015-08-30", "2015-09-09")
        out.append((f"slovenia_{p.stem[-10:]}", p, None, "L1C", clear))
    out.append(("sen1floods11", next((DATA / "sen1floods11_spain").glob("*_S2Hand.tif")), None, "L1C", True))
    out.append(("sen12mscr", DATA / "sen12mscr_sample/ROIs1868_summer_s2_cloudy_19_p30.tif", "l1c13", "L1C", False))
    for p in sorted((DATA / "bigearthnet_examples/BigEarthNet-S2-Example").iterdir()):
        out.append((f"ben_{p.name[-5:]}", p, None, "L2A", "57_38" not in p.name))
    return out


def resolution_m(raster) -> float:
    a = abs(raster.transform.a)
    if raster.crs is not None and raster.crs.is_geographic:
        lat = raster.transform.f + raster.transform.e * raster.height / 2
        return a * 111_320.0 * math.cos(math.radians(lat))
    return a


def block(x: np.ndarray, k: int) -> np.ndarray:
    if k == 1:
        return x
    c, h, w = x.shape
    h2, w2 = h // k * k, w // k * k
    return x[:, :h2, :w2].reshape(c, h2 // k, k, w2 // k, k).mean(axis=(2, 4))


def build_data(log) -> list[dict]:
    """Every scene version with reflectance (6 bands), validity, teacher probabilities and the split row."""
    items = []
    for name, path, bands, level, clear in scenes():
        r = open_raster(path, bands) if bands else open_raster(path)
        refl = r.select(BANDS6).to_reflectance().data.astype(np.float32)
        valid = r.valid & np.isfinite(refl).all(axis=0)
        refl = np.where(valid[None], np.nan_to_num(refl), 0.0).astype(np.float32)
        res = resolution_m(r)
        teacher = CsmaskModel(6, level)
        for k in (1, 2, 3) if res < 15 else (1,):
            x = block(refl, k)
            if k > 1 and min(x.shape[1:]) < 100:  # too small: the teacher's padded tiles go wrong
                continue
            v = block(valid[None].astype(np.float32), k)[0] > 0.99
            f = resample_factor(res * k)
            t0 = time.time()
            p = csmask_array_probabilities(x, v, teacher, f)
            items.append(
                dict(name=f"{name}@{res * k:.0f}m", x=x, valid=v, p=p, clear=clear, split=int(x.shape[1] * 0.75))
            )
            frac = p.argmax(0)
            log(
                f"teacher {name} {res * k:.0f} m (factor {f}, {teacher.name}): {x.shape[1]}x{x.shape[2]} px, "
                f"cloud {np.mean(frac == 1):.1%} shadow {np.mean(frac == 2):.1%} ({time.time() - t0:.1f} s)"
            )
    return items


def augment(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    k = int(rng.integers(4))
    x, y = np.rot90(x, k, axes=(1, 2)), np.rot90(y, k, axes=(-2, -1))
    if rng.random() < 0.5:
        x, y = x[:, :, ::-1], y[..., ::-1]
    gain = rng.uniform(0.9, 1.1)
    return np.ascontiguousarray(x * gain), np.ascontiguousarray(y)


def crop(item: dict, rng: np.random.Generator, train: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A CROP x CROP window of the training (top) part: reflectance, teacher probs, valid."""
    x, p, v = item["x"], item["p"], item["valid"]
    h = item["split"] if train else x.shape[1]
    w = x.shape[2]
    r = int(rng.integers(0, max(h - CROP, 0) + 1))
    c = int(rng.integers(0, max(w - CROP, 0) + 1))
    xs, ps, vs = x[:, r : r + CROP, c : c + CROP], p[:, r : r + CROP, c : c + CROP], v[r : r + CROP, c : c + CROP]
    ph, pw = CROP - xs.shape[1], CROP - xs.shape[2]
    if ph or pw:
        xs = np.pad(xs, ((0, 0), (0, ph), (0, pw)), mode="symmetric")
        ps = np.pad(ps, ((0, 0), (0, ph), (0, pw)), mode="symmetric")
        vs = np.pad(vs, ((0, ph), (0, pw)), mode="symmetric")
    return xs, ps, vs


def synthetic(items: list[dict], sim: CloudSimulator, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Simulated clouds over a clear crop: cloudy reflectance and one-hot (clear, cloud, shadow) labels."""
    clear = [it for it in items if it["clear"]]
    xs, _, vs = crop(clear[int(rng.integers(len(clear)))], rng)
    cloudy, mask = sim.simulate(xs, BANDS6, rng, valid=vs)
    idx = np.select([fold(mask, "cloud_shadow") == 1, fold(mask, "cloud_shadow") == 3], [1, 2], 0)
    onehot = np.eye(3, dtype=np.float32)[idx].transpose(2, 0, 1)
    return cloudy.astype(np.float32), onehot


def f1_scores(pred: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    out = []
    for k in (1, 2):
        a, b = pred == k, ref == k
        tp = float((a & b).sum())
        out.append(2 * tp / max(float(a.sum() + b.sum()), 1.0))
    return out[0], out[1]


def evaluate(predict, items: list[dict]) -> dict[str, float]:
    """Pooled cloud / shadow F1 against the teacher's argmax on the held-out bottom quarters."""
    preds, refs = [], []
    for it in items:
        s = it["split"]
        x, v = it["x"][:, s:], it["valid"][s:]
        if x.shape[1] < 8:
            continue
        preds.append(predict(x)[v])
        refs.append(it["p"][:, s:].argmax(0)[v])
    c, sh = f1_scores(np.concatenate(preds), np.concatenate(refs))
    return {"cloud_f1": c, "shadow_f1": sh, "mean_f1": (c + sh) / 2}


def student_predictor(model, norm):
    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            t = prepare_input(torch.from_numpy(x[:4][None].copy()), norm)
            return model(t)[0].argmax(0).numpy()

    return predict


def default_predictor():
    mm = MaskModel.load("default-mask", "cpu")
    index = {0: 0, 1: 1, 2: 1, 3: 2}  # codes -> teacher index (thick, thin -> cloud)

    def predict(x: np.ndarray) -> np.ndarray:
        idx = mm.probabilities(x[:4][None].astype(np.float32))[0].argmax(0)
        return np.vectorize(lambda i: index[mm.codes[i]])(idx)

    return predict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=35.0, help="training time budget (wall clock)")
    ap.add_argument("--out", default="runs/distill_mask", help="output folder (release in OUT/release)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--synthetic", type=float, default=0.3, help="share of simulated-cloud samples per batch")
    ap.add_argument("--eval-every", type=float, default=120.0, help="seconds between held-out evaluations")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    cache = out / "teacher.npz"
    if cache.exists():
        with np.load(cache) as z:
            meta = json.loads(str(z["meta"]))
            items = [dict(m, x=z[f"x{i}"], valid=z[f"v{i}"], p=z[f"p{i}"]) for i, m in enumerate(meta)]
        log(f"teacher labels from {cache} ({len(items)} scene versions)")
    else:
        items = build_data(log)
        arrays = {}
        for i, it in enumerate(items):
            arrays.update({f"x{i}": it["x"], f"v{i}": it["valid"], f"p{i}": it["p"]})
        meta = [{k: it[k] for k in ("name", "clear", "split")} for it in items]
        np.savez_compressed(cache, meta=json.dumps(meta), **arrays)
    base = evaluate(default_predictor(), items)
    log(f"current default-mask on held-out teacher labels: {base}")
    norm = input_normalization(STUDENT_BANDS)
    model = SegmentationUNet(**ARCH)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sim = CloudSimulator(coverage=(0.1, 0.6), feature_px=(16.0, 64.0), cloud_height_px=(3.0, 12.0))
    weights = np.array([np.sqrt(it["x"].shape[1] * it["x"].shape[2]) for it in items])
    weights /= weights.sum()
    budget = args.minutes * 60
    t_start = last_eval = time.time()
    best, best_state, step, history = -1.0, None, 0, []
    while time.time() - t_start < budget:
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * min((time.time() - t_start) / budget, 1.0)))
        for g in opt.param_groups:
            g["lr"] = lr
        xs, ys, ms = [], [], []
        for _ in range(args.batch):
            if rng.random() < args.synthetic:
                x, y = synthetic(items, sim, rng)
                m = np.ones(x.shape[1:], np.float32)
            else:
                x, y, v = crop(items[int(rng.choice(len(items), p=weights))], rng)
                m = v.astype(np.float32)
            x, y2 = augment(x, np.concatenate([y, m[None]]), rng)
            xs.append(x[:4])
            ys.append(y2[:3])
            ms.append(y2[3])
        xb = prepare_input(torch.from_numpy(np.stack(xs)), norm)
        yb, mb = torch.from_numpy(np.stack(ys)), torch.from_numpy(np.stack(ms))
        logp = F.log_softmax(model(xb), dim=1)
        cw = torch.tensor([1.0, 1.0, 2.0]).view(1, 3, 1, 1)  # shadows are rare and thin
        loss = -((yb * logp * cw).sum(1) * mb).sum() / mb.sum().clamp(min=1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 25 == 0:
            log(f"step {step} loss {loss.item():.4f} lr {lr:.2e} ({step / (time.time() - t_start):.2f} steps/s)")
        if time.time() - last_eval > args.eval_every or time.time() - t_start >= budget:
            model.eval()
            score = evaluate(student_predictor(model, norm), items)
            model.train()
            history.append({"step": step, "minutes": (time.time() - t_start) / 60, **score})
            log(f"held-out vs teacher at step {step}: {score}")
            if score["mean_f1"] > best:
                best, best_state = score["mean_f1"], {k: v.clone() for k, v in model.state_dict().items()}
            last_eval = time.time()
    model.load_state_dict(best_state)
    model.eval()
    final = evaluate(student_predictor(model, norm), items)
    config = ReleaseConfig(
        name="default-mask",
        kind="mask",
        architecture="segmentationunet",
        arguments=ARCH,
        in_bands=STUDENT_BANDS,
        out_bands=("clear", "cloud", "shadow"),
        normalization=norm.to_dict(),
        extra={
            "class_codes": [0, 1, 3],
            "scheme": "cloud_shadow",
            "preprocess": "reflectance",
            "task": "segmentation",
            "distilled_from": "ukis-csmask 1.0.0 (6-band L1C / L2A models, at about 30 m)",
            "auto_eligible": False,
        },
    )
    release = save_release(model, config, out / "release", half=True)
    summary = {
        "minutes": args.minutes,
        "steps": step,
        "batch": args.batch,
        "held_out_vs_teacher": final,
        "current_default_vs_teacher": base,
        "history": history,
        "scenes": [it["name"] for it in items],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    log(f"wrote {release}; held-out vs teacher {final}; current default {base}")
    if final["mean_f1"] > base["mean_f1"]:
        log(f"better than the current default on held-out teacher labels: copy {release} to {WEIGHTS_DIR}/default-mask")
    else:
        log("NOT better than the current default on held-out teacher labels: keep the current default")


if __name__ == "__main__":
    main()
