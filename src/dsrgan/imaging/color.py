"""Colour conversions with MATLAB's arithmetic (for metrics) and BT.601 full-range luma (for detail extraction)."""

from __future__ import annotations

import numpy as np

# MATLAB rgb2ycbcr, Y row of Poynton's eq. 9.6: Y = 16 + (65.481 R + 128.553 G + 24.966 B) with RGB in [0, 1].
BT601_STUDIO_Y = (65.481, 128.553, 24.966)
BT601_STUDIO_OFFSET = 16.0
# BT.601 full-range luma (JPEG, OpenCV RGB2YCrCb, PIL's RGB -> L).
BT601_LUMA = (0.299, 0.587, 0.114)
# Float images are [0, 1]. Results of a resize or a network overshoot it a little (bicubic ringing) and are
# saturated; data of another scale (0..255 floats, PIL mode 'F') or NaN/inf would become a white or black
# picture, so it is refused, never guessed.
OVERSHOOT = 0.5


def check_unit_range(lo: float, hi: float, what: str = "image", slack: float = OVERSHOOT) -> None:
    """ImageError unless the min `lo` and max `hi` of a float image are finite and within [0, 1] +- `slack`.
    The one check of the float contract: numpy images, torch tensors, files written, arrays upscaled."""
    from dsrgan.errors import ImageError

    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ImageError(f"{what} contains NaN or infinite values")
    if lo < -slack or hi > 1.0 + slack:
        raise ImageError(f"float {what} values must be in [0, 1], got values in [{lo:.4g}, {hi:.4g}] (divide "
                         "0..255 data by 255, or pass uint8 / uint16 arrays)")


def quantize(x: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """Float [0, 1] -> uint8 (bit_depth 8) or uint16 (16), as MATLAB's im2uint8 / im2uint16: x * peak rounded
    half away from zero, saturated; NaN maps to 0. The one float-to-integer rounding of the package."""
    peak, dtype = (255.0, np.uint8) if bit_depth == 8 else (65535.0, np.uint16)
    y = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0)
    return np.floor(np.clip(y, 0.0, 1.0) * peak + 0.5).astype(dtype)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] -> uint8 (`quantize(x, 8)`); uint8 input is returned unchanged (as a copy)."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.copy()
    if x.dtype.kind not in "f":
        from dsrgan.errors import ImageTypeError

        raise ImageTypeError(f"to_uint8 expects a float image in [0, 1], got {x.dtype}")
    return quantize(x, 8)


def rgb_to_y_matlab(rgb_uint8: np.ndarray) -> np.ndarray:
    """MATLAB `rgb2ycbcr` Y channel of a uint8 RGB image -> uint8 H x W (studio swing, 16..235).

    Computed as MATLAB does for uint8: T = (1/255) * origT, then T . [R G B] + 16 in double (imlincomb order),
    rounded half away from zero.
    A 2-D (grayscale) array is treated as R = G = B."""
    rgb = np.asarray(rgb_uint8)
    from dsrgan.errors import ImageError, ImageTypeError

    if rgb.dtype != np.uint8:
        raise ImageTypeError(f"rgb_to_y_matlab expects uint8 RGB, got {rgb.dtype}; use to_uint8 first")
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageError(f"rgb_to_y_matlab expects H x W x 3, got shape {rgb.shape}")
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    # MATLAB scales the matrix as T = (1/255) * origT (not origT / 255): the last bit matters at .5 ties
    t = [(1 / 255) * c for c in BT601_STUDIO_Y]
    y = t[0] * r + t[1] * g + t[2] * b + BT601_STUDIO_OFFSET
    return np.clip(np.floor(y + 0.5), 0, 255).astype(np.uint8)


def rgb_to_luma(rgb255: np.ndarray) -> np.ndarray:
    """BT.601 full-range luma 0.299 R + 0.587 G + 0.114 B in float64, no rounding, no clipping.

    Input is RGB on the [0, 255] scale (any dtype; uint8 is widened first, so nothing wraps). A 2-D array is
    already luma and is returned as float64."""
    rgb = np.asarray(rgb255)
    if rgb.ndim == 2:
        return rgb.astype(np.float64)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        from dsrgan.errors import ImageError

        raise ImageError(f"rgb_to_luma expects H x W x 3, got shape {rgb.shape}")
    rgb = rgb.astype(np.float64, copy=False)
    k = BT601_LUMA
    return k[0] * rgb[..., 0] + k[1] * rgb[..., 1] + k[2] * rgb[..., 2]
