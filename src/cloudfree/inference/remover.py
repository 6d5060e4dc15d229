"""Load once, run many: :class:`Remover` is built once from a release and options, then applied to scenes.

``Remover(model, **options)(scene, output, ...)`` runs one scene: inputs are checked first
(:mod:`.preflight`: output not an input and not existing unless ``overwrite``; masks on the scene's
grid; other dates and Sentinel-1 reprojectable; bands present), the method is chosen
(:mod:`.methods`; printed and recorded in the output's tags), the mask made when it is ``"auto"``
(:mod:`.automask`), and only then is the model loaded, once per Remover, however many scenes
follow. The passes themselves are in :mod:`.model_pass` (model, SAR fusion, multi-temporal) and
:mod:`.temporal` (other dates).

:class:`RemoverFactory` is the picklable batch worker factory of interfaces.md item 2: called once
per worker process, it returns ``process(job) -> dict``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from cloudfree import bands as bandcat
from cloudfree.inference import loading
from cloudfree.inference.automask import auto_mask
from cloudfree.inference.checks import warn_without_clear_ground
from cloudfree.inference.methods import Choice, choose_method
from cloudfree.inference.model_pass import ModelPass, RemovalOptions, primary_bands
from cloudfree.inference.preflight import check_outputs, check_side_inputs
from cloudfree.inference.provenance import resolve_path
from cloudfree.inference.sources import input_info
from cloudfree.inference.streaming import SceneSummary
from cloudfree.inference.temporal import fill_temporal
from cloudfree.io.atomic import temp_directory
from cloudfree.io.geotiff import band_names_of, open_info
from cloudfree.models.release import ReleaseConfig

AUTO = "auto"
THRESHOLD = "threshold"
PathLike = str | os.PathLike[str]


def _stderr(line: str) -> None:
    print(f"cloudfree: {line}", file=sys.stderr)


class Remover:
    """A removal pipeline bound to one release (loaded lazily, once) and one set of options.

    Args:
        model: release name (packaged) or directory; ``None`` = the packaged ``default-rgbn``
            (needed only when a model pass runs: temporal baselines need no model).
        options: :class:`RemovalOptions` (or pass its fields as keywords).
        log: receives one line per decision (method, mask, notes); default: stderr.
        defaults: per-scene defaults of :meth:`process` (``method``, ``mask``, ``provenance``).
    """

    def __init__(
        self,
        model: PathLike | None = None,
        options: RemovalOptions | None = None,
        *,
        log: Callable[[str], None] | None = None,
        defaults: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        self.model = None if model is None else str(model)
        self.options = options or RemovalOptions(**kw)
        self.options.check()
        self.log = log or _stderr
        self.device = self.options.device or loading.default_device()
        self._default: str | None = None  # packaged default picked for the current scene's bands
        self._configs: dict[str, ReleaseConfig] = {}
        self._nets: dict[str, nn.Module] = {}
        self.loads = 0
        self.defaults = dict(defaults or {})

    # -- the release -------------------------------------------------------------------------
    @property
    def config(self) -> ReleaseConfig:
        """The release's config (``config.json`` only; no weights)."""
        name = self._name()
        if name not in self._configs:
            self._configs[name] = loading.read_config(name)
        return self._configs[name]

    def _name(self) -> str:
        """The release in use: the one asked for, else the packaged default for the scene's bands."""
        return loading.resolve_model(self.model, self._default or loading.DEFAULT_MODEL)

    def _config_or_none(self) -> ReleaseConfig | None:
        try:
            return self.config
        except loading.ReleaseError:
            if self.model is not None:
                raise
            return None

    @property
    def net(self) -> nn.Module:
        """The network, loaded on first use and kept for every later scene."""
        name = self._name()
        if name not in self._nets:
            self._nets[name], self._configs[name] = loading.load_model(name, self.device)
            self.loads += 1
        return self._nets[name]

    # -- one scene ---------------------------------------------------------------------------
    def __call__(
        self,
        input: PathLike,
        output: PathLike,
        *,
        method: str = AUTO,
        mask: PathLike | None = AUTO,
        sar: PathLike | None = None,
        prev: PathLike | None = None,
        prev_sar: PathLike | None = None,
        series: Sequence[PathLike] = (),
        series_masks: Sequence[PathLike] | None = None,
        uncertainty: PathLike | None = None,
        write_mask: PathLike | None = None,
        provenance: PathLike | None = None,
        overwrite: bool = False,
    ) -> SceneSummary:
        """Remove clouds from ``input``; write a COG to ``output`` (see :func:`.removal.remove`)."""
        opt, src, out = self.options, Path(input), Path(output)
        info = input_info(src, opt.bands, dn_offset=opt.dn_offset)
        names = band_names_of(info, opt.bands)
        if self.model is None:
            self._default = loading.default_model_for(names)
        mask_file = None if mask is None or str(mask) in (AUTO, THRESHOLD) else Path(mask)
        side = [mask_file, sar, prev, prev_sar, *series, *(series_masks or [])]
        prov = resolve_path(provenance, out)
        check_outputs([out, prov, uncertainty, write_mask], [src, *side], overwrite=overwrite)
        config = (self._config_or_none() if series else self.config) if method in (AUTO, "model") else None
        choice = choose_method(
            method,
            series=bool(series),
            sar=sar is not None,
            prev=prev is not None,
            prev_sar=prev_sar is not None,
            config=config,
        )
        # grid checks: masks exactly on their raster's grid; other dates / Sentinel-1 reprojectable
        check_side_inputs(
            info, mask=mask_file, sar=sar, prev=prev, prev_sar=prev_sar, series=series, series_masks=series_masks
        )
        if choice.model:
            self._check_model_inputs(src, names, mask, uncertainty, choice)
        if choice.temporal and mask is None and not opt.replace_all:
            raise ValueError(f"--method {choice.temporal} needs the target's cloud mask (--mask FILE or auto)")
        if choice.model:
            self.net  # noqa: B018  (load the release now: a broken one fails before any work or narration)
        out.parent.mkdir(parents=True, exist_ok=True)
        with temp_directory("scratch", near=out) as tmp_dir:
            tmp = Path(tmp_dir)
            mask_path, mask_how = self._mask(mask, src, tmp / "mask.tif", choice)
            self.log(f"{src.name}: method {choice.describe()}")  # after the inputs proved readable
            self.log(f"{src.name}: mask {mask_how}")
            no_ground = False  # a single-date model with no clear pixel to fill from: nodata, not a guess
            if choice.temporal is None and mask_path is not None and not opt.replace_all:
                single = choice.variant == "single-date"
                no_ground = warn_without_clear_ground(mask_path, src.name, single_date=single) == 0 and single
            if choice.temporal is None:
                summary = self._model(src, names, out, mask_path, mask_how, choice, sar, prev, prev_sar,
                                      uncertainty, write_mask, prov, base=None, no_ground=no_ground)  # fmt: skip
            else:
                summary = self._temporal(src, names, out, mask_path, mask_how, choice, list(series),
                                         series_masks, uncertainty, write_mask, prov, tmp)  # fmt: skip
        summary.extra.update(method=choice.method, variant=choice.variant, reason=choice.reason, mask=mask_how)
        if prov is not None:
            summary.extra["provenance"] = str(prov)
        return summary

    def _check_model_inputs(
        self, src: Path, names: tuple[str, ...], mask: Any, uncertainty: Any, choice: Choice
    ) -> None:
        config = self.config
        wanted = primary_bands(config, names, keep_bands=False)
        bandcat.indices_of(names, wanted, f"{src} (input of model {config.name!r})")
        if uncertainty is not None and config.kind != "diffusion":
            raise ValueError(f"--uncertainty needs a diffusion model; {config.name!r} is a {config.kind} model")
        if config.uses_mask and (mask is None or str(mask) == THRESHOLD) and choice.temporal is None:
            raise ValueError(f"model {config.name!r} takes a cloud-mask channel; pass --mask FILE or --mask auto")

    def _auto_mask(self, src: Any, out: Path) -> tuple[Path | None, str]:
        o = self.options
        return auto_mask(src, out, self.device, o.progress, bands=o.bands, dn_offset=o.dn_offset,
                         dilate_m=o.mask_dilate_m, holes_ha=o.mask_holes_ha)  # fmt: skip

    def _mask(self, mask: Any, src: Path, tmp: Path, choice: Choice) -> tuple[Path | None, str]:
        no_mask_needed = self.options.replace_all and not (choice.model and self.config.uses_mask)
        if mask is None or str(mask) == THRESHOLD or (str(mask) == AUTO and no_mask_needed):
            if choice.temporal is not None or self.options.replace_all:
                return None, "none (--replace-all)"
            return None, f"threshold {self.options.threshold} on the model's own estimate"
        if str(mask) != AUTO:
            return Path(mask), f"file {Path(mask).name}"
        path, how = self._auto_mask(src, tmp)
        if path is None:
            if choice.model and choice.temporal is None and not self.config.uses_mask:
                return None, f"threshold {self.options.threshold} on the model's own estimate (auto: {how})"
            raise ValueError(f"{src}: --mask auto: {how}; pass --mask FILE")
        return path, f"auto: {how}"

    def _model(self, src, names, out, mask_path, mask_how, choice, sar, prev, prev_sar, uncertainty, write_mask,
               prov, *, base, keep_bands=None, tags=None, no_ground=False) -> SceneSummary:  # fmt: skip
        net, config = self.net, self.config
        multiple = getattr(net, "multiple", 1)
        if self.options.tile % multiple:
            raise ValueError(
                f"model {config.name!r} needs tiles that are multiples of {multiple} px; got --tile {self.options.tile}"
            )
        keep = self.options.keep_bands if keep_bands is None else keep_bands
        dropped = [b for b in names if b not in config.out_bands]
        if dropped and not keep:
            self.log(
                f"note: {src.name} has {len(names)} bands; the output holds the {len(config.out_bands)} bands of model "
                f"{config.name!r} {list(config.out_bands)}; --keep-bands carries the other {len(dropped)} "
                f"({', '.join(dropped)}) through unchanged"
            )
        run = ModelPass(net, config, self.options, device=self.device, log=self.log)
        return run(src, names, out, mask=mask_path, mask_how=mask_how, choice=choice, sar=sar, prev=prev,
                   prev_sar=prev_sar, uncertainty=uncertainty, write_mask=write_mask, provenance=prov, base=base,
                   keep_bands=keep, tags=tags, no_ground=no_ground)  # fmt: skip

    def _temporal(self, src, names, out, mask_path, mask_how, choice, series, series_masks, uncertainty, write_mask,
                  prov, tmp) -> SceneSummary:  # fmt: skip
        opt = self.options
        if series_masks is None:
            series_masks = []
            for k, member in enumerate(series):
                path, how = self._auto_mask(member, tmp / f"series_mask_{k}.tif")
                if path is None:
                    raise ValueError(f"{member}: --series-masks not given and {how}; pass --series-masks")
                self.log(f"{Path(member).name}: mask auto: {how}")
                series_masks.append(path)
        common = dict(method=choice.temporal, series=series, mask=mask_path, series_masks=series_masks,
                      replace_all=opt.replace_all, dtype=opt.dtype, feather=opt.feather,
                      progress=opt.progress)  # fmt: skip
        tags = {"CLOUDFREE_METHOD_REASON": choice.reason, "CLOUDFREE_MASK": mask_how}
        if not choice.model:
            return fill_temporal(src, out, write_mask=write_mask, provenance=prov, tags=tags, **common)
        filled, remaining, base = tmp / "filled.tif", tmp / "remaining.tif", tmp / "provenance.tif"
        summary = fill_temporal(src, filled, write_mask=write_mask, provenance=base, remaining_mask=remaining,
                                tags=tags, **common)  # fmt: skip
        left = summary.extra["unfilled"]
        if not left:
            self.log(f"{src.name}: every cloudy pixel had a clear date; the model was not needed")
            os.replace(filled, out)
            if prov is not None:
                os.replace(base, prov)
            summary.outputs = [out, *(Path(p) for p in (write_mask, prov) if p is not None)]
            return summary
        self.log(f"{src.name}: {left} cloudy pixels had no clear date; model {self.config.name!r} fills them")
        tags |= {"CLOUDFREE_METHOD": f"gapfill + model ({self.config.name}) where no date was clear",
                 "CLOUDFREE_SOURCE": str(src), "CLOUDFREE_SERIES": [str(p) for p in series]}  # fmt: skip
        result = self._model(filled, band_names_of(open_info(filled), None), out, remaining, "cloudy pixels no date "
                             "saw clear", choice, None, None, None, uncertainty, None, prov, base=base,
                             keep_bands=True, tags=tags)  # fmt: skip
        result.extra.update({k: summary.extra[k] for k in ("ranking", "unfilled")})
        return result

    def process(self, job: Any) -> dict[str, Any]:
        """Batch worker: run one ``SceneJob`` (inputs ``optical``, optional ``mask``, ``sar``, ``prev``,
        ``prev_sar``); the batch runner decides about existing outputs, so this overwrites."""
        inputs: Mapping[str, str] = job.inputs
        d = self.defaults
        summary = self(inputs["optical"], job.output, method=d.get("method", AUTO),
                       mask=inputs.get("mask", d.get("mask", AUTO)), sar=inputs.get("sar"), prev=inputs.get("prev"),
                       prev_sar=inputs.get("prev_sar"), provenance=d.get("provenance"), overwrite=True)  # fmt: skip
        return {"name": job.name, "outputs": [str(p) for p in summary.outputs], "method": summary.extra.get("method"),
                "seconds": round(summary.seconds, 3)}  # fmt: skip


@dataclass(frozen=True)
class RemoverFactory:
    """Picklable worker factory (interfaces.md item 2): ``RemoverFactory(model, options)()`` builds one
    :class:`Remover` (its model loads at the first scene) and returns its ``process``.

    ``method``, ``mask`` and ``provenance`` are the per-scene defaults of :meth:`Remover.__call__`
    (a job's own ``mask`` input wins).
    """

    model: str | None = None
    options: RemovalOptions = field(default_factory=RemovalOptions)
    method: str = AUTO
    mask: str | None = AUTO
    provenance: str | None = "auto"

    def __call__(self) -> Callable[[Any], dict[str, Any]]:
        defaults = {"method": self.method, "mask": self.mask, "provenance": self.provenance}
        return Remover(self.model, self.options, defaults=defaults).process

    def describe(self) -> dict[str, Any]:
        return {"model": self.model, "method": self.method, "mask": self.mask, **asdict(self.options)}
