"""Viewable pictures of detail layers (the paper's Fig. 3 and 5 show them normalised to [0, 1])."""

from __future__ import annotations

import numpy as np

from dsrgan.detail.core import DetailOptionError

NORMALIZE = ("minmax", "robust")


def compute_detail(rgb: np.ndarray, variant: str = "dsrgan", *, method: str = "fgs") -> np.ndarray:
    """The raw detail layer of an RGB [0, 1] image: dsrgan -> I_D (H x W, > 0); gif / msdm -> D (H x W x 3)."""
    from dsrgan.detail.core import extract_detail
    from dsrgan.detail.priors import _check
    from dsrgan.detail.variants import guided_detail, wls_detail

    _check(variant)
    if variant == "dsrgan":
        return extract_detail(rgb, method=method)
    return guided_detail(rgb) if variant == "gif" else wls_detail(rgb)


def detail_picture(detail: np.ndarray, variant: str = "dsrgan", mode: str = "minmax") -> np.ndarray:
    """Map a detail layer to a float32 picture in [0, 1] (H x W for dsrgan, H x W x 3 for gif / msdm).

    The signed quantity shown is log2 I_D for dsrgan (I_D is multiplicative: 2x brighter and 2x darker are
    symmetric in the log) and D itself for gif / msdm.
    minmax: (s - min) / (max - min) per image, all channels together (the paper's figures); a flat layer is 0.5.
    robust: 0.5 + s / (2 q), clipped, with q the 99.5th percentile of |s|: 0.5 is "no detail" in every picture,
    and a few extreme pixels do not wash out the rest.
    """
    if mode not in NORMALIZE:
        raise DetailOptionError(f"unknown normalisation {mode!r} (use minmax or robust)")
    s = np.log2(np.asarray(detail, np.float64)) if variant == "dsrgan" else np.asarray(detail, np.float64)
    if mode == "minmax":
        lo, hi = float(s.min()), float(s.max())
        out = np.full(s.shape, 0.5) if hi - lo <= 1e-12 else (s - lo) / (hi - lo)
    else:
        q = float(np.percentile(np.abs(s), 99.5))
        out = np.full(s.shape, 0.5) if q <= 1e-12 else np.clip(0.5 + s / (2 * q), 0.0, 1.0)
    return out.astype(np.float32)
