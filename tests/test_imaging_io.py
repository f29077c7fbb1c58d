"""Image I/O: round trips (8/16-bit, gray, alpha), modes, EXIF orientation, bad input, safe writes.

Independent oracles: Pillow (reading our files, writing the inputs, exif_transpose), libtiff (LZW encoding) and
a straightforward transcription of the PNG filter/interlace definitions for hand-built 16-bit files (decoded by
OpenCV's libpng/libtiff, so these check our use of it: channel order, alpha, orientation, metadata)."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from dsrgan.errors import (
    EmptyFileError,
    ImageError,
    ImageTooLargeError,
    NotAnImageError,
    OutputError,
    OutputExistsError,
    OverwriteInputError,
    TruncatedImageError,
    UnsupportedModeError,
)
from dsrgan.imaging import io as imio
from dsrgan.imaging import read_image, write_image


def _u16(x):
    return np.floor(np.asarray(x, np.float64) * 65535 + 0.5).astype(np.uint16)


def _u8(x):
    return np.floor(np.asarray(x, np.float64) * 255 + 0.5).astype(np.uint8)


# --- round trips --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["png", "tif", "tiff"])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("bit_depth", [8, 16])
def test_lossless_round_trip_is_exact(tmp_path, rng, ext, channels, bit_depth):
    top = 255 if bit_depth == 8 else 65535
    data = rng.integers(0, top + 1, (23, 31, channels), dtype=np.uint16 if bit_depth == 16 else np.uint8)
    gray = channels <= 2
    colour = data[..., 0] if gray else data[..., :3]
    alpha = data[..., -1] if channels in (2, 4) else None
    path = tmp_path / f"img.{ext}"
    write_image(path, colour / top, alpha=None if alpha is None else alpha / top, bit_depth=bit_depth,
                grayscale=gray)
    got = read_image(path)
    # 16-bit gray+alpha is stored as RGBA with the gray replicated (no library writes it): values stay exact
    stored_gray = gray and not (channels == 2 and bit_depth == 16)
    assert (got.bit_depth, got.grayscale, got.alpha is not None) == (bit_depth, stored_gray, alpha is not None)
    assert got.rgb.dtype == np.float32 and got.rgb.shape == (23, 31, 3)
    q = _u8 if bit_depth == 8 else _u16
    want = np.repeat(colour[..., None], 3, 2) if gray else colour
    np.testing.assert_array_equal(q(got.rgb), want)
    if alpha is not None:
        np.testing.assert_array_equal(q(got.alpha), alpha)


@pytest.mark.parametrize("ext", ["png", "tif"])
@pytest.mark.parametrize("channels", [3, 4])
def test_pillow_reads_our_16bit_files(tmp_path, rng, ext, channels):
    # Pillow keeps the high byte of each 16-bit sample: an independent check of layout and byte order.
    data = rng.integers(0, 65536, (17, 9, channels), dtype=np.uint16)
    path = tmp_path / f"img.{ext}"
    write_image(path, data[..., :3] / 65535, alpha=data[..., 3] / 65535 if channels == 4 else None, bit_depth=16)
    with Image.open(path) as im:
        assert im.size == (9, 17)
        np.testing.assert_array_equal(np.asarray(im), (data >> 8).astype(np.uint8))


@pytest.mark.parametrize("ext", ["bmp", "webp"])
def test_other_8bit_formats_round_trip(tmp_path, rng, ext):
    data = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    path = tmp_path / f"img.{ext}"
    write_image(path, data / 255, quality=100)  # WebP at quality 100 is lossless
    got = read_image(path)
    np.testing.assert_array_equal(_u8(got.rgb), data)
    assert got.bit_depth == 8 and not got.grayscale


def test_jpeg_quality_and_no_alpha(tmp_path, rng):
    base = np.linspace(0, 1, 64 * 64 * 3).reshape(64, 64, 3)
    noisy = np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1)
    hi, lo = tmp_path / "hi.jpg", tmp_path / "lo.jpeg"
    write_image(hi, noisy, quality=95, alpha=np.ones((64, 64)))
    write_image(lo, noisy, quality=30)
    assert lo.stat().st_size < hi.stat().st_size
    got = read_image(hi)
    assert got.alpha is None and got.bit_depth == 8
    assert np.abs(got.rgb - noisy).mean() < 0.03


def test_16bit_request_for_8bit_format_writes_8bit(tmp_path):
    path = tmp_path / "a.bmp"
    write_image(path, np.full((4, 4, 3), 0.5), bit_depth=16)
    assert read_image(path).bit_depth == 8


def test_grayscale_output_from_rgb_uses_luma(tmp_path):
    rgb = np.zeros((2, 2, 3))
    rgb[..., 0] = 1.0
    write_image(tmp_path / "g.png", rgb, grayscale=True)
    with Image.open(tmp_path / "g.png") as im:
        assert im.mode == "L"
        assert np.asarray(im)[0, 0] == round(0.299 * 255)


# --- hand-built 16-bit PNGs: every filter type, Adam7 interlacing, tRNS ------------------------------------
def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filter_rows(rows: np.ndarray, bpp: int, types) -> bytes:
    """Forward PNG filtering, byte by byte as the specification defines it."""
    out = bytearray()
    prev = np.zeros(rows.shape[1], np.int64)
    for y, row in enumerate(rows.astype(np.int64)):
        t = types[y % len(types)]
        out.append(t)
        for x in range(len(row)):
            a = row[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            pred = [0, a, b, (a + b) // 2, _paeth(a, b, c)][t]
            out.append((row[x] - pred) % 256)
        prev = row
    return bytes(out)


def _png(width, height, colour, idat: bytes, interlace=0, extra=b"") -> bytes:
    def chunk(t, body):
        return struct.pack(">I", len(body)) + t + body + struct.pack(">I", zlib.crc32(t + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(idat))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("interlace", [0, 1])
def test_16bit_png_all_filters_and_adam7(tmp_path, rng, interlace):
    h, w, c = 11, 13, 3
    data = rng.integers(0, 65536, (h, w, c), dtype=np.uint16)
    data[:, :4] = 4000  # some flat area, where Paeth/Avg predictions matter
    bpp = 2 * c
    if interlace:
        passes = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1))
        idat = b""
        for r0, c0, dr, dc in passes:
            sub = data[r0::dr, c0::dc]
            if sub.size:
                idat += _filter_rows(sub.astype(">u2").view(np.uint8).reshape(sub.shape[0], -1), bpp, [4, 3, 2, 1, 0])
    else:
        idat = _filter_rows(data.astype(">u2").view(np.uint8).reshape(h, -1), bpp, [0, 1, 2, 3, 4])
    path = tmp_path / "hand.png"
    path.write_bytes(_png(w, h, 2, idat, interlace))
    with Image.open(path) as im:  # Pillow agrees on the high bytes: the hand-built file is valid
        np.testing.assert_array_equal(np.asarray(im), (data >> 8).astype(np.uint8))
    got = read_image(path)
    assert got.bit_depth == 16 and not got.grayscale and got.alpha is None
    np.testing.assert_array_equal(_u16(got.rgb), data)


def test_16bit_gray_alpha_png(tmp_path, rng):
    data = rng.integers(0, 65536, (5, 6, 2), dtype=np.uint16)
    idat = _filter_rows(data.astype(">u2").view(np.uint8).reshape(5, -1), 4, [0, 1, 2, 3, 4])
    path = tmp_path / "la.png"
    path.write_bytes(_png(6, 5, 4, idat))
    got = read_image(path)
    assert got.grayscale and got.bit_depth == 16
    np.testing.assert_array_equal(_u16(got.rgb), np.repeat(data[..., :1], 3, 2))
    np.testing.assert_array_equal(_u16(got.alpha), data[..., 1])


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_16bit_orientation(tmp_path, rng, orientation):
    data = rng.integers(0, 65536, (5, 8, 3), dtype=np.uint16)
    exif = Image.Exif()
    exif[0x0112] = orientation
    ref = tmp_path / "ref.png"  # Pillow as the oracle, on the high bytes
    Image.fromarray((data >> 8).astype(np.uint8)).save(ref, exif=exif)
    with Image.open(ref) as im:
        want = np.asarray(ImageOps.exif_transpose(im))
    path = tmp_path / "o.png"
    write_image(path, data / 65535, bit_depth=16)
    exif = exif.tobytes()[6:]  # eXIf holds the TIFF structure without Pillow's "Exif\0\0" prefix
    blob = path.read_bytes()  # an eXIf chunk right after IHDR (8 + 25 bytes)
    chunk = struct.pack(">I", len(exif)) + b"eXIf" + exif + struct.pack(">I", zlib.crc32(b"eXIf" + exif))
    path.write_bytes(blob[:33] + chunk + blob[33:])
    got = read_image(path)
    assert got.bit_depth == 16
    np.testing.assert_array_equal(_u16(got.rgb) >> 8, want)
    tif = tmp_path / "o.tif"
    tif.write_bytes(_tiff(np.concatenate([data, data[..., :1]], -1), orientation=orientation))
    np.testing.assert_array_equal(_u16(read_image(tif).rgb) >> 8, want)


def test_reading_loads_neither_numba_nor_torch(tmp_path, rng):
    paths = []
    for name, depth in (("a.png", 8), ("b.png", 16), ("c.tif", 16)):
        write_image(tmp_path / name, rng.random((4, 5, 3)), bit_depth=depth)
        paths.append(str(tmp_path / name))
    code = ("import sys; from dsrgan.imaging import read_image; import dsrgan.imaging.io as io; "
            f"read_image({paths[0]!r}); assert 'cv2' not in sys.modules, 'cv2 for an 8-bit file'; "
            f"[read_image(p) for p in {paths[1:]!r}]; "
            "assert 'cv2' in sys.modules; print(sorted(m for m in ('numba', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_16bit_png_trns_colour_key(tmp_path):
    data = np.full((3, 4, 3), 1000, np.uint16)
    data[1, 2] = (7, 8, 9)
    idat = _filter_rows(data.astype(">u2").view(np.uint8).reshape(3, -1), 6, [0])
    trns = struct.pack(">HHH", 7, 8, 9)
    extra = struct.pack(">I", 6) + b"tRNS" + trns + struct.pack(">I", zlib.crc32(b"tRNS" + trns))
    path = tmp_path / "key.png"
    path.write_bytes(_png(4, 3, 2, idat, extra=extra))
    got = read_image(path)
    want = np.ones((3, 4), np.float32)
    want[1, 2] = 0
    np.testing.assert_array_equal(got.alpha, want)


# --- 16-bit TIFF written by libtiff (LZW) -------------------------------------------------------------------
def _patch_tiff_to_16bit(path, width16):
    """Turn an 8-bit RGB TIFF of width 2W into the same bytes seen as a 16-bit RGB TIFF of width W."""
    b = bytearray(path.read_bytes())
    assert b[:2] == b"II"
    (off,) = struct.unpack_from("<I", b, 4)
    (n,) = struct.unpack_from("<H", b, off)
    for i in range(n):
        e = off + 2 + 12 * i
        tag, typ, count = struct.unpack_from("<HHI", b, e)
        if tag == 256:
            struct.pack_into("<H" if typ == 3 else "<I", b, e + 8, width16)
        elif tag == 258:
            (vo,) = struct.unpack_from("<I", b, e + 8)
            struct.pack_into("<HHH", b, vo, 16, 16, 16)
    path.write_bytes(bytes(b))


@pytest.mark.parametrize("compression", ["tiff_lzw", "tiff_adobe_deflate", "packbits", None])
def test_16bit_tiff_from_libtiff(tmp_path, rng, compression):
    data = rng.integers(0, 65536, (10, 7, 3), dtype=np.uint16)
    data[:, :3] = 12345  # repeats, so LZW builds long codes
    as8 = data.astype("<u2").view(np.uint8).reshape(10, 14, 3)  # 6 bytes per 16-bit pixel = 2 RGB8 pixels
    path = tmp_path / "lib.tif"
    Image.fromarray(as8).save(path, compression=compression)
    _patch_tiff_to_16bit(path, 7)
    got = read_image(path)
    assert got.bit_depth == 16
    np.testing.assert_array_equal(_u16(got.rgb), data)


def test_16bit_tiff_lzw_long_strip(tmp_path, rng):
    # Enough data for the code width to grow to 12 bits and for the table to be cleared.
    data = (rng.integers(0, 40, (64, 300, 3)) * 1000).astype(np.uint16)
    as8 = data.astype("<u2").view(np.uint8).reshape(64, 600, 3)
    path = tmp_path / "big.tif"
    Image.fromarray(as8).save(path, compression="tiff_lzw")
    _patch_tiff_to_16bit(path, 300)
    np.testing.assert_array_equal(_u16(read_image(path).rgb), data)


def _tiff(data: np.ndarray, *, bo="<", planar=1, tile=None, predictor=1, deflate=False, photometric=None,
          extra=2, orientation=None) -> bytes:
    """A 16-bit TIFF built by hand from the TIFF 6.0 definitions (strips of 3 rows, or tiles)."""
    h, w, spp = data.shape
    planes = [data[..., i:i + 1] for i in range(spp)] if planar == 2 else [data]
    chunks = []
    for plane in planes:
        if tile:
            th, tw = tile
            padded = np.zeros((-(-h // th) * th, -(-w // tw) * tw, plane.shape[2]), np.uint16)
            padded[:h, :w] = plane
            blocks = [padded[y:y + th, x:x + tw] for y in range(0, h, th) for x in range(0, w, tw)]
        else:
            blocks = [plane[y:y + 3] for y in range(0, h, 3)]
        for b in blocks:
            b = b.astype(np.int64)
            if predictor == 2:
                b = np.concatenate([b[:, :1], np.diff(b, axis=1)], axis=1) % 65536
            raw = b.astype(bo + "u2").tobytes()
            chunks.append(zlib.compress(raw) if deflate else raw)
    body = bytearray()
    offsets = []
    for c in chunks:
        offsets.append(8 + len(body))
        body += c
    tags = {256: (4, [w]), 257: (4, [h]), 258: (3, [16] * spp), 259: (3, [8 if deflate else 1]),
            262: (3, [photometric if photometric is not None else (2 if spp >= 3 else 1)]), 277: (3, [spp]),
            284: (3, [planar]), 317: (3, [predictor])}
    if spp in (2, 4):
        tags[338] = (3, [extra])
    if orientation is not None:
        tags[274] = (3, [orientation])
    if tile:
        tags.update({322: (4, [tile[1]]), 323: (4, [tile[0]]), 324: (4, offsets), 325: (4, [len(c) for c in chunks])})
    else:
        tags.update({273: (4, offsets), 278: (4, [3]), 279: (4, [len(c) for c in chunks])})
    ifd_at = 8 + len(body)
    values = bytearray()
    entries = b""
    value_at = ifd_at + 2 + 12 * len(tags) + 4
    for tag in sorted(tags):
        typ, vals = tags[tag]
        payload = struct.pack(bo + ("H" if typ == 3 else "I") * len(vals), *vals)
        if len(payload) <= 4:
            entries += struct.pack(bo + "HHI", tag, typ, len(vals)) + payload.ljust(4, b"\x00")
        else:
            entries += struct.pack(bo + "HHII", tag, typ, len(vals), value_at + len(values))
            values += payload
    head = (b"II*\x00" if bo == "<" else b"MM\x00*") + struct.pack(bo + "I", ifd_at)
    return head + bytes(body) + struct.pack(bo + "H", len(tags)) + entries + b"\x00" * 4 + bytes(values)


@pytest.mark.parametrize("layout", [
    dict(), dict(bo=">"), dict(tile=(16, 16)), dict(predictor=2, deflate=True),
    dict(tile=(16, 32), predictor=2, deflate=True, bo=">"),
])
def test_16bit_tiff_layouts(tmp_path, rng, layout):
    data = rng.integers(0, 65536, (20, 35, 4), dtype=np.uint16)
    path = tmp_path / "hand.tif"
    path.write_bytes(_tiff(data, **layout))
    got = read_image(path)
    np.testing.assert_array_equal(_u16(got.rgb), data[..., :3])
    np.testing.assert_array_equal(_u16(got.alpha), data[..., 3])


@pytest.mark.parametrize("layout", [dict(planar=2), dict(planar=2, tile=(16, 32), bo=">"), dict(photometric=0)])
def test_16bit_tiff_layouts_opencv_misreads_are_refused(tmp_path, rng, layout):
    # OpenCV decodes planar 16-bit TIFFs to wrong pixels and 16-bit gray+alpha to 8-bit gray: refused, not guessed
    data = rng.integers(0, 65536, (20, 35, 2 if "photometric" in layout else 4), dtype=np.uint16)
    path = tmp_path / "hand.tif"
    path.write_bytes(_tiff(data, **layout))
    with pytest.raises(UnsupportedModeError) as err:
        read_image(path)
    _one_line_naming(err, path)


def test_16bit_tiff_premultiplied_alpha(tmp_path):
    path = tmp_path / "w.tif"
    colour = np.array([[[60000, 30000, 0], [20000, 10000, 5000]]], np.uint16)
    a = np.array([[65535, 32768]], np.uint16)
    premul = np.floor(colour * (a[..., None] / 65535.0) + 0.5).astype(np.uint16)
    path.write_bytes(_tiff(np.concatenate([premul, a[..., None]], -1), extra=1))
    got = read_image(path)
    assert np.abs(_u16(got.rgb).astype(int) - colour).max() <= 2  # un-premultiplied, up to rounding


# --- modes --------------------------------------------------------------------------------------------------
def test_palette_with_transparency(tmp_path):
    idx = np.array([[0, 1], [2, 1]], np.uint8)
    im = Image.fromarray(idx).convert("P")
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    im.save(tmp_path / "p.png", transparency=1)
    got = read_image(tmp_path / "p.png")
    np.testing.assert_array_equal(got.alpha, [[1, 0], [1, 0]])
    np.testing.assert_array_equal(_u8(got.rgb[0, 0]), [255, 0, 0])
    np.testing.assert_array_equal(_u8(got.rgb[1, 0]), [0, 0, 255])
    im.save(tmp_path / "p2.png")  # no transparency -> no alpha
    assert read_image(tmp_path / "p2.png").alpha is None


def test_16bit_tiff_larger_than_a_megabyte(tmp_path, rng):
    # our writer puts the IFD after the pixel data: the reader must find it at the end of a big file
    data = rng.integers(0, 65536, (420, 500, 3), dtype=np.uint16)
    path = tmp_path / "big.tif"
    write_image(path, data / 65535, bit_depth=16)
    assert path.stat().st_size > 1 << 20
    got = read_image(path)
    assert got.bit_depth == 16
    np.testing.assert_array_equal(_u16(got.rgb), data)


def test_16bit_gray_png_with_transparent_value(tmp_path):
    data = np.array([[0, 1000], [1000, 65535]], np.uint16)
    Image.fromarray(data).save(tmp_path / "g.png", transparency=1000)
    got = read_image(tmp_path / "g.png")
    assert got.grayscale and got.bit_depth == 16
    np.testing.assert_array_equal(got.alpha, [[1, 0], [0, 1]])
    np.testing.assert_array_equal(_u16(got.rgb[..., 1]), data)


def test_big_endian_16bit_gray_tiff(tmp_path):
    data = (np.arange(12, dtype=np.uint16) * 5000 + 7).reshape(3, 4)
    Image.frombytes("I;16B", (4, 3), data.astype(">u2").tobytes()).save(tmp_path / "be.tif")
    with Image.open(tmp_path / "be.tif") as im:
        assert im.mode == "I;16B"
    got = read_image(tmp_path / "be.tif")
    assert got.bit_depth == 16 and got.grayscale
    np.testing.assert_array_equal(_u16(got.rgb[..., 2]), data)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "RGBA", "CMYK", "I;16"])
def test_modes_match_pillow_conversion(tmp_path, rng, mode):
    base = Image.fromarray(rng.integers(0, 256, (9, 12, 4), dtype=np.uint8))  # RGBA
    if mode == "I;16":
        im = Image.fromarray(rng.integers(0, 65536, (9, 12), dtype=np.uint16))
    else:
        im = base.convert(mode)
    ext = "jpg" if mode == "CMYK" else "png"
    path = tmp_path / f"m.{ext}"
    im.save(path, **({"quality": 100} if ext == "jpg" else {}))
    got = read_image(path)
    with Image.open(path) as ref:
        if mode == "I;16":
            want = np.repeat(np.asarray(ref)[..., None], 3, 2)
            np.testing.assert_array_equal(_u16(got.rgb), want)
            assert got.bit_depth == 16 and got.grayscale
            return
        want = np.asarray(ref.convert("RGB"))
        np.testing.assert_array_equal(_u8(got.rgb), want)
        assert got.grayscale == (mode in ("1", "L", "LA"))
        assert (got.alpha is not None) == (mode in ("LA", "RGBA"))
        if got.alpha is not None:
            np.testing.assert_array_equal(_u8(got.alpha), np.asarray(ref.convert("RGBA"))[..., 3])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied(tmp_path, rng, orientation):
    data = rng.integers(0, 256, (5, 8, 3), dtype=np.uint8)
    im = Image.fromarray(data)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"
    im.save(path, exif=exif)
    got = read_image(path)
    with Image.open(path) as ref:
        want = np.asarray(ImageOps.exif_transpose(ref))
    assert got.rgb.shape[:2] == want.shape[:2]
    np.testing.assert_array_equal(_u8(got.rgb), want)


# --- bad input ----------------------------------------------------------------------------------------------
def _one_line_naming(err, path):
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg
    assert isinstance(err.value, ImageError)


def _good_png(tmp_path, rng, name="good.png", shape=(40, 40, 3)):
    path = tmp_path / name
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(EmptyFileError) as err:
        read_image(path)
    _one_line_naming(err, path)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are not pixels\n" * 10)
    with pytest.raises(NotAnImageError) as err:
        read_image(path)
    _one_line_naming(err, path)


@pytest.mark.parametrize("fmt", ["png", "jpg", "png16", "tif16"])
def test_truncated_file(tmp_path, rng, fmt):
    path = tmp_path / f"t.{fmt[:3]}"
    data = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    if fmt in ("png16", "tif16"):
        write_image(path, data / 255, bit_depth=16)
    else:
        Image.fromarray(data).save(path)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(TruncatedImageError) as err:
        read_image(path)
    _one_line_naming(err, path)


def test_corrupt_16bit_png_crc(tmp_path, rng):
    path = tmp_path / "c.png"
    write_image(path, rng.random((8, 8, 3)), bit_depth=16)
    blob = bytearray(path.read_bytes())
    blob[60] ^= 0xFF  # inside IDAT
    path.write_bytes(bytes(blob))
    with pytest.raises(TruncatedImageError) as err:
        read_image(path)
    _one_line_naming(err, path)


def test_unsupported_mode(tmp_path, rng):
    path = tmp_path / "float.tif"
    Image.fromarray(rng.random((6, 6)).astype(np.float32)).save(path)  # mode F
    with pytest.raises(UnsupportedModeError) as err:
        read_image(path)
    _one_line_naming(err, path)


def test_pixel_limit(tmp_path, rng):
    path = _good_png(tmp_path, rng)
    with pytest.raises(ImageTooLargeError) as err:
        read_image(path, max_pixels=40 * 40 - 1)
    _one_line_naming(err, path)
    assert read_image(path, max_pixels=40 * 40).rgb.shape == (40, 40, 3)


@pytest.mark.parametrize("colour", [2, 6, 0])
def test_decompression_bomb_header_rejected_before_decoding(tmp_path, colour):
    # A tiny file claiming 100000 x 100000 pixels: rejected from the header, never decoded.
    path = tmp_path / "bomb.png"
    path.write_bytes(_png(100_000, 100_000, colour, b"\x00" * 100))
    with pytest.raises(ImageTooLargeError) as err:
        read_image(path)
    _one_line_naming(err, path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError) as err:
        read_image(tmp_path / "nope.png")
    _one_line_naming(err, tmp_path / "nope.png")
    with pytest.raises(ImageError):
        read_image(tmp_path)


# --- safe writing -------------------------------------------------------------------------------------------
def test_refuses_to_overwrite_input(tmp_path, rng):
    src = _good_png(tmp_path, rng)
    before = src.read_bytes()
    with pytest.raises(OverwriteInputError):
        write_image(src, np.zeros((4, 4, 3)), inputs=[src])
    with pytest.raises(OverwriteInputError):  # a different spelling of the same path
        write_image(tmp_path / "sub" / ".." / src.name, np.zeros((4, 4, 3)), inputs=[str(src)])
    link = tmp_path / "hard.png"
    link.hardlink_to(src)
    with pytest.raises(OverwriteInputError):
        write_image(link, np.zeros((4, 4, 3)), inputs=[src])
    assert src.read_bytes() == before


def test_overwrite_flag_and_unknown_format(tmp_path, rng):
    out = _good_png(tmp_path, rng, "out.png")
    with pytest.raises(OutputExistsError):
        write_image(out, np.zeros((4, 4, 3)), overwrite=False)
    write_image(out, np.zeros((4, 4, 3)))  # default: replace
    assert read_image(out).rgb.shape == (4, 4, 3)
    with pytest.raises(OutputError):
        write_image(tmp_path / "x.xyz", np.zeros((4, 4, 3)))


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(imio.deep, "encode", boom)
    target = tmp_path / "out.png"
    with pytest.raises(RuntimeError):
        write_image(target, np.zeros((4, 4, 3)), bit_depth=16)
    assert list(tmp_path.iterdir()) == []
