"""The edge-preserving smoothers behind the additive priors of the paper's ablation (Table III) and their
detail layers D = I - smooth(I), on [0, 1] data, numpy float64.

GIF:  D = I - GIF(I), He et al.'s guided filter, self-guided per channel, 5 x 5 box (r = 2), eps = 0.3 on
      the [0, 1] scale, half-sample-symmetric ("reflect", OpenCV BORDER_REFLECT) borders.
MSDM: D = I - WLS(I), Farbman et al.'s weighted least squares smoother (lambda = 1, alpha = 1.2,
      smallNum = 1e-4, guidance log(I + 2.2e-16)), solved with a sparse direct solver.
"""

from __future__ import annotations

import numpy as np

from dsrgan.detail.core import system_matrix
from dsrgan.detail.inputs import MAX_ALPHA, MAX_LAM, MAX_RADIUS, DetailOptionError, as_unit, detail_option
from dsrgan.imaging.color import rgb_to_luma
from dsrgan.options import number

WLS_SMALL = 1e-4  # Farbman's smallNum
LOG_EPS = 2.220446049250313e-16  # MATLAB eps, as in wlsFilter.m's log(IN + eps)
GUIDANCE = ("per_channel", "luma")


def box_mean(a: np.ndarray, r: int) -> np.ndarray:
    """Normalised (2r+1) x (2r+1) mean over the first two axes, half-sample-symmetric borders."""
    from scipy.ndimage import uniform_filter

    size = (2 * r + 1, 2 * r + 1) + (1,) * (a.ndim - 2)
    return uniform_filter(a, size=size, mode="reflect")


def guided_filter_self(img: np.ndarray, r: int = 2, eps: float = 0.3) -> np.ndarray:
    """He's guided filter with each channel as its own guide (H x W x C float64)."""
    mu = box_mean(img, r)
    var = box_mean(img * img, r) - mu * mu
    a = var / (var + eps)
    b = (1.0 - a) * mu
    return box_mean(a, r) * img + box_mean(b, r)


def guided_detail(rgb, r: int = 2, eps: float = 0.3, *, dtype=np.float32) -> np.ndarray:
    """GIF detail D = I - GIF(I) per channel (signed, H x W x 3; H x W x 1 for a 2-D input)."""
    r = detail_option(number, r, "guided filter radius r", integer=True, lo=0, hi=MAX_RADIUS)
    eps = detail_option(number, eps, "guided filter eps", lo=0, lo_open=True)
    img, _ = as_unit(rgb)
    return np.asarray(img - guided_filter_self(img, r, eps), dtype=dtype)


def wls_weights(guide: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Farbman's affinities 1/(|dL|^alpha + smallNum) on forward edges; 0 on the missing last edges."""
    lg = np.log(guide + LOG_EPS)
    ah = np.zeros_like(lg)
    av = np.zeros_like(lg)
    ah[:, :-1] = 1.0 / (np.abs(lg[:, 1:] - lg[:, :-1]) ** alpha + WLS_SMALL)
    av[:-1, :] = 1.0 / (np.abs(lg[1:, :] - lg[:-1, :]) ** alpha + WLS_SMALL)
    return ah, av


def wls_smooth(img: np.ndarray, lam: float = 1.0, alpha: float = 1.2, guidance: str = "per_channel") -> np.ndarray:
    """u solving (E + lam (D_x'A_xD_x + D_y'A_yD_y)) u = I for each channel of an H x W x C [0,1] image."""
    from scipy.sparse.linalg import splu

    h, w, c = img.shape
    out = np.empty_like(img)
    if guidance == "luma" and c == 3:
        y = rgb_to_luma(img)  # linear: luma of [0, 1] data is on the [0, 1] scale
        lu = splu(system_matrix(*wls_weights(y, alpha), lam).tocsc())
        sol = lu.solve(np.ascontiguousarray(img.reshape(h * w, c)))
        return sol.reshape(h, w, c)
    for k in range(c):
        lu = splu(system_matrix(*wls_weights(img[..., k], alpha), lam).tocsc())
        out[..., k] = lu.solve(np.ascontiguousarray(img[..., k]).ravel()).reshape(h, w)
    return out


def wls_detail(rgb, lam: float = 1.0, alpha: float = 1.2, *, guidance: str = "per_channel",
               dtype=np.float32) -> np.ndarray:
    """MSDM detail D = I - WLS(I) per channel (signed, H x W x 3; H x W x 1 for a 2-D input).

    One global solve: every output pixel depends on the whole image, so the map of a crop is not the crop of
    the map (training therefore cuts patches from whole-image maps, see dsrgan.data.detail_maps). Cost grows
    faster than linearly (sparse LU): about 0.03 s for 128 x 128, 2 s for 512 x 512 per channel.
    """
    if guidance not in GUIDANCE:
        raise DetailOptionError(f"unknown WLS guidance {guidance!r} (use per_channel or luma)")
    lam = detail_option(number, lam, "WLS lambda", lo=0, hi=MAX_LAM)
    alpha = detail_option(number, alpha, "WLS alpha", lo=0, lo_open=True, hi=MAX_ALPHA)
    img, _ = as_unit(rgb)
    return np.asarray(img - wls_smooth(img, lam, alpha, guidance), dtype=dtype)
