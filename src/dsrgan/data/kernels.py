"""Blur kernels for synthetic degradations: Gaussian (isotropic / anisotropic), generalised Gaussian, plateau, sinc.

All kernels are square, odd-sized, float32 and sum to 1. The shaped kernels share one quadratic form
q(x) = x^T S^-1 x with S = R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T, and differ only in how q is mapped
to a weight:
  gaussian      exp(-q / 2)
  generalised   exp(-q^beta / 2)        beta < 1: heavier tails, beta > 1: flatter top
  plateau       1 / (1 + q^beta)        a flat top with slowly decaying tails
The sinc kernel is the ideal circular low-pass filter with cut-off omega_c (radians per pixel), sampled on the
grid: omega_c J1(omega_c r) / (2 pi r); it produces the ringing and overshoot of over-sharpened pictures.
These families and their roles follow Wang et al., "Real-ESRGAN" (ICCVW 2021).
"""

from __future__ import annotations

import numpy as np

SHAPED = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and positive, got {size}")
    r = size // 2
    ax = np.arange(-r, r + 1, dtype=np.float64)
    return np.meshgrid(ax, ax)  # xx varies along columns, yy along rows


def quadratic_form(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """x^T S^-1 x on the size x size grid centred on the middle pixel (float64)."""
    xx, yy = _grid(size)
    c, s = np.cos(theta), np.sin(theta)
    # coordinates in the kernel's own axes: rotate the grid by -theta
    u = c * xx + s * yy
    v = -s * xx + c * yy
    return (u / sigma_x) ** 2 + (v / sigma_y) ** 2


def _normalised(k: np.ndarray) -> np.ndarray:
    return (k / k.sum()).astype(np.float32)


def shaped_kernel(kind: str, size: int, sigma_x: float, sigma_y: float, theta: float = 0.0,
                  beta: float = 1.0) -> np.ndarray:
    """One of SHAPED; `beta` is used by the generalised and plateau families only."""
    q = quadratic_form(size, sigma_x, sigma_y, theta)
    if kind in ("iso", "aniso"):
        return _normalised(np.exp(-0.5 * q))
    if kind in ("generalized_iso", "generalized_aniso"):
        return _normalised(np.exp(-0.5 * q ** beta))
    if kind in ("plateau_iso", "plateau_aniso"):
        return _normalised(1.0 / (1.0 + q ** beta))
    raise ValueError(f"unknown kernel kind {kind!r}; expected one of {', '.join(SHAPED)}")


def gaussian_1d(size: int, sigma: float) -> np.ndarray:
    """The 1-D factor of the isotropic Gaussian: outer(g, g) == shaped_kernel("iso", size, sigma, sigma)."""
    ax = _grid(size)[0][0]
    return _normalised(np.exp(-0.5 * (ax / sigma) ** 2))


def sinc_kernel(size: int, omega_c: float) -> np.ndarray:
    """Circular low-pass filter with cut-off `omega_c` in (0, pi], sampled on a size x size grid."""
    from scipy.special import j1

    xx, yy = _grid(size)
    r = np.hypot(xx, yy)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = omega_c * j1(omega_c * r) / (2 * np.pi * r)
    k[r == 0] = omega_c ** 2 / (4 * np.pi)  # the limit at r -> 0
    return _normalised(k)


def trimmed(k: np.ndarray, mass: float) -> np.ndarray:
    """`k` (1-D or square 2-D, odd) without the outer rings that together hold under `mass` of its absolute
    weight, renormalised to the same sum."""
    a = np.abs(k.astype(np.float64))
    total, r, n = a.sum(), 0, k.shape[0] // 2
    while r < n:
        inner = a[r + 1: -r - 1] if k.ndim == 1 else a[r + 1: -r - 1, r + 1: -r - 1]
        if total - inner.sum() >= mass * total:
            break
        r += 1
    if r == 0:
        return k
    out = k[r:-r] if k.ndim == 1 else k[r:-r, r:-r]
    return (out * (k.sum() / out.sum())).astype(np.float32)
