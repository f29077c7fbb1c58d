"""Turning what a user hands to `upscale` (PIL image, numpy array) into float planes and back, same kind out.

Planes: `rgb` float32 H x W x 3 in [0, 1], `alpha` float32 H x W or None, plus how to give the result back
(bit depth, gray or colour, the container). Files go through dsrgan.imaging.read_image / write_image instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsrgan.errors import ImageError, UnsupportedModeError
from dsrgan.imaging.color import BT601_LUMA, check_unit_range
from dsrgan.imaging.color import quantize as quantize_plane

# Float images handed to `upscale` are [0, 1] up to rounding (1/512): nothing has resized them yet, so anything
# further out is data of another scale (see imaging.color.check_unit_range).
FLOAT_TOLERANCE = 1.0 / 512

# BT.601 luma, the weights PIL uses for RGB -> L, so gray in -> gray out round-trips like an image editor would.
_LUMA = np.array(BT601_LUMA, dtype=np.float32)


@dataclass
class Planes:
    rgb: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int = 8  # 8, 16, or 32 for float input
    grayscale: bool = False


def unit_float(x: np.ndarray, what: str = "image") -> np.ndarray:
    """float32 copy of a float array in [0, 1] (clipped within FLOAT_TOLERANCE); ImageError for NaN, inf, or
    values further outside."""
    x = np.asarray(x)
    # min/max propagate NaN; before a cast could overflow
    check_unit_range(float(np.min(x)), float(np.max(x)), what, FLOAT_TOLERANCE)
    return np.clip(x.astype(np.float32, copy=False), 0.0, 1.0)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    return rgb @ _LUMA


def quantize(x: np.ndarray, bit_depth: int, *, gray: bool = False, band: int = 256) -> np.ndarray:
    """float [0, 1] (H x W or H x W x 3) -> uint8 / uint16, rounding half away from zero like to_uint8.

    `gray=True` takes the BT.601 luma of H x W x 3 first. Works in bands of rows, so that an 8192 x 8192 result
    needs no full-size float64 temporaries (write_image's own float path makes several).
    """
    shape = x.shape[:2] if gray else x.shape
    out = np.empty(shape, dtype=np.uint16 if bit_depth == 16 else np.uint8)
    for r in range(0, x.shape[0], band):
        part = x[r:r + band].astype(np.float64)
        out[r:r + band] = quantize_plane(part @ np.array(BT601_LUMA) if gray else part, bit_depth)
    return out


# --- numpy -------------------------------------------------------------------------------------------------
def from_numpy(a: np.ndarray) -> Planes:
    """H x W (gray), H x W x 1, H x W x 2 (gray + alpha), H x W x 3 (RGB), H x W x 4 (RGBA).

    uint8 and uint16 are scaled by their range; floats must be in [0, 1] (see unit_float). Channel order is RGB.
    """
    if not isinstance(a, np.ndarray):
        raise ImageError(f"expected a numpy array, got {type(a).__name__}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ImageError(f"array of shape {a.shape} is not an image (use H x W, or H x W x 1/2/3/4 in RGB order)")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ImageError(f"array of shape {a.shape} has no pixels")
    if a.dtype == np.uint8:
        x, bit_depth = a.astype(np.float32) / 255.0, 8
    elif a.dtype == np.uint16:
        x, bit_depth = a.astype(np.float32) / 65535.0, 16
    elif a.dtype == np.bool_:
        x, bit_depth = a.astype(np.float32), 32
    elif np.issubdtype(a.dtype, np.floating):
        x, bit_depth = unit_float(a, "array"), 32
    else:
        raise ImageError(f"array dtype {a.dtype} is not supported (use uint8, uint16, or float in [0, 1])")
    c = x.shape[2]
    gray = c in (1, 2)
    rgb = np.repeat(x[:, :, :1], 3, axis=2) if gray else np.ascontiguousarray(x[:, :, :3])
    alpha = np.ascontiguousarray(x[:, :, -1]) if c in (2, 4) else None
    return Planes(rgb, alpha, bit_depth, gray)


def to_numpy(rgb: np.ndarray, alpha: np.ndarray | None, like: Planes, ndim: int) -> np.ndarray:
    """The result in the same layout and dtype as the input array described by `like` (ndim of the input)."""
    if like.grayscale:
        planes = [to_gray(rgb)]
    else:
        planes = [rgb[:, :, i] for i in range(3)]
    if alpha is not None:
        planes.append(alpha)
    out = np.stack(planes, axis=2)
    if ndim == 2:
        out = out[:, :, 0]
    if like.bit_depth == 32:
        return np.clip(out, 0.0, 1.0).astype(np.float32)
    return quantize(out, like.bit_depth)


# --- PIL ---------------------------------------------------------------------------------------------------
def from_pil(img) -> tuple[Planes, str]:
    """A PIL image -> planes and the mode to give back. EXIF orientation is applied, like read_image does."""
    from PIL import Image, ImageOps

    if not isinstance(img, Image.Image):
        raise ImageError(f"expected a PIL image, got {type(img).__name__}")
    img = ImageOps.exif_transpose(img)
    mode = img.mode
    if mode == "P" or mode == "PA":
        has_alpha = mode == "PA" or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
        mode = img.mode
    if mode == "1":
        img, mode = img.convert("L"), "L"
    if mode == "La":  # gray with premultiplied alpha: PIL converts it to LA only
        img, mode = img.convert("LA"), "LA"
    if mode in ("L", "LA", "RGB", "RGBA"):
        return from_numpy(np.asarray(img)), mode
    if mode.startswith("I;16"):
        a = np.asarray(img).astype(np.uint16)
        return from_numpy(a), mode
    if mode == "I":  # 32-bit integer gray; PNG 16-bit gray opens like this
        a = np.asarray(img)
        if a.min() < 0 or a.max() > 65535:
            raise UnsupportedModeError("PIL mode 'I' image with values outside 0..65535")
        return from_numpy(a.astype(np.uint16)), mode
    if mode == "F":  # the same contract as float arrays: values in [0, 1]
        try:
            return from_numpy(np.asarray(img, dtype=np.float32)), mode
        except ImageError as e:
            raise ImageError(f"PIL mode 'F' image: {e}") from None
    if mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa"):
        conv = "RGBA" if mode == "RGBa" else "RGB"
        return from_numpy(np.asarray(img.convert(conv))), conv
    raise UnsupportedModeError(f"PIL image mode {mode!r} is not supported")


def to_pil(rgb: np.ndarray, alpha: np.ndarray | None, like: Planes, mode: str):
    from PIL import Image

    if mode == "F":
        return Image.fromarray(to_gray(rgb).astype(np.float32))
    if mode.startswith("I;16") or mode == "I":
        g = quantize(rgb, 16, gray=True)
        img = Image.fromarray(g)  # I;16
        return img if mode.startswith("I;16") else img.convert("I")
    arr = to_numpy(rgb, alpha, Planes(rgb, alpha, 8, like.grayscale), ndim=3)
    return Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)  # L, LA, RGB or RGBA from the shape
