"""Viewable pictures of detail layers (the paper's Fig. 3 and 5 show them normalised to [0, 1]).

Which quantity a variant shows is the prior's business (`DetailPrior.picture`); this module only scales it.
"""

from __future__ import annotations

import numpy as np

from dsrgan.detail.inputs import DetailOptionError

NORMALIZE = ("minmax", "robust")


def normalise(s: np.ndarray, mode: str = "minmax") -> np.ndarray:
    """Map a signed detail quantity to a float32 picture in [0, 1], same shape.

    minmax: (s - min) / (max - min) per image, all channels together (the paper's figures); a flat layer is 0.5.
    robust: 0.5 + s / (2 q), clipped, with q the 99.5th percentile of |s|: 0.5 is "no detail" in every picture,
    and a few extreme pixels do not wash out the rest.
    """
    if mode not in NORMALIZE:
        raise DetailOptionError(f"unknown normalisation {mode!r} (use minmax or robust)")
    s = np.asarray(s, np.float64)
    if mode == "minmax":
        lo, hi = float(s.min()), float(s.max())
        out = np.full(s.shape, 0.5) if hi - lo <= 1e-12 else (s - lo) / (hi - lo)
    else:
        q = float(np.percentile(np.abs(s), 99.5))
        out = np.full(s.shape, 0.5) if q <= 1e-12 else np.clip(0.5 + s / (2 * q), 0.0, 1.0)
    return out.astype(np.float32)
