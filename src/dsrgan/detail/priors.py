"""What the generator's detail branch consumes and is compared with, per detail variant (numpy)."""

from __future__ import annotations

import numpy as np

from dsrgan.detail.core import DetailOptionError, extract_detail
from dsrgan.detail.variants import guided_detail, wls_detail

VARIANTS = ("dsrgan", "gif", "msdm")


def _check(variant: str) -> None:
    if variant not in VARIANTS:
        raise DetailOptionError(f"unknown detail variant {variant!r} (use one of {', '.join(VARIANTS)})")


def network_input(rgb, variant: str = "dsrgan") -> np.ndarray:
    """H x W x C float32: dsrgan: x = log2 I_D (C = 1, zero-mean); gif / msdm: D = I - smooth(I) (C = 3)."""
    _check(variant)
    if variant == "dsrgan":
        return extract_detail(rgb, return_log=True)[..., None]
    return guided_detail(rgb) if variant == "gif" else wls_detail(rgb)


def detail_target(rgb, variant: str = "dsrgan") -> np.ndarray:
    """H x W x C float32 compared with the generator's detail_sr: dsrgan: I_D = 2**x (C = 1); gif / msdm: D."""
    _check(variant)
    if variant == "dsrgan":
        return extract_detail(rgb)[..., None]
    return guided_detail(rgb) if variant == "gif" else wls_detail(rgb)
