"""Colour conversions with MATLAB's arithmetic (for metrics) and BT.601 full-range luma (for detail extraction)."""

from __future__ import annotations

import numpy as np

# MATLAB rgb2ycbcr, Y row of Poynton's eq. 9.6: Y = 16 + (65.481 R + 128.553 G + 24.966 B) with RGB in [0, 1].
_Y_STUDIO = (65.481, 128.553, 24.966)
_Y_OFFSET = 16.0
# BT.601 full-range luma (JPEG / OpenCV RGB2YCrCb).
_Y_FULL = (0.299, 0.587, 0.114)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """MATLAB's round: halves go away from zero (numpy's np.round goes to even)."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] -> uint8, as MATLAB's im2uint8: x*255 rounded half away from zero, saturated.

    NaN maps to 0. uint8 input is returned unchanged (as a copy)."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.copy()
    if x.dtype.kind not in "f":
        raise TypeError(f"to_uint8 expects a float image in [0, 1], got {x.dtype}")
    y = x.astype(np.float64) * 255.0
    y = np.floor(y + 0.5)
    y = np.nan_to_num(y, nan=0.0)
    return np.clip(y, 0, 255).astype(np.uint8)


def rgb_to_y_matlab(rgb_uint8: np.ndarray) -> np.ndarray:
    """MATLAB `rgb2ycbcr` Y channel of a uint8 RGB image -> uint8 H x W (studio swing, 16..235).

    Computed as MATLAB does for uint8: T = (1/255) * origT, then T . [R G B] + 16 in double (imlincomb order),
    rounded half away from zero.
    A 2-D (grayscale) array is treated as R = G = B."""
    rgb = np.asarray(rgb_uint8)
    if rgb.dtype != np.uint8:
        raise TypeError(f"rgb_to_y_matlab expects uint8 RGB, got {rgb.dtype}; use to_uint8 first")
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb_to_y_matlab expects H x W x 3, got shape {rgb.shape}")
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    # MATLAB scales the matrix as T = (1/255) * origT (not origT / 255): the last bit matters at .5 ties
    t = [(1 / 255) * c for c in _Y_STUDIO]
    y = t[0] * r + t[1] * g + t[2] * b + _Y_OFFSET
    return np.clip(np.floor(y + 0.5), 0, 255).astype(np.uint8)


def rgb_to_luma(rgb255: np.ndarray) -> np.ndarray:
    """BT.601 full-range luma 0.299 R + 0.587 G + 0.114 B in float64, no rounding, no clipping.

    Input is RGB on the [0, 255] scale (any dtype; uint8 is widened first, so nothing wraps). A 2-D array is
    already luma and is returned as float64."""
    rgb = np.asarray(rgb255)
    if rgb.ndim == 2:
        return rgb.astype(np.float64)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb_to_luma expects H x W x 3, got shape {rgb.shape}")
    rgb = rgb.astype(np.float64, copy=False)
    return _Y_FULL[0] * rgb[..., 0] + _Y_FULL[1] * rgb[..., 1] + _Y_FULL[2] * rgb[..., 2]
