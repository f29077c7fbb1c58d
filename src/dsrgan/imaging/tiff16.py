"""Minimal 16-bit TIFF codec for gray+alpha, RGB and RGBA, which Pillow reduces to 8 bits.

Reads baseline TIFF 6.0 images with 16-bit unsigned samples: strips or tiles, chunky or planar, compression
none / LZW / Deflate / PackBits, horizontal-differencing predictor, unassociated or associated alpha, and the
Orientation tag. Writes chunky, Deflate-compressed, one strip per block of rows.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numba
import numpy as np

from dsrgan.errors import ImageTooLargeError, TruncatedImageError, UnsupportedModeError

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_TYPE_CODES = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 16: "Q"}


class _Ifd(dict):
    def one(self, tag, default=None):
        v = self.get(tag)
        return default if v is None else v[0]


def _parse_first_ifd(read):
    """-> (byte order '<' or '>', dict tag -> tuple of values) of the first IFD, or None if not a classic TIFF.

    `read(offset, size) -> bytes` gives access to the file, so only the header and the IFD are read."""
    head = read(0, 8)
    if len(head) < 8 or head[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    bo = "<" if head[:2] == b"II" else ">"
    (offset,) = struct.unpack(bo + "I", head[4:8])
    count = read(offset, 2)
    if len(count) < 2:
        raise ValueError("IFD offset beyond the end of the file")
    (n,) = struct.unpack(bo + "H", count)
    table = read(offset + 2, 12 * n)
    if len(table) < 12 * n:
        raise ValueError("IFD runs past the end of the file")
    ifd = _Ifd()
    for i in range(n):
        tag, typ, count, inline = struct.unpack(bo + "HHI4s", table[12 * i:12 * i + 12])
        code = _TYPE_CODES.get(typ)
        if code is None:
            continue  # rationals, ASCII, ...: none of the tags we need
        size = _TYPE_SIZES[typ] * count
        if size <= 4:
            raw = inline[:size]
        else:
            raw = read(struct.unpack(bo + "I", inline)[0], size)
            if len(raw) < size:
                raise ValueError(f"tag {tag} points beyond the end of the file")
        ifd[tag] = struct.unpack(bo + code * count, raw)
    return bo, ifd


def _file_reader(f):
    def read(offset, size):
        f.seek(offset)
        return f.read(size)

    return read


def _bytes_reader(data: bytes):
    return lambda offset, size: data[offset:offset + size]


def header(path: Path):
    """(byte order, first IFD) of a classic TIFF, None for other files or if the header is unreadable."""
    try:
        with open(path, "rb") as f:
            return _parse_first_ifd(_file_reader(f))
    except (OSError, ValueError, struct.error):
        return None


def is_16bit_colour(path: Path) -> bool:
    """True for TIFFs whose first image has 2-4 samples of 16 bits (the ones Pillow would reduce to 8 bits)."""
    parsed = header(path)
    if parsed is None:
        return False
    ifd = parsed[1]
    bits = ifd.get(258, (1,))
    spp = ifd.one(277, 1)
    return spp in (2, 3, 4) and all(b == 16 for b in bits)


@numba.njit(cache=True)
def _lzw_decode(src, out_size):  # pragma: no cover - compiled
    """TIFF LZW (MSB-first codes, 9-12 bits, early change). Returns (bytes, ok)."""
    out = np.zeros(out_size, np.uint8)
    prefix = np.zeros(4096, np.int32)
    suffix = np.zeros(4096, np.uint8)
    first = np.zeros(4096, np.uint8)
    length = np.zeros(4096, np.int32)
    for i in range(256):
        suffix[i] = i
        first[i] = i
        length[i] = 1
    n = src.shape[0]
    bitpos = 0
    width = 9
    next_code = 258
    prev = -1
    o = 0
    while True:
        if (bitpos + width) > n * 8:
            return out[:o], False  # ran out of data before EOI
        code = 0
        for _ in range(width):
            byte = src[bitpos >> 3]
            code = (code << 1) | ((byte >> (7 - (bitpos & 7))) & 1)
            bitpos += 1
        if code == 257:
            return out[:o], True
        if code == 256:
            width = 9
            next_code = 258
            prev = -1
            continue
        if prev == -1:
            if code > 255:
                return out[:o], False
            if o < out_size:
                out[o] = code
            o += 1
            prev = code
            continue
        if code < next_code:
            entry = code
            head = first[code]
        elif code == next_code:
            entry = -1
            head = first[prev]
        else:
            return out[:o], False
        if next_code < 4096:
            prefix[next_code] = prev
            suffix[next_code] = head
            first[next_code] = first[prev]
            length[next_code] = length[prev] + 1
            next_code += 1
        if entry == -1:
            entry = next_code - 1
        # write the string of `entry` backwards
        ln = length[entry]
        k = entry
        for j in range(ln - 1, -1, -1):
            if o + j < out_size:
                out[o + j] = suffix[k]
            k = prefix[k]
        o += ln
        prev = code
        if next_code + 1 >= (1 << width) and width < 12:
            width += 1
        if o >= out_size:
            return out, True
    return out[:o], True


def _packbits(src: bytes, out_size: int) -> bytes:
    out = bytearray()
    i, n = 0, len(src)
    while i < n and len(out) < out_size:
        c = src[i]
        i += 1
        if c < 128:
            out += src[i:i + c + 1]
            i += c + 1
        elif c > 128:
            if i >= n:
                break
            out += bytes([src[i]]) * (257 - c)
            i += 1
    return bytes(out)


def _decompress(path, chunk: bytes, compression: int, size: int) -> bytes:
    if compression == 1:
        raw = chunk
    elif compression in (8, 32946):
        try:
            raw = zlib.decompressobj().decompress(chunk, size)
        except zlib.error as e:
            raise TruncatedImageError(f"{path}: corrupt TIFF data ({e})") from None
    elif compression == 5:
        arr, ok = _lzw_decode(np.frombuffer(chunk, np.uint8), size)
        raw = arr.tobytes()
    elif compression == 32773:
        raw = _packbits(chunk, size)
    else:
        raise UnsupportedModeError(f"{path}: 16-bit TIFF with compression {compression} is not supported "
                                   "(use none, LZW, Deflate or PackBits)")
    if len(raw) < size:
        raise TruncatedImageError(f"{path}: truncated TIFF (a strip or tile ends early)")
    return raw[:size]


def read(path: Path, *, max_pixels: int) -> tuple[np.ndarray, int]:
    """Decode a 16-bit multi-sample TIFF -> (uint16 H x W x C with C = 2, 3 or 4, Orientation tag value)."""
    data = Path(path).read_bytes()
    try:
        parsed = _parse_first_ifd(_bytes_reader(data))
    except (ValueError, struct.error) as e:
        raise TruncatedImageError(f"{path}: corrupt TIFF header ({e})") from None
    if parsed is None:
        raise TruncatedImageError(f"{path}: not a valid TIFF stream")
    bo, ifd = parsed
    w, h, spp = ifd.one(256, 0), ifd.one(257, 0), ifd.one(277, 1)
    if w == 0 or h == 0:
        raise TruncatedImageError(f"{path}: TIFF without width or height")
    if w * h > max_pixels:
        raise ImageTooLargeError(f"{path}: {w}x{h} = {w * h} pixels exceeds the limit of {max_pixels}")
    photometric = ifd.one(262, 2 if spp >= 3 else 1)
    if ifd.one(339, 1) != 1:
        raise UnsupportedModeError(f"{path}: 16-bit TIFF with signed or float samples is not supported")
    if not ((photometric == 2 and spp in (3, 4)) or (photometric in (0, 1) and spp == 2)):
        raise UnsupportedModeError(f"{path}: 16-bit TIFF with photometric {photometric} and {spp} samples "
                                   "is not supported (use gray+alpha, RGB or RGBA)")
    compression, predictor, planar = ifd.one(259, 1), ifd.one(317, 1), ifd.one(284, 1)
    if predictor not in (1, 2):
        raise UnsupportedModeError(f"{path}: TIFF predictor {predictor} is not supported")
    planes = spp if planar == 2 else 1
    per_chunk = 1 if planar == 2 else spp
    out = np.empty((planes, h, w, per_chunk), np.uint16)
    if 322 in ifd:  # tiles
        tw, th = ifd.one(322), ifd.one(323)
        offsets, counts = ifd.get(324, ()), ifd.get(325, ())
        across, down = -(-w // tw), -(-h // th)
        boxes = [(p, (r * th, c * tw, th, tw)) for p in range(planes) for r in range(down) for c in range(across)]
    else:
        rps = min(ifd.one(278, h), h)
        offsets, counts = ifd.get(273, ()), ifd.get(279, ())
        boxes = [(p, (r * rps, 0, rps, w)) for p in range(planes) for r in range(-(-h // rps))]
    if len(offsets) < len(boxes) or len(counts) < len(boxes):
        raise TruncatedImageError(f"{path}: TIFF strip/tile table is incomplete")
    dtype = np.dtype(bo + "u2")
    for (plane, (y0, x0, bh, bw)), off, cnt in zip(boxes, offsets[:len(boxes)], counts[:len(boxes)], strict=True):
        full_h = bh if 322 in ifd else min(bh, h - y0)  # last strip may be short; tiles are always full
        size = full_h * bw * per_chunk * 2
        chunk = data[off:off + cnt]
        if len(chunk) < cnt:
            raise TruncatedImageError(f"{path}: truncated TIFF (data ends at byte {len(data)})")
        block = np.frombuffer(_decompress(path, chunk, compression, size), dtype).reshape(full_h, bw, per_chunk)
        if predictor == 2:
            block = np.cumsum(block.astype(np.uint16), axis=1, dtype=np.uint16)  # wraps mod 2**16, as encoded
        vh, vw = min(full_h, h - y0), min(bw, w - x0)
        out[plane, y0:y0 + vh, x0:x0 + vw] = block[:vh, :vw]
    img = out[0] if planes == 1 else np.concatenate(list(out), axis=2)
    if photometric == 0:  # white is zero
        img[..., 0] = 65535 - img[..., 0]
    extra = ifd.get(338, (2,))
    if spp in (2, 4) and extra and extra[0] == 1:  # associated (premultiplied) alpha -> straight alpha
        a = img[..., -1:].astype(np.float64)
        c = img[..., :-1].astype(np.float64)
        straight = np.where(a > 0, c * 65535.0 / np.maximum(a, 1), 0)
        img[..., :-1] = np.clip(np.floor(straight + 0.5), 0, 65535).astype(np.uint16)
    return np.ascontiguousarray(img), ifd.one(274, 1)


def write(path: Path, pixels: np.ndarray, *, level: int = 6) -> None:
    """Write uint16 H x W x C (C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) as a Deflate-compressed 16-bit TIFF."""
    if pixels.dtype != np.uint16:
        raise TypeError(f"tiff16.write needs uint16 data, got {pixels.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    h, w, spp = pixels.shape
    data = np.ascontiguousarray(pixels, dtype="<u2")
    row_bytes = w * spp * 2
    rps = max(1, min(h, (256 * 1024) // max(row_bytes, 1)))
    strips = [zlib.compress(data[y:y + rps].tobytes(), level) for y in range(0, h, rps)]
    entries = []  # (tag, type, values)
    # Layout: header (8) | strips | out-of-line values | IFD
    blob = bytearray(b"II*\x00\x00\x00\x00\x00")
    strip_offsets = []
    for s in strips:
        strip_offsets.append(len(blob))
        blob += s
        if len(blob) % 2:
            blob += b"\x00"
    entries += [
        (256, 4, (w,)), (257, 4, (h,)), (258, 3, (16,) * spp), (259, 3, (8,)),
        (262, 3, (2 if spp >= 3 else 1,)), (273, 4, tuple(strip_offsets)), (277, 3, (spp,)), (278, 4, (rps,)),
        (279, 4, tuple(len(s) for s in strips)), (282, 5, (72, 1)), (283, 5, (72, 1)), (284, 3, (1,)),
        (296, 3, (2,)), (339, 3, (1,) * spp),
    ]
    if spp in (2, 4):
        entries.append((338, 3, (2,)))  # unassociated alpha
    entries.sort()
    ifd = bytearray(struct.pack("<H", len(entries)))
    for tag, typ, values in entries:
        if typ == 5:
            payload = struct.pack("<" + "I" * len(values), *values)
            count = len(values) // 2
        else:
            payload = struct.pack("<" + _TYPE_CODES[typ] * len(values), *values)
            count = len(values)
        if len(payload) <= 4:
            ifd += struct.pack("<HHI", tag, typ, count) + payload.ljust(4, b"\x00")
        else:
            ifd += struct.pack("<HHII", tag, typ, count, len(blob))
            blob += payload
            if len(blob) % 2:
                blob += b"\x00"
    ifd += b"\x00\x00\x00\x00"  # no next IFD
    struct.pack_into("<I", blob, 4, len(blob))
    blob += ifd
    Path(path).write_bytes(bytes(blob))
