"""Overlapping tiles with a smooth blend, assembled on the CPU in float32.

The grid is a product of two 1-D grids, and every tile's weight is a product wy(y) * wx(x) of two 1-D windows.
The sum of the weights over all tiles is then separable too, so it is normalised per axis: each 1-D window is
divided by the 1-D sum of all windows on that axis. The output needs one float32 accumulator and no weight map.

Windows: inside the overlap with a neighbour a tile's weight rises as sin^2 from almost 0 (at its own edge, where
its missing context hurts most) to 1; the neighbour's falls as cos^2 over the same pixels, so the pair sums to 1
and the seam is a smooth cross-fade. Where a tile edge is the image border there is no ramp (weight 1): no pixel
of the image ever gets total weight 0, which is the 0/0 bug of Hann-window blends.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np


def pad_borders(a: np.ndarray, pad: int) -> np.ndarray:
    """H x W (x C) -> (H + 2 pad) x (W + 2 pad) (x C), mirrored at the borders with the edge pixel repeated
    (c b a | a b c), as MATLAB's imresize extends an image; an axis shorter than `pad` is mirrored again and again
    (a 1-pixel axis becomes that pixel repeated)."""
    if pad <= 0:
        return a
    return np.pad(a, [(pad, pad), (pad, pad)] + [(0, 0)] * (a.ndim - 2), mode="symmetric")


def axis_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of equal-size tiles covering [0, length), neighbours overlapping by at least `overlap`.

    All tiles have the size min(tile, length), so a whole grid can be batched. The starts are spread evenly,
    so the actual overlaps are as equal as integer offsets allow. The overlap is capped at half the tile.
    """
    if length <= 0 or tile <= 0:
        raise ValueError(f"length and tile must be positive (got {length}, {tile})")
    if length <= tile:
        return [0]
    overlap = max(0, min(overlap, tile // 2))  # more would only multiply the work
    n = math.ceil((length - overlap) / (tile - overlap))
    n = max(n, 2)
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


BLEND_MARGIN = 0.25  # fraction of the overlap at each end where a tile keeps only the floor weight
WEIGHT_FLOOR = 1e-4  # the smallest weight a tile gives a pixel it covers


def fit_tile(length: int, tile: int, overlap: int) -> int:
    """The smallest tile size that covers `length` with as many tiles as size `tile` needs (less wasted overlap).

    E.g. 512 pixels in 256-pixel tiles with overlap 16 need 3 tiles; 182-pixel tiles do it with the same 3.
    """
    if length <= tile:
        return length
    overlap = max(0, min(overlap, tile // 2))
    n = max(2, math.ceil((length - overlap) / (tile - overlap)))
    return min(tile, math.ceil((length + (n - 1) * overlap) / n))


def area_tile(height: int, width: int, max_area: int, cap: int, overlap: int, minimum: int) -> tuple[int, int]:
    """The tile (th, tw) with th * tw <= max_area, sides at most `cap`, whose grid runs the fewest pixels.

    Square tiles waste work at the steps of the tile count: 2064 px at overlap 24 in 4 tiles needs 534-px tiles,
    and a 520-px limit makes it 5 tiles of 432 (9.5% extra work on both axes); 534 x 432 tiles fit the same area
    and cost 8.3%. Searched: per axis the smallest tile for each of the fewest tile counts and for the square
    tile's count (fitted as before, so a side may end below `minimum`, as the square rule's did).
    """
    side = min(cap, math.isqrt(max_area))

    def sizes(length: int, limit: int) -> list[int]:
        limit = max(1, min(cap, length, limit))
        first = len(axis_starts(length, limit, overlap))  # the fewest tiles that fit the limit
        counts = [*range(first, first + 8), len(axis_starts(length, max(1, side), overlap))]
        out = {fit_tile(length, min(limit, length if n == 1 else math.ceil((length + (n - 1) * overlap) / n)),
                        overlap) for n in counts}
        out.add(fit_tile(length, max(1, min(side, limit)), overlap))  # the square tile, fitted as before
        return sorted(out)

    best = None
    for th in sizes(height, max_area // max(1, min(minimum, width))):
        for tw in sizes(width, max_area // th):
            if th * tw > max_area:
                continue
            work = len(axis_starts(height, th, overlap)) * th * len(axis_starts(width, tw, overlap)) * tw
            if best is None or work < best[0]:
                best = (work, th, tw)
    if best is None:
        return min(minimum, height), min(minimum, width)
    return best[1], best[2]


def _ramp(n: int, margin: float = 0.0) -> np.ndarray:
    """n samples (at pixel centres) rising as sin^2 from WEIGHT_FLOOR to 1 over the central (1 - 2*margin) part."""
    t = (np.arange(n, dtype=np.float64) + 0.5) / n
    u = np.clip((t - margin) / (1.0 - 2.0 * margin), 0.0, 1.0)
    return np.maximum(WEIGHT_FLOOR, np.sin(0.5 * np.pi * u) ** 2)


def axis_windows(starts: list[int], size: int, scale: int = 1, margin: float = 0.0
                 ) -> tuple[list[np.ndarray], np.ndarray]:
    """Raw 1-D windows (at output resolution, `scale` x the tile grid) and their sum over the axis."""
    out_size = size * scale
    windows = []
    for i, s in enumerate(starts):
        w = np.ones(out_size, dtype=np.float64)
        if i > 0:  # ramp over the pixels shared with the previous tile
            n = (starts[i - 1] + size - s) * scale
            if n > 0:
                w[:n] = _ramp(n, margin)
        if i < len(starts) - 1:  # and down over the pixels shared with the next one
            n = (s + size - starts[i + 1]) * scale
            if n > 0:
                w[out_size - n:] *= _ramp(n, margin)[::-1]
        windows.append(w)
    total = np.zeros((starts[-1] + size) * scale, dtype=np.float64)
    for s, w in zip(starts, windows, strict=True):
        total[s * scale:s * scale + out_size] += w
    return windows, total


def _normalised(window: np.ndarray, total: np.ndarray, offset: int) -> np.ndarray:
    return (window / total[offset:offset + len(window)]).astype(np.float32)


@dataclass(frozen=True)
class Tile:
    y: int  # top-left corner in input pixels
    x: int
    h: int
    w: int
    wy: np.ndarray  # normalised 1-D weights at output resolution (length h*scale), float32
    wx: np.ndarray


class TileGrid:
    """The tiles of an H x W input for a model with integer `scale`, with normalised blend weights.

    Tiles are at most `tile` pixels on a side (or `tile` = (th, tw): th high, tw wide) and as small as covers each
    axis with the same number of them.
    """

    def __init__(self, height: int, width: int, tile: int | tuple[int, int], overlap: int, scale: int,
                 margin: float = BLEND_MARGIN):
        self.height, self.width, self.scale = height, width, scale
        th, tw = (tile, tile) if isinstance(tile, int) else tile
        self.th, self.tw = fit_tile(height, th, overlap), fit_tile(width, tw, overlap)
        self.ys = axis_starts(height, self.th, overlap)
        self.xs = axis_starts(width, self.tw, overlap)
        wys, sy = axis_windows(self.ys, self.th, scale, margin)
        wxs, sx = axis_windows(self.xs, self.tw, scale, margin)
        assert sy.min() > 0 and sx.min() > 0  # the point of the design: no pixel without weight
        self._wy = [_normalised(w, sy, s * scale) for s, w in zip(self.ys, wys, strict=True)]
        self._wx = [_normalised(w, sx, s * scale) for s, w in zip(self.xs, wxs, strict=True)]

    def __len__(self) -> int:
        return len(self.ys) * len(self.xs)

    def __iter__(self) -> Iterator[Tile]:
        for i, y in enumerate(self.ys):
            for j, x in enumerate(self.xs):
                yield Tile(y, x, self.th, self.tw, self._wy[i], self._wx[j])

    @property
    def processed_fraction(self) -> float:
        """Input pixels run through the network / input pixels (1.0 = no overlap cost)."""
        return len(self) * self.th * self.tw / (self.height * self.width)


def run_tiled(
    forward: Callable[[list[Tile]], np.ndarray],
    grid: TileGrid,
    channels: int,
    batch: int = 1,
    out: np.ndarray | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Blend `forward(tiles) -> float32 N x (h*scale) x (w*scale) x channels` over the grid.

    `forward` receives up to `batch` tiles at a time (all of the same size) and returns their outputs on the CPU.
    The result is accumulated in place into `out` (float32 H*scale x W*scale x channels, created if None).
    """
    s = grid.scale
    if out is None:  # allocated and touched up front: a too-large output fails now, not after the compute
        out = np.empty((grid.height * s, grid.width * s, channels), dtype=np.float32)
    out[...] = 0
    tiles = list(grid)
    for k in range(0, len(tiles), batch):
        chunk = tiles[k:k + batch]
        result = forward(chunk)
        for t, r in zip(chunk, result, strict=True):
            weight = t.wy[:, None, None] * t.wx[None, :, None]
            out[t.y * s:(t.y + t.h) * s, t.x * s:(t.x + t.w) * s] += r * weight
        if on_batch is not None:
            on_batch(len(chunk))
    return out


def halo_spans(length: int, tile: int, halo: int) -> list[tuple[int, int, int, int]]:
    """Exact tiling of a local operator along one axis: (a, b, src_a, src_b) per span.

    The spans [a, b) are at most `tile` long, as equal as integers allow, and cover [0, length) without
    overlap; the source windows [src_a, src_b) all have one length (the longest span plus `halo` on each side,
    at most the axis) and hold their span with at least `halo` pixels on each side, or the axis border. An
    operator whose output at a pixel depends only on inputs at most `halo` pixels away, and that pads with zeros
    at the borders, gives on [a, b) of its output for the window exactly what it gives there for the whole axis:
    where a window ends at the axis border, that edge is padded as in the whole run. Nothing is blended. One
    window size keeps one input shape per axis (an engine compiles a graph per shape).
    """
    if length <= 0 or tile <= 0 or halo < 0:
        raise ValueError(f"length and tile must be positive and halo >= 0 (got {length}, {tile}, {halo})")
    n = math.ceil(length / tile)
    bounds = [round(i * length / n) for i in range(n + 1)]
    spans = list(zip(bounds[:-1], bounds[1:], strict=True))
    size = min(length, max(b - a for a, b in spans) + 2 * halo)
    starts = [min(max(0, a - halo), length - size) for a, _ in spans]
    return [(a, b, s, s + size) for (a, b), s in zip(spans, starts, strict=True)]


def run_in_crops(op: Callable, x, tile: int, halo: int, scale: int, copy: Callable = lambda a: a):
    """`op(x)` for an N x C x H x W array `x` (numpy or torch) and a local operator `op` of reach `halo` that
    scales H and W by `scale` (a two-stage network's head), run on windows of at most `tile` + 2 `halo` a side
    (halo_spans): the same numbers as one call on the whole of `x`, the memory of a window. `copy` turns a window
    (a strided view) into the array `op` takes."""
    h, w = x.shape[-2:]
    if h <= tile and w <= tile:
        return op(x)
    s, out = scale, None
    spans_x = halo_spans(w, tile, halo)
    for y0, y1, sy0, sy1 in halo_spans(h, tile, halo):
        for x0, x1, sx0, sx1 in spans_x:
            r = op(copy(x[:, :, sy0:sy1, sx0:sx1]))
            if out is None:
                shape = (*r.shape[:2], h * s, w * s)
                out = r.new_empty(shape) if hasattr(r, "new_empty") else np.empty(shape, r.dtype)  # torch, numpy
            out[:, :, y0 * s:y1 * s, x0 * s:x1 * s] = r[:, :, (y0 - sy0) * s:(y1 - sy0) * s,
                                                        (x0 - sx0) * s:(x1 - sx0) * s]
    return out
