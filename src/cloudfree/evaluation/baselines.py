"""Classical single-date peers of the removal models: biharmonic inpainting and the push-pull fill.

* :func:`biharmonic_fill`: ``skimage.restoration.inpaint_biharmonic`` on every band, the one-line
  classical peer a user would try first (slow on large holes: seconds for a few 10^4 pixels).
* :func:`pushpull_fill`: the multi-scale normalised-convolution prior that ``PriorResidualUNet``
  learns a residual over (:func:`cloudfree.models.push_pull.push_pull_fill`), alone.

Both fill the pixels whose mask code is cloud, thin cloud or shadow (1, 2, 3) from the clear ones
(nodata, 255, is neither filled from nor scored), and return reflectance ``(bands, h, w)`` float32;
clear pixels are unchanged.
"""

from __future__ import annotations

import numpy as np

from cloudfree.masks import NODATA, NOT_CLEAR_CODES


def _unknown(codes: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Pixels to fill or not to fill from: cloud, thin cloud, shadow, nodata (255) and non-finite data."""
    return np.isin(codes, (*NOT_CLEAR_CODES, NODATA)) | ~np.isfinite(data).all(axis=0)


def biharmonic_fill(reflectance: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Inpaint ``reflectance`` ``(bands, h, w)`` where ``codes`` ``(h, w)`` says cloud/shadow (scikit-image)."""
    from skimage.restoration import inpaint_biharmonic

    unknown = _unknown(codes, reflectance)
    if not unknown.any() or unknown.all():
        return reflectance.astype(np.float32, copy=True)
    data = np.nan_to_num(reflectance.astype(np.float64))
    out = inpaint_biharmonic(np.moveaxis(data, 0, -1), unknown, channel_axis=-1)
    return np.moveaxis(out, -1, 0).astype(np.float32)


def pushpull_fill(reflectance: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The push-pull prior alone over ``reflectance`` ``(bands, h, w)`` where ``codes`` says cloud/shadow.

    Relaxed as the engine's prior under thick cloud (:data:`~cloudfree.models.push_pull.PRIOR_RELAX`).
    """
    import torch

    from cloudfree.models.push_pull import PRIOR_RELAX, push_pull_fill

    unknown = _unknown(codes, reflectance)
    x = torch.from_numpy(np.nan_to_num(reflectance.astype(np.float32)))[None]
    known = torch.from_numpy((~unknown).astype(np.float32))[None, None]
    with torch.no_grad():
        return push_pull_fill(x, known, relax=PRIOR_RELAX)[0].numpy()
