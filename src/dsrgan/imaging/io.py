"""Reading and writing image files.

`read_image` returns float32 RGB in [0, 1] plus what a writer needs to give the user back what they gave:
the alpha channel (separately), the bit depth (8 or 16) and whether the image was grayscale. `write_image` picks
the format from the extension, writes atomically and never overwrites an input.

Pillow decodes everything except 16-bit colour PNG and TIFF files, which Pillow reduces to 8 bits: OpenCV
decodes and writes those (`deep`), while Pillow still reads their metadata (size, orientation, TIFF tags).
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, TiffImagePlugin, UnidentifiedImageError

from dsrgan import options
from dsrgan.errors import (
    EmptyFileError,
    ImageError,
    ImageTooLargeError,
    ImageTypeError,
    NotAnImageError,
    OptionError,
    OutputError,
    OutputExistsError,
    OverwriteInputError,
    TruncatedImageError,
    UnsupportedModeError,
)
from dsrgan.imaging import deep
from dsrgan.imaging.color import check_unit_range, quantize, rgb_to_luma
from dsrgan.imaging.formats import WRITE_FORMATS
from dsrgan.options import check_pixels
from dsrgan.utils.atomic import atomic_path

# 100 megapixels: a float32 RGB copy is 1.2 GB. Pillow's own guard is raised to at least this, and we check the
# header's size ourselves before any pixel is decoded.
DEFAULT_MAX_PIXELS = 100_000_000


# EXIF orientation -> numpy transform of an H x W (x C) array (what the camera meant by "up").
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


@dataclass
class LoadedImage:
    """A decoded image. `rgb` is float32 H x W x 3 in [0, 1] (gray images are replicated to 3 channels)."""

    rgb: np.ndarray
    alpha: np.ndarray | None  # float32 H x W in [0, 1], or None
    bit_depth: int  # 8 or 16: the precision of the file's samples
    grayscale: bool
    path: Path | None = None
    format: str | None = None  # "PNG", "JPEG", ...

    @property
    def shape(self) -> tuple[int, int]:
        return self.rgb.shape[:2]


# --- reading -----------------------------------------------------------------------------------------------
def read_image(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode an image file (PNG, JPEG, BMP, TIFF, WebP, and what else Pillow reads), EXIF orientation applied.

    Raises EmptyFileError, TruncatedImageError, NotAnImageError, UnsupportedModeError, ImageTooLargeError (all
    dsrgan.errors.ImageError) with a one-line message naming the file."""
    path = options.path(path)
    max_pixels = options.max_pixels(max_pixels)
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image file")
    try:
        with open(path, "rb") as f:
            empty = f.read(1) == b""
    except OSError as e:
        raise ImageError(f"{path}: cannot open ({e.strerror or type(e).__name__})") from None
    if empty:
        raise EmptyFileError(f"{path}: the file is empty (0 bytes)")
    tags = _tiff16_colour_tags(path)
    if tags is not None:  # Pillow would drop the low byte of every sample
        pixels, alpha, bit_depth, gray, orientation = _read_tiff16(path, tags, max_pixels)
        fmt = "TIFF"
    else:
        pixels, alpha, bit_depth, gray, fmt, orientation = _read_pillow(path, max_pixels)
    transform = _ORIENT.get(orientation)
    if transform is not None:
        pixels = transform(pixels)
        alpha = None if alpha is None else transform(alpha)
    scale = np.float32(255.0 if bit_depth == 8 else 65535.0)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    rgb = np.empty(pixels.shape[:2] + (3,), np.float32)
    np.divide(pixels, scale, out=rgb, casting="unsafe")  # broadcasts a gray channel to all three
    if alpha is not None:
        alpha = np.ascontiguousarray(alpha, dtype=np.float32) / scale
    return LoadedImage(rgb=rgb, alpha=alpha, bit_depth=bit_depth, grayscale=gray, path=path, format=fmt)


