"""Which removal method a run uses, and why: ``--method auto`` (the default) and the explicit ones.

The most informative source comes first (docs/DESIGN.md):

1. **other dates of the same place** (``--series``): the temporal fill ``gapfill`` (nearest clear
   date with a per-band radiometric fit); pixels that no date sees clear are then filled by the
   model, when one is available (else kept, and counted);
2. **Sentinel-1** with a SAR-capable release: SAR-optical fusion (``--sar``; the multi-temporal
   S1+S2 model with ``--prev S2_T0 --sar S1_T1 --prev-sar S1_T0``);
3. otherwise **the single-date model** (the packaged ``default-rgbn`` unless ``--model``).

``--method model`` forces the model (with whatever inputs its release takes); ``gapfill``,
``least-cloudy``, ``mosaic`` and ``median`` are the temporal baselines alone (no model, leftovers
kept). :func:`choose_method` makes the choice from the inputs given and the release's config
(read from ``config.json``: no weights are loaded to choose).
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudfree.inference.runner import input_groups, is_multi_temporal
from cloudfree.models.release import ReleaseConfig

TEMPORAL = ("gapfill", "least-cloudy", "mosaic", "median")
METHODS = ("auto", "model", *TEMPORAL)


@dataclass(frozen=True)
class Choice:
    """A decided method: ``temporal`` (a baseline or None), ``model`` (a model pass runs), and why."""

    method: str  # "model", a temporal method, or "gapfill+model"
    temporal: str | None
    model: bool
    variant: str  # "single-date", "SAR-optical fusion", "multi-temporal S1+S2", "none"
    reason: str

    def describe(self) -> str:
        return f"{self.method} ({self.variant}): {self.reason}"


def _variant(config: ReleaseConfig) -> str:
    if is_multi_temporal(config):
        return "multi-temporal S1+S2"
    return "SAR-optical fusion" if config.sar_bands else "single-date"


def check_model_inputs(config: ReleaseConfig, *, sar: bool, prev: bool, prev_sar: bool) -> None:
    """Refuse inputs the release does not take, and missing ones it needs (flags named)."""
    groups = set(input_groups(config))
    needs = {"--sar": "sar" in groups, "--prev": "prev_optical" in groups, "--prev-sar": "prev_sar" in groups}
    given = {"--sar": sar, "--prev": prev, "--prev-sar": prev_sar}
    what = {
        "--sar": "Sentinel-1 (--sar)",
        "--prev": "earlier Sentinel-2 (--prev)",
        "--prev-sar": "earlier Sentinel-1 (--prev-sar)",
    }
    missing = [what[flag] for flag in needs if needs[flag] and not given[flag]]
    extra = [what[flag] for flag in needs if given[flag] and not needs[flag]]
    if missing:
        raise ValueError(f"model {config.name!r} ({_variant(config)}) needs {', '.join(missing)}")
    if extra:
        raise ValueError(
            f"model {config.name!r} ({_variant(config)}) takes no {', '.join(extra)} input; drop it or pass "
            f"--model with a release that does"
        )


def choose_method(
    method: str,
    *,
    series: bool,
    sar: bool = False,
    prev: bool = False,
    prev_sar: bool = False,
    config: ReleaseConfig | None = None,
) -> Choice:
    """Decide the method (see the module docstring); ``config`` is the release, None when unavailable."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {list(METHODS)}")
    if method in TEMPORAL:
        if not series:
            raise ValueError(f"--method {method} needs other dates of the same place: --series A.tif B.tif ...")
        if sar or prev or prev_sar:
            raise ValueError(f"--method {method} uses --series only; drop --sar / --prev / --prev-sar")
        return Choice(method, method, False, "none", f"--method {method} asked for (no model; unfilled pixels kept)")
    if series:
        if method == "model":
            raise ValueError(
                "--series is for temporal methods; use --method auto or gapfill|least-cloudy|mosaic|median"
            )
        if sar or prev or prev_sar:
            raise ValueError("give --series (temporal fill) or --sar/--prev/--prev-sar (SAR fusion), not both")
        model = config is not None and not config.sar_bands and not is_multi_temporal(config)
        left = f"model {config.name!r} fills pixels no date sees clear" if model else "no single-date model to fill "
        left += "" if model else "pixels no date sees clear: they are kept"
        return Choice(
            "gapfill+model" if model else "gapfill",
            "gapfill",
            model,
            "temporal fill",
            f"--series given: other dates of the same place are the most informative source "
            f"(nearest clear date, per-band radiometric fit); {left}",
        )
    if config is None:
        raise ValueError("no removal model available: pass --model NAME|DIR, or --series for a temporal fill")
    check_model_inputs(config, sar=sar, prev=prev, prev_sar=prev_sar)
    variant = _variant(config)
    if method == "model":
        reason = "--method model asked for"
    elif variant == "multi-temporal S1+S2":
        reason = "--prev, --sar and --prev-sar given with a multi-temporal S1+S2 release"
    elif variant == "SAR-optical fusion":
        reason = "--sar given with a SAR-capable release"
    else:
        reason = "no other date and no Sentinel-1 given: the single-date model"
    return Choice("model", None, True, variant, f"{reason} ({config.name})")
