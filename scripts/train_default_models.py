"""Train, evaluate and package cloudfree's default models (default-mask, default-rgbn, default-l1c13).

Each model is trained from its config in ``configs/default_<name>.yaml`` (synthetic clouds and shadows
over the real clear scenes in ../shared/data, with held-out windows and scenes), exported as a
float16 release (``model.safetensors`` + ``config.json``), evaluated on the held-out data
(:mod:`cloudfree.evaluation.holdout`), given a model card (``MODEL_CARD.md``), and copied into
``src/cloudfree/weights/default-<name>/`` where ``--model default-<name>`` finds it with no network.

    python scripts/train_default_models.py                      # all three, default time budgets
    python scripts/train_default_models.py --only rgbn --minutes 30 --device cuda
    python scripts/train_default_models.py --skip-training      # re-evaluate and re-package only
    python scripts/train_default_models.py --only l1c13 --repackage-installed   # no checkpoint needed
    python scripts/train_default_models.py --only rgbn --minutes 60 --init-from runs/init/rgbn.ckpt
    python scripts/train_default_models.py --only l1c13 --minutes 80 --init-from runs/init/l1c13-3.ckpt \
        --set optim.lr=1.5e-4 --set optim.n_epochs=30 --set optim.n_epochs_decay=120

``--init-from`` starts from the weights of an earlier checkpoint (loaded with ``weights_only=True``;
a warm start, not a resume: the optimiser, schedule and epoch count start afresh).

Run it from the repository root (the configs name ../shared/data relative to it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"mask": 10.0, "rgbn": 40.0, "l1c13": 40.0}  # name -> default training minutes


# parameters a warm start may lack: branches added to the architecture with a zero initialisation
# (the model with them starts as the model without them)
NEW_BRANCHES = ("generator.gain.", "generator.ratio_gate.")


def train_one(
    name: str, minutes: float, device: str, threads: int, init_from: Path | None = None, extra: list[str] | None = None
) -> Path:
    """Train ``configs/default_<name>.yaml`` for ``minutes`` (``extra``: more KEY=VALUE overrides); returns the last
    checkpoint."""
    import torch

    from cloudfree.training.config import load_config
    from cloudfree.training.trainer import build_run, fit

    torch.set_num_threads(threads)
    if name in ("rgbn", "l1c13"):
        from cloudfree.data.holdout import prepare_training_inputs

        prepare_training_inputs(ROOT, log=lambda msg: print(f"[{name}] {msg}", flush=True))
    seconds = int(minutes * 60)
    overrides = [
        f"trainer.max_time=00:{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}",
        f"trainer.accelerator={'gpu' if device == 'cuda' else 'cpu'}",
        *(extra or []),
    ]
    config = load_config(ROOT / "configs" / f"default_{name}.yaml", overrides)
    run = build_run(config)
    if init_from is not None:
        state = torch.load(init_from, map_location="cpu", weights_only=True)["state_dict"]
        missing, unexpected = run.task.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith(NEW_BRANCHES) for k in missing):
            raise SystemExit(f"{init_from} does not fit default_{name}.yaml: missing {missing}, extra {unexpected}")
        extra_note = f" (new, zero-initialised: {', '.join(missing)})" if missing else ""
        print(f"[{name}] warm start from {init_from}{extra_note}", flush=True)
    t0 = time.perf_counter()
    last = fit(run)
    minutes = (time.perf_counter() - t0) / 60
    print(f"[{name}] trained for {minutes:.1f} min -> {last}", flush=True)
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    steps = int(ckpt.get("global_step", 0))
    samples = steps * int(config["data"].get("batch_size", 1))
    record = {"minutes": minutes, "steps": steps, "samples": samples, "samples_per_s": samples / (minutes * 60),
              "threads": threads, "init_from": str(init_from) if init_from else None,
              "overrides": list(extra or [])}  # fmt: skip
    (ROOT / "runs" / f"default_{name}" / "training.json").write_text(json.dumps(record, indent=2))
    return last


def _added_generator_arguments(name: str, checkpoint: Path) -> dict:
    """Generator arguments the config gained after ``checkpoint`` was trained (e.g. ``thick_residual``).

    They must not change the weights (the export checks it); an argument the checkpoint has with
    another value is refused: retrain instead.
    """
    import yaml

    from cloudfree.training.export import load_task

    wanted = (yaml.safe_load((ROOT / "configs" / f"default_{name}.yaml").read_text())["model"] or {}).get(
        "generator"
    ) or {}
    trained = load_task(checkpoint).release_config(name).arguments
    for key, value in wanted.items():
        if key in trained and trained[key] != value:
            raise SystemExit(f"{checkpoint}: trained with generator {key}={trained[key]!r}, the config says {value!r}")
    added = {k: v for k, v in wanted.items() if k not in trained}
    if added:
        print(f"[{name}] release arguments added from the config: {added}", flush=True)
    return added


def package_one(name: str, device: str, seeds: int, checkpoint_choice: str = "best") -> Path:
    """Export, evaluate on held-out data, write the model card, install into the package.

    ``checkpoint_choice``: ``best`` (the best validation score ModelCheckpoint kept, else the last) or
    ``last`` (e.g. a fine-tune of one branch that the validation window barely sees).
    """
    from cloudfree.training.export import export_release

    run_dir = ROOT / "runs" / f"default_{name}"
    release = run_dir / "release"
    if release.exists():
        shutil.rmtree(release)
    # the checkpoint with the best validation score (ModelCheckpoint keeps the top one), else the last
    best = sorted((run_dir / "checkpoints").glob("epoch*.ckpt")) if checkpoint_choice == "best" else []
    checkpoint = best[-1] if best else run_dir / "checkpoints" / "last.ckpt"
    print(f"[{name}] releasing {checkpoint.name}", flush=True)
    _, config = export_release(
        checkpoint, release, name=f"default-{name}", half=True, arguments=_added_generator_arguments(name, checkpoint)
    )
    record = run_dir / "training.json"
    training = json.loads(record.read_text()) if record.exists() else None
    if training is not None:
        training["released"] = "best" if best else "last"
    return _evaluate_and_install(name, release, config, device, seeds, training)


def repackage_installed(name: str, device: str, seeds: int) -> Path:
    """Re-package the installed ``default-<name>`` without its checkpoint and without retraining.

    Takes the generator arguments the config gained that add no weights (e.g. ``fill_bands``), checks
    that the weights fit the rebuilt model exactly, then re-evaluates, rewrites the model card and
    installs, as :func:`package_one` does. The training record is the release's own ``training.json``
    (``runs/default_<name>/training.json`` takes precedence), with ``repackaged`` noted on the card.
    """
    import yaml

    from cloudfree.models import build_model
    from cloudfree.models.release import WEIGHTS_DIR, load_release, save_release

    model, config = load_release(WEIGHTS_DIR / f"default-{name}")
    wanted = (yaml.safe_load((ROOT / "configs" / f"default_{name}.yaml").read_text())["model"] or {}).get(
        "generator"
    ) or {}
    changed = {k: v for k, v in wanted.items() if k in config.arguments and config.arguments[k] != v}
    if changed:
        raise SystemExit(f"default-{name}: the config changes trained arguments {changed}: retrain instead")
    added = {k: v for k, v in wanted.items() if k not in config.arguments}
    print(f"[{name}] re-packaging the installed release; arguments added from the config: {added}", flush=True)
    config = replace(config, arguments={**config.arguments, **added})
    rebuilt = build_model(config.architecture, config.arguments, source=f"default-{name}")
    rebuilt.load_state_dict(model.state_dict(), strict=True)  # no new weights, none left over
    release = ROOT / "runs" / f"default_{name}" / "release"
    if release.exists():
        shutil.rmtree(release)
    save_release(rebuilt, config, release, half=True)
    record = ROOT / "runs" / f"default_{name}" / "training.json"
    if not record.exists():
        record = WEIGHTS_DIR / f"default-{name}" / "training.json"
    training = json.loads(record.read_text()) if record.exists() else None
    if training is not None and added:
        note = f"re-packaged {time.strftime('%Y-%m-%d')} without retraining, arguments added: {added}"
        training["note"] = "; ".join(t for t in (training.get("note"), note) if t)
    return _evaluate_and_install(name, release, config, device, seeds, training)


def _evaluate_and_install(name: str, release: Path, config, device: str, seeds: int, training: dict | None) -> Path:
    """Evaluate ``release`` on held-out data, write its metrics, model card and training record, install it."""
    from cloudfree.evaluation.holdout import evaluate_mask_model, evaluate_removal_model
    from cloudfree.evaluation.model_card import write_model_card
    from cloudfree.models.release import WEIGHTS_DIR

    if config.kind == "mask":
        metrics = evaluate_mask_model(release, device=device, seeds=seeds)
    else:
        metrics = evaluate_removal_model(release, device=device, seeds=seeds)
    (release / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if training is not None:  # kept with the release, so that a re-packaging can state it
        (release / "training.json").write_text(json.dumps(training, indent=2))
    write_model_card(release, config, metrics, ROOT / "configs" / f"default_{name}.yaml", training)
    target = WEIGHTS_DIR / f"default-{name}"
    staging = WEIGHTS_DIR / f".default-{name}.staging"
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(release, staging)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    size = sum(p.stat().st_size for p in target.iterdir()) / 1e6
    print(f"[{name}] installed {target} ({size:.1f} MB)", flush=True)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(MODELS), help="comma-separated subset of mask,rgbn,l1c13")
    parser.add_argument("--minutes", type=float, help="training minutes per model (default: per-model budget)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for training")
    parser.add_argument("--seeds", type=int, default=3, help="cloud simulations per held-out scene")
    parser.add_argument("--init-from", type=Path, help="warm start from this checkpoint's weights (one model)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for training, e.g. optim.lr=1.5e-4 (repeatable)")  # fmt: skip
    parser.add_argument("--skip-training", action="store_true", help="package the existing runs/ checkpoints")
    parser.add_argument("--skip-packaging", action="store_true", help="train only")
    parser.add_argument("--repackage-installed", action="store_true",
                        help="no training, no checkpoint: re-package the installed release with the weight-free "
                        "generator arguments its config gained, re-evaluate, rewrite the model card")  # fmt: skip
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="release the best validation checkpoint (default) or the last one")  # fmt: skip
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown default model(s) {unknown}; choose from {list(MODELS)}")
    if args.init_from is not None and len(names) != 1:
        parser.error("--init-from needs exactly one model (--only NAME)")
    for name in names:
        if args.repackage_installed:
            repackage_installed(name, args.device, args.seeds)
            continue
        if not args.skip_training:
            train_one(name, args.minutes or MODELS[name], args.device, args.threads, args.init_from, args.overrides)
        if not args.skip_packaging:
            package_one(name, args.device, args.seeds, args.checkpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