def _read_pillow(path: Path, max_pixels: int):
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels  # our own check below is the one that decides
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module="PIL")  # e.g. "Corrupt EXIF data"
            im = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLargeError(f"{path}: image too large ({_reason(e)})") from None
    except UnidentifiedImageError:
        kind = _sniff(path)
        if kind is not None:
            raise TruncatedImageError(f"{path}: starts like a {kind} file but cannot be decoded (truncated or "
                                      "corrupt)") from None
        raise NotAnImageError(f"{path}: not an image file in a format we read") from None
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error, struct.error) as e:
        raise TruncatedImageError(f"{path}: cannot decode the image header ({_reason(e)})") from None
    with im:
        w, h = im.size
        check_pixels(w, h, max_pixels, str(path))
        fmt = im.format
        orientation = _orientation(im)
        try:
            pixels, alpha, bit_depth, gray = _decode(im, path, fmt, max_pixels)
        except ImageError:
            raise
        except (OSError, SyntaxError, EOFError, zlib.error, struct.error, IndexError, ValueError) as e:
            raise TruncatedImageError(f"{path}: truncated or corrupt image data ({_reason(e)})") from None
    return pixels, alpha, bit_depth, gray, fmt, orientation


_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
          (b"BM", "BMP"), (b"GIF8", "GIF"))


def _sniff(path: Path) -> str | None:
    """The image format a file's first bytes announce, or None."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not make a good image unreadable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _decode(im: Image.Image, path: Path, fmt: str | None, max_pixels: int):
    """-> (pixels uint8/uint16 H x W or H x W x 3, alpha H x W or None, bit_depth, grayscale)."""
    colour_type = _png16_colour_type(path) if fmt == "PNG" else None
    if colour_type is not None:
        arr = deep.decode(path.read_bytes())
        if arr is None or arr.dtype != np.uint16 or arr.ndim != 3:
            raise TruncatedImageError(f"{path}: truncated or corrupt 16-bit PNG")
        if colour_type == 4:  # gray+alpha, decoded as RGBA with the gray replicated
            arr = arr[..., [0, 3]]
        return _split_channels(arr, 16)
    im.load()
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(im)
        if mode == "I" and (arr.min() < 0 or arr.max() > 65535):
            raise UnsupportedModeError(f"{path}: 32-bit integer pixels are not supported (convert to 8/16-bit)")
        arr = arr.astype(np.uint16)
        alpha = None
        t = im.info.get("transparency")
        if isinstance(t, int):  # PNG tRNS: one fully transparent gray value
            alpha = np.where(arr == t, 0, 65535).astype(np.uint16)
        return arr, alpha, 16, True
    if mode == "1":
        return np.asarray(im.convert("L")), None, 8, True
    if mode == "L":
        if "transparency" in im.info:
            la = np.asarray(im.convert("LA"))
            return la[..., 0], la[..., 1], 8, True
        return np.asarray(im), None, 8, True
    if mode in ("LA", "La"):
        la = np.asarray(im.convert("LA"))
        return la[..., 0], la[..., 1], 8, True
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info or im.palette.mode == "RGBA"
        return _split_channels(np.asarray(im.convert("RGBA" if has_alpha else "RGB")), 8)
    if mode in ("RGBA", "RGBa") or (mode == "RGB" and "transparency" in im.info):
        return _split_channels(np.asarray(im.convert("RGBA")), 8)
    if mode == "RGB":
        return np.asarray(im), None, 8, False
    if mode in ("RGBX", "CMYK", "YCbCr"):
        return np.asarray(im.convert("RGB")), None, 8, False
    raise UnsupportedModeError(f"{path}: pixel mode {mode!r} is not supported (use 8/16-bit gray, RGB or RGBA)")


def _png16_colour_type(path: Path) -> int | None:
    """The PNG colour type (2 RGB, 4 gray+alpha, 6 RGBA) of a 16-bit PNG with more than one channel, else None."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[12:16] != b"IHDR" or head[24] != 16 or head[25] not in (2, 4, 6):
        return None
    return head[25]


