"""Released weights: ``model.safetensors`` + ``config.json``, and loading them safely.

A release directory holds the model's ``state_dict`` in safetensors (no pickle anywhere) and a JSON
config with everything needed to rebuild and feed the model: architecture name (from the closed
registry in :mod:`cloudfree.models`) and its arguments, input bands (optical, SAR, whether a cloud
mask channel is expected), output bands, normalisation, radiometric convention, the kind of model
(``removal``, ``diffusion``, ``mask``) and the package version. Default models shipped with the
package live in ``cloudfree/weights/<name>/`` and load by name (``default-rgbn``) with no network.

Loading checks the data's bands and normalisation against the release and refuses a mismatch with
a message that names both sides.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from cloudfree import __version__
from cloudfree import bands as bandcat
from cloudfree.errors import CloudfreeError, ReleaseError, one_line
from cloudfree.io.atomic import atomic_path
from cloudfree.models import build_model
from cloudfree.normalization import Normalization, NormalizationMismatch

FORMAT = "cloudfree-release/1"
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


class ReleaseNotFoundError(CloudfreeError, FileNotFoundError):
    """A release name or folder does not exist, or lacks one of its two files."""


@dataclass
class ReleaseConfig:
    """Everything needed to rebuild a model and feed it correctly.

    Attributes:
        name: human name (``default-rgbn``).
        kind: ``removal`` (cloudy -> clear), ``diffusion`` (conditional sampler), ``mask``
            (segmentation logits).
        architecture: registry name of the ``nn.Module`` class.
        arguments: keyword arguments of that class.
        in_bands: optical input bands, canonical names, in channel order.
        out_bands: output bands (removal) or class names (mask).
        sar_bands: Sentinel-1 input bands appended after the optical ones (``()`` if none).
        uses_mask: a cloud-mask channel is appended after optical (and SAR) inputs.
        normalization: optical normalisation (inputs and, for removal, outputs).
        sar_normalization: SAR normalisation (dB -> network units), when ``sar_bands``.
        radiometry: convention of optical inputs before normalisation (``reflectance``).
        extra: model-kind specifics (diffusion scheduler settings, mask class codes ...).
        version: cloudfree version that wrote the release.
    """

    name: str
    kind: str
    architecture: str
    arguments: dict[str, Any]
    in_bands: tuple[str, ...]
    out_bands: tuple[str, ...]
    normalization: dict[str, Any]
    sar_bands: tuple[str, ...] = ()
    uses_mask: bool = False
    sar_normalization: dict[str, Any] | None = None
    radiometry: str = "reflectance"
    extra: dict[str, Any] = field(default_factory=dict)
    version: str = __version__
    format: str = FORMAT

    @property
    def norm(self) -> Normalization:
        return Normalization.from_dict(self.normalization)

    @property
    def sar_norm(self) -> Normalization | None:
        return Normalization.from_dict(self.sar_normalization) if self.sar_normalization else None

    def to_json(self) -> str:
        d = asdict(self)
        d["in_bands"], d["out_bands"], d["sar_bands"] = list(self.in_bands), list(self.out_bands), list(self.sar_bands)
        return json.dumps(d, indent=2)

    @classmethod
    def from_dict(cls, d: Any, source: str = "config.json") -> ReleaseConfig:
        """The config from a parsed ``config.json``; anything malformed is a :class:`ReleaseError`."""
        if not isinstance(d, dict):
            raise ReleaseError(f"{source}: not a cloudfree release (a JSON object is expected, got {type(d).__name__})")
        if d.get("format") != FORMAT:
            raise ReleaseError(f"{source}: not a cloudfree release (format {d.get('format')!r}, expected {FORMAT!r})")
        fields = cls.__dataclass_fields__
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise ReleaseError(f"{source}: unknown release fields {unknown}; known: {sorted(fields)}")
        required = [n for n, f in fields.items() if f.default is MISSING and f.default_factory is MISSING]
        missing = [n for n in required if n not in d]
        if missing:
            raise ReleaseError(f"{source}: release fields {missing} are missing")
        d = dict(d)
        try:
            for key in ("in_bands", "sar_bands"):
                d[key] = tuple(bandcat.canonical(b) for b in d.get(key, ()))
            d["out_bands"] = tuple(str(b) for b in d["out_bands"])
        except TypeError as exc:
            raise ReleaseError(f"{source}: band lists must be lists of names ({exc})") from exc
        for key in ("arguments", "normalization", "extra"):
            if not isinstance(d.get(key, {}), dict):
                raise ReleaseError(f"{source}: {key!r} must be a JSON object, got {d[key]!r}")
        return cls(**d)

    def check_inputs(
        self, bands: tuple[str, ...], normalization: Normalization | None = None, what: str = "input"
    ) -> None:
        """Refuse data whose bands (or normalisation) differ from the release's, naming both."""
        if tuple(bands) != tuple(self.in_bands):
            raise NormalizationMismatch(
                f"model {self.name!r} expects bands {list(self.in_bands)} but {what} provides {list(bands)}"
            )
        if normalization is not None:
            self.norm.check_matches(normalization, what)


def resolve_release_dir(name_or_path: str | os.PathLike[str]) -> Path:
    """A release directory from a path, or from the name of a default model shipped in the package."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    packaged = WEIGHTS_DIR / str(name_or_path)
    if packaged.is_dir():
        return packaged
    available = sorted(p.name for p in WEIGHTS_DIR.iterdir() if p.is_dir()) if WEIGHTS_DIR.is_dir() else []
    raise ReleaseNotFoundError(
        f"model {str(name_or_path)!r} is neither a release directory nor a packaged default; defaults: {available}"
    )


def save_release(
    model: nn.Module, config: ReleaseConfig, out_dir: str | os.PathLike[str], *, half: bool = False
) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``out_dir`` (each atomically).

    ``half=True`` stores floating-point tensors as float16 (half the size, for packaged defaults);
    loading copies them into the model's float32 parameters.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu().contiguous()
        if half and value.is_floating_point():
            value = value.half()
        state[key] = value
    with atomic_path(out / "model.safetensors") as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT, "architecture": config.architecture})
    with atomic_path(out / "config.json") as tmp:
        tmp.write_text(config.to_json())
    return out


def load_release(
    name_or_path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[nn.Module, ReleaseConfig]:
    """Rebuild a released model in eval mode; weights are read with safetensors only."""
    directory = resolve_release_dir(name_or_path)
    cfg_path, weights_path = directory / "config.json", directory / "model.safetensors"
    for p in (cfg_path, weights_path):
        if not p.exists():
            raise ReleaseNotFoundError(f"{directory}: release is missing {p.name}")
    try:
        raw = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReleaseError(f"{cfg_path}: not valid JSON ({exc})") from exc
    config = ReleaseConfig.from_dict(raw, str(cfg_path))
    model = build_model(config.architecture, config.arguments, source=str(cfg_path))
    try:
        state = load_file(str(weights_path), device=str(device))
    except Exception as exc:  # safetensors raises its own SafetensorError (and OSError, ValueError ...)
        raise ReleaseError(
            f"{weights_path}: not a safetensors file ({one_line(exc)}); releases hold weights in safetensors only"
        ) from exc
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # tensor shapes that do not fit the architecture's arguments
        raise ReleaseError(
            f"{weights_path}: weights do not fit {config.architecture} {config.arguments}: {one_line(exc)[:300]}"
        ) from exc
    if missing or unexpected:
        raise ReleaseError(
            f"{weights_path}: weights do not fit {config.architecture}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    return model.to(device).eval(), config
