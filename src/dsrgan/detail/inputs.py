"""What the detail priors accept: image checks and scaling, luma, and the checks of E's options (numpy only).

Every path of every prior (numpy reference, numba, the smoothers of GIF / MSDM) reads its input through
`check_image`, so that uint8, uint16 and float [0, 1] images mean the same thing everywhere.
"""

from __future__ import annotations

import os

import numpy as np

from dsrgan.errors import ImageError, ImageTypeError, OptionError
from dsrgan.imaging.color import BT601_LUMA, BT601_STUDIO_OFFSET, BT601_STUDIO_Y, check_unit_range

Y_MODES = ("bt601_full", "bt601_studio")


class DetailOptionError(OptionError):
    """An option of the detail extraction is out of its valid range."""


def check_image(image) -> tuple[np.ndarray, float]:
    """Validate an image; -> (array as given: H x W or H x W x C, factor that maps its values to [0, 255])."""
    if isinstance(image, (str, bytes, os.PathLike)):
        raise ImageTypeError(f"detail extraction takes an image array, got the path {image!r} (read it with "
                             "dsrgan.imaging.read_image first)")
    img = np.asarray(image)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3)):
        hint = " (drop the alpha channel first)" if img.ndim == 3 and img.shape[2] == 4 else ""
        raise ImageError(f"detail extraction needs an H x W or H x W x 3 image, got shape {img.shape}{hint}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ImageError(f"detail extraction got an empty image of shape {img.shape}")
    if img.dtype == np.uint8:
        return img, 1.0
    if img.dtype == np.uint16:
        return img, 255.0 / 65535.0
    if img.dtype.kind != "f":
        raise ImageError(f"detail extraction needs a uint8, uint16 or float image, got dtype {img.dtype}")
    if img.dtype not in (np.float32, np.float64):
        img = img.astype(np.float32)
    check_unit_range(float(img.min()), float(img.max()), "detail extraction image")  # min propagates NaN
    return img, 255.0


def as_unit(image) -> tuple[np.ndarray, bool]:
    """A checked image as H x W x C float64 in [0, 1]; -> (array, the input was 2-D)."""
    img, scale = check_image(image)
    img = img.astype(np.float64) * scale / 255.0
    return (img[..., None], True) if img.ndim == 2 else (img, False)


def luma_coefficients(y_mode: str, channels: int, scale: float = 1.0) -> tuple[float, float, float, float]:
    """(k0, k1, k2, offset) with Y = offset + k . pixel in [0, 255]; `scale` maps pixel values to [0, 255]."""
    if y_mode not in Y_MODES:
        raise DetailOptionError(f"unknown y_mode {y_mode!r} (use one of {', '.join(Y_MODES)})")
    if y_mode == "bt601_full":
        k, off = (BT601_LUMA if channels == 3 else (1.0, 0.0, 0.0)), 0.0
    else:
        k = tuple(c / 255 for c in BT601_STUDIO_Y) if channels == 3 else (219.0 / 255, 0.0, 0.0)
        off = BT601_STUDIO_OFFSET
    return k[0] * scale, k[1] * scale, k[2] * scale, off


def luma(image, y_mode: str = "bt601_full") -> np.ndarray:
    """Luma Y in [0, 255] as float64 H x W, no rounding or clipping.

    `bt601_full`: 0.299 R + 0.587 G + 0.114 B (JPEG / OpenCV YCrCb). `bt601_studio`: MATLAB rgb2ycbcr Y,
    16 + (65.481 R + 128.553 G + 24.966 B) / 255, in [16, 235]. A one-channel image is its own luma
    (mapped to [16, 235] in studio mode).
    """
    img, scale = check_image(image)
    img = img.astype(np.float64)
    if img.ndim == 2:
        img = img[..., None]
    k0, k1, k2, off = luma_coefficients(y_mode, img.shape[2], scale)
    if img.shape[2] == 3:
        return off + k0 * img[..., 0] + k1 * img[..., 1] + k2 * img[..., 2]
    return off + k0 * img[..., 0]


# Upper bounds of E's options: beyond them the solve overflows (NaN or inf maps: alpha 1e300, lam 1e10,
# iterations ~500 overflow 4**iterations) or breaks down numerically (the FGS solve erratic from lam ~1e4).
MAX_ALPHA, MAX_LAM, MAX_ITERATIONS, MAX_BASE = 64.0, 1000.0, 100, 1000.0
# The guided filter's radius: a box wider than any image we accept only costs memory.
MAX_RADIUS = 4096


def check_options(alpha, lam, gamma, eps, iterations, base) -> None:
    """E's options (paper eqs. 1-8): alpha in [0, 64], lam in [0, 1000], gamma > 0, eps > 0, iterations 1-100,
    base in (1, 1000]; numbers only, finite (the checks of dsrgan.options)."""
    from dsrgan.options import number

    detail_option(number, alpha, "alpha", lo=0, hi=MAX_ALPHA)
    detail_option(number, lam, "lam", lo=0, hi=MAX_LAM)
    detail_option(number, gamma, "gamma", lo=0, lo_open=True)
    detail_option(number, eps, "eps", lo=0, lo_open=True, what="a number > 0 (it prevents division by zero)")
    detail_option(number, iterations, "iterations", integer=True, lo=1, hi=MAX_ITERATIONS)
    detail_option(number, base, "base", lo=1, lo_open=True, hi=MAX_BASE)


def detail_option(check, value, name: str, **bounds):
    """`check(value, name, **bounds)`, a checker of dsrgan.options, raising DetailOptionError instead."""
    try:
        return check(value, name, **bounds)
    except OptionError as e:
        raise DetailOptionError(str(e)) from None
