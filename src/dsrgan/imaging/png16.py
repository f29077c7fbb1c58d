"""Minimal 16-bit PNG codec for gray+alpha, RGB and RGBA (colour types 4, 2, 6), which Pillow reduces to 8 bits.

Reading follows the PNG specification (ISO/IEC 15948): chunks with CRC check, zlib stream, the five row filters
(undone by a small numba kernel, since Avg and Paeth are sequential along a row), Adam7 interlacing, and the
tRNS colour key for RGB. Writing uses the Sub filter (vectorised) and zlib level 6.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numba
import numpy as np

from dsrgan.errors import ImageTooLargeError, TruncatedImageError, UnsupportedModeError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel
# Adam7 passes: (row start, col start, row step, col step)
_ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1))


def read_header(path: Path) -> tuple[int, int, int, int, int] | None:
    """(width, height, bit depth, colour type, interlace) of a PNG file, or None if it is not one."""
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or head[:8] != SIGNATURE or head[12:16] != b"IHDR":
        return None
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return w, h, depth, ctype, interlace


def is_16bit_colour(path: Path) -> bool:
    """True for 16-bit PNGs with more than one channel (the ones Pillow would reduce to 8 bits)."""
    head = read_header(path)
    return head is not None and head[2] == 16 and head[3] in (2, 4, 6)


@numba.njit(cache=True)
def _unfilter(data, height, rowbytes, bpp):  # pragma: no cover - compiled
    out = np.zeros((height, rowbytes), np.uint8)
    for y in range(height):
        base = y * (rowbytes + 1)
        ftype = data[base]
        for x in range(rowbytes):
            raw = np.int32(data[base + 1 + x])
            a = np.int32(out[y, x - bpp]) if x >= bpp else 0
            b = np.int32(out[y - 1, x]) if y > 0 else 0
            if ftype == 0:
                v = raw
            elif ftype == 1:
                v = raw + a
            elif ftype == 2:
                v = raw + b
            elif ftype == 3:
                v = raw + (a + b) // 2
            elif ftype == 4:
                c = np.int32(out[y - 1, x - bpp]) if (x >= bpp and y > 0) else 0
                p = a + b - c
                pa = abs(p - a)
                pb = abs(p - b)
                pc = abs(p - c)
                if pa <= pb and pa <= pc:
                    v = raw + a
                elif pb <= pc:
                    v = raw + b
                else:
                    v = raw + c
            else:
                return out, y  # bad filter type: report the row
            out[y, x] = v & 255
    return out, -1


def read(path: Path, *, max_pixels: int) -> np.ndarray:
    """Decode a 16-bit PNG into a native-endian uint16 H x W x C array (C = 2, 3 or 4; RGB with a tRNS colour
    key becomes RGBA)."""
    data = Path(path).read_bytes()
    if data[:8] != SIGNATURE:
        raise TruncatedImageError(f"{path}: not a valid PNG stream")
    pos, header, idat, trns, ended = 8, None, [], None, False
    while pos + 12 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = data[pos + 8 + length:pos + 12 + length]
        if len(body) < length or len(crc) < 4:
            break
        if zlib.crc32(ctype + body) != struct.unpack(">I", crc)[0]:
            raise TruncatedImageError(f"{path}: corrupt PNG ({ctype.decode('latin-1')} chunk fails its CRC)")
        pos += 12 + length
        if ctype == b"IHDR":
            header = struct.unpack(">IIBBBBB", body[:13])
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"tRNS":
            trns = body
        elif ctype == b"IEND":
            ended = True
            break
    if header is None:
        raise TruncatedImageError(f"{path}: PNG without an IHDR chunk")
    w, h, depth, colour, compression, filt, interlace = header
    if depth != 16 or colour not in _CHANNELS or compression != 0 or filt != 0 or interlace > 1:
        raise UnsupportedModeError(f"{path}: PNG bit depth {depth} / colour type {colour} is not a 16-bit type")
    if w == 0 or h == 0:
        raise TruncatedImageError(f"{path}: PNG with zero width or height")
    if w * h > max_pixels:
        raise ImageTooLargeError(f"{path}: {w}x{h} = {w * h} pixels exceeds the limit of {max_pixels}")
    channels = _CHANNELS[colour]
    bpp = 2 * channels
    passes = [(0, 0, 1, 1)] if interlace == 0 else list(_ADAM7)
    sizes = []
    for r0, c0, dr, dc in passes:
        ph, pw = (h - r0 + dr - 1) // dr, (w - c0 + dc - 1) // dc
        sizes.append((ph, pw) if ph > 0 and pw > 0 else (0, 0))
    expected = sum(ph * (1 + pw * bpp) for ph, pw in sizes)
    try:
        d = zlib.decompressobj()
        raw = d.decompress(b"".join(idat), expected)
    except zlib.error as e:
        raise TruncatedImageError(f"{path}: corrupt PNG image data ({e})") from None
    if len(raw) < expected or not ended:
        raise TruncatedImageError(f"{path}: truncated PNG (image data ends early)")
    buf = np.frombuffer(raw, np.uint8)
    out = np.empty((h, w, channels), np.uint16)
    offset = 0
    for (r0, c0, dr, dc), (ph, pw) in zip(passes, sizes, strict=True):
        if ph == 0:
            continue
        n = ph * (1 + pw * bpp)
        rows, bad = _unfilter(buf[offset:offset + n], ph, pw * bpp, bpp)
        if bad >= 0:
            raise TruncatedImageError(f"{path}: corrupt PNG (unknown filter type in row {bad})")
        offset += n
        out[r0::dr, c0::dc] = rows.view(">u2").reshape(ph, pw, channels)
    if trns is not None and colour == 2 and len(trns) >= 6:
        key = np.array(struct.unpack(">HHH", trns[:6]), np.uint16)
        alpha = np.where((out == key).all(axis=2), 0, 65535).astype(np.uint16)
        out = np.concatenate([out, alpha[..., None]], axis=2)
    return out


def _chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def write(path: Path, pixels: np.ndarray, *, level: int = 6) -> None:
    """Write uint16 H x W x C (C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) as a 16-bit PNG."""
    if pixels.dtype != np.uint16:
        raise TypeError(f"png16.write needs uint16 data, got {pixels.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    h, w, channels = pixels.shape
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    bpp = 2 * channels
    rows = np.ascontiguousarray(pixels, dtype=">u2").view(np.uint8).reshape(h, w * bpp)
    filtered = np.empty((h, w * bpp + 1), np.uint8)
    filtered[:, 0] = 1  # Sub: each byte minus the byte one pixel to the left (mod 256)
    filtered[:, 1:bpp + 1] = rows[:, :bpp]
    np.subtract(rows[:, bpp:], rows[:, :-bpp], out=filtered[:, bpp + 1:])
    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0)
    data = SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(filtered.tobytes(), level))
    Path(path).write_bytes(data + _chunk(b"IEND", b""))