def _tiff16_colour_tags(path: Path):
    """The first IFD (Pillow's reading of the tags) of a TIFF with 2-4 samples of 16 bits, else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if head[:4] not in (b"II*\x00", b"MM\x00*"):
                return None
            tags = TiffImagePlugin.ImageFileDirectory_v2(head)
            f.seek(tags.next)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "Corrupt EXIF data": the decoder will say it
                tags.load(f)
    except (OSError, ValueError, SyntaxError, EOFError, struct.error):
        return None  # Pillow's own open then names the problem
    bits = tags.get(258, (1,))
    bits = bits if isinstance(bits, tuple) else (bits,)
    return tags if _first(tags.get(277, 1)) in (2, 3, 4) and all(b == 16 for b in bits) else None


def _first(value):
    return value[0] if isinstance(value, tuple) else value


def _read_tiff16(path: Path, tags, max_pixels: int):
    """-> (pixels uint16 H x W x 3, alpha or None, 16, False, orientation) of a 16-bit RGB(A) TIFF."""
    w, h = _first(tags.get(256, 0)), _first(tags.get(257, 0))
    check_pixels(w, h, max_pixels, str(path))
    spp, photometric = _first(tags.get(277)), _first(tags.get(262, 2))
    if _first(tags.get(339, 1)) != 1:
        raise UnsupportedModeError(f"{path}: 16-bit TIFF with signed or float samples is not supported")
    if spp == 2 or photometric != 2:
        raise UnsupportedModeError(f"{path}: 16-bit TIFF with {spp} samples and photometric {photometric} is not "
                                   "supported (save it as 16-bit RGB, RGBA or gray)")
    if _first(tags.get(284, 1)) != 1:
        raise UnsupportedModeError(f"{path}: 16-bit TIFF with separate colour planes is not supported (save it "
                                   "with contiguous samples, as most programs do by default)")
    arr = deep.decode(path.read_bytes())
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3 or arr.shape[2] != spp:
        raise TruncatedImageError(f"{path}: truncated or corrupt 16-bit TIFF")
    if spp == 4 and _first(tags.get(338, 2)) == 1:  # associated (premultiplied) alpha -> straight alpha
        a = arr[..., 3:].astype(np.float64)
        straight = np.where(a > 0, arr[..., :3] * 65535.0 / np.maximum(a, 1), 0)
        arr[..., :3] = np.clip(np.floor(straight + 0.5), 0, 65535).astype(np.uint16)
    pixels, alpha, _, _ = _split_channels(arr, 16)
    return pixels, alpha, 16, False, 1  # libtiff (in OpenCV) has applied the Orientation tag already


def _split_channels(arr: np.ndarray, bit_depth: int):
    """H x W x C (C = 2: gray+alpha, 3: RGB, 4: RGBA) -> (pixels, alpha, bit_depth, grayscale)."""
    c = arr.shape[2]
    if c == 2:
        return arr[..., 0], arr[..., 1], bit_depth, True
    if c == 4:
        return arr[..., :3], arr[..., 3], bit_depth, False
    return arr, None, bit_depth, False


# --- writing -----------------------------------------------------------------------------------------------
def output_format(path: str | os.PathLike) -> str:
    """The format written for `path`'s extension (Pillow's name); OutputError for an extension we do not write."""
    path = Path(path)
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise OutputError(f"{path}: unknown output format {path.suffix!r}; use one of "
                          f"{', '.join(sorted(WRITE_FORMATS))}")
    return fmt


def write_image(path: str | os.PathLike, rgb: np.ndarray, *, alpha: np.ndarray | None = None, bit_depth: int = 8,
                grayscale: bool = False, quality: int = 95, inputs=(), overwrite: bool = True) -> Path:
    """Write float RGB in [0, 1] (H x W x 3, or H x W gray) to `path`; the format comes from the extension.

    PNG: 8/16-bit, gray or RGB, with or without alpha. TIFF: the same (deflate-compressed). JPEG: 8-bit, no
    alpha (it is dropped), `quality` 1-100. WebP: 8-bit RGB(A), lossless when quality is 100. BMP: 8-bit.
    `grayscale=True` stores one channel (BT.601 luma of RGB input). Values are clipped to [0, 1] and rounded
    half away from zero. The file appears complete or not at all; `path` must not be one of `inputs`.
    Returns the path written."""
    path = options.path(path)
    fmt = output_format(path)
    _check_not_input(path, inputs)
    if not options.flag(overwrite, "overwrite") and path.exists():
        raise OutputExistsError(f"{path}: already exists (pass overwrite=True to replace it)")
    if bit_depth not in (8, 16) or isinstance(bit_depth, bool):
        raise OptionError(f"bit_depth must be 8 or 16, got {bit_depth!r}")
    quality = options.quality(quality)
    if fmt in ("JPEG", "WEBP", "BMP"):
        bit_depth = 8  # these formats have 8-bit samples only
    if fmt == "JPEG":
        alpha = None
    pixels = _prepare(rgb, grayscale, bit_depth)
    if alpha is not None:
        a = np.asarray(alpha)
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[..., 0]
        if a.shape != pixels.shape[:2]:
            raise ImageError(f"alpha shape {a.shape} does not match the image {pixels.shape[:2]}")
        a = _quantise(a, bit_depth)
        pixels = np.concatenate([pixels if pixels.ndim == 3 else pixels[..., None], a[..., None]], axis=2)
    if fmt == "WEBP" and (pixels.ndim == 2 or pixels.shape[2] == 2):  # WebP has no gray: replicate
        g = pixels if pixels.ndim == 2 else pixels[..., 0]
        rest = [] if pixels.ndim == 2 else [pixels[..., 1:]]
        pixels = np.concatenate([np.repeat(g[..., None], 3, axis=2), *rest], axis=2)
    with atomic_path(path) as tmp:
        _encode(tmp, pixels, fmt, quality)
    return path


def _check_not_input(path: Path, inputs) -> None:
    if isinstance(inputs, (str, os.PathLike)):
        inputs = (inputs,)
    target = path.resolve()
    for item in inputs:
        p = Path(item)
        same = p.resolve() == target
        if not same and path.exists() and p.exists():
            try:
                same = os.path.samefile(p, path)  # hard links, case-insensitive file systems
            except OSError:
                same = False
        if same:
            raise OverwriteInputError(f"{path}: refusing to overwrite an input file; choose another output path")


def _quantise(x: np.ndarray, bit_depth: int) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x if bit_depth == 8 else x.astype(np.uint16) * 257
    if x.dtype == np.uint16:
        if bit_depth == 16:
            return x
        return np.floor(x.astype(np.float64) / 257 + 0.5).astype(np.uint8)
    if x.dtype.kind != "f":
        raise ImageTypeError(f"image data must be float in [0, 1], uint8 or uint16, got {x.dtype}")
    if x.size:
        check_unit_range(float(np.min(x)), float(np.max(x)))  # NaN, or 0..255 floats: not a black or white file
    return quantize(x, bit_depth)


def _prepare(rgb: np.ndarray, grayscale: bool, bit_depth: int) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype not in (np.uint8, np.uint16) and rgb.dtype.kind != "f":
        raise ImageTypeError(f"image data must be float in [0, 1], uint8 or uint16, got {rgb.dtype}")
    if rgb.ndim == 3 and rgb.shape[2] == 1:
        rgb = rgb[..., 0]
    if rgb.ndim == 2:
        q = _quantise(rgb, bit_depth)
        return q if grayscale else np.repeat(q[..., None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageError(f"expected an H x W x 3 RGB or H x W gray image, got shape {rgb.shape}")
    if grayscale:
        f = rgb.astype(np.float64)
        if rgb.dtype.kind == "u":
            f /= np.iinfo(rgb.dtype).max
        return _quantise(rgb_to_luma(f), bit_depth)
    return _quantise(rgb, bit_depth)


def _encode(tmp: Path, pixels: np.ndarray, fmt: str, quality: int) -> None:
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if pixels.dtype == np.uint16:
        tmp.write_bytes(deep.encode(pixels, fmt))
        return
    im = Image.fromarray(np.ascontiguousarray(pixels))  # L, LA, RGB or RGBA from the shape
    if fmt == "JPEG":
        im.save(tmp, format="JPEG", quality=int(quality), subsampling=0 if quality >= 90 else 2)
    elif fmt == "WEBP":
        im.save(tmp, format="WEBP", quality=int(quality), lossless=quality >= 100)
    elif fmt == "TIFF":
        im.save(tmp, format="TIFF", compression="tiff_deflate")
    elif fmt == "BMP":
        if channels == 2:  # BMP has no gray+alpha
            im = im.convert("RGBA")
        im.save(tmp, format="BMP")
    else:
        im.save(tmp, format="PNG", compress_level=6)
