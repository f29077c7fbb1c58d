"""MATLAB-compatible bicubic `imresize` (numpy).

What MATLAB's `imresize(A, scale)` / `imresize(A, [rows cols])` does with the default 'bicubic' method, and what
this module reproduces:

- kernel: Keys cubic convolution with a = -0.5, support [-2, 2];
- when shrinking (scale < 1) the kernel is stretched by 1/scale and scaled by `scale` (antialiasing), so its
  support becomes 4/scale input pixels;
- output pixel x (1-based) samples input coordinate u = x/scale + 0.5*(1 - 1/scale); it uses the
  P = ceil(kernel width) + 2 input pixels starting at floor(u - width/2); weights are normalised to sum to 1;
- out-of-range indices are mirrored (symmetric padding with the edge pixel repeated: ..., 2, 1, 1, 2, ...),
  done by indexing [1..n, n..1] cyclically; weight columns that are zero for every output pixel are dropped;
- the image is resized one dimension at a time, the dimension with the smaller scale factor first (rows first
  on ties);
- uint8/uint16 input: each 1-D pass is computed in double, then rounded half away from zero and saturated to
  the input type *before* the next pass; float input is neither rounded nor clipped.

The weights of each dimension are cached; small numba kernels apply them (integer images are transposed for the
column pass, float images use a strided column kernel), accumulating the taps in the same order as MATLAB's sum,
which keeps uint8 results bit-exact against MATLAB's output, and rounding integer results in the same loop. The
kernels are serial and release the GIL: safe in threads and in forked data-loader workers.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from dsrgan import options
from dsrgan.errors import ImageError, ImageTypeError, OptionError

KERNEL_WIDTH = 4.0  # support of the Keys cubic, in input pixels, before antialias stretching


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5 (MATLAB's `cubic`)."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


@functools.lru_cache(maxsize=256)
def contributions(in_length: int, out_length: int, scale: float, antialias: bool = True):
    """Weights (out_length x P, float64) and 0-based input indices (out_length x P, intp) of one 1-D resize.

    Row i gives output pixel i as sum_k weights[i, k] * input[indices[i, k]]. The arrays are cached and read-only.
    """
    if scale < 1 and antialias:
        def kernel(x):
            return scale * cubic(scale * x)

        width = KERNEL_WIDTH / scale
    else:
        kernel = cubic
        width = KERNEL_WIDTH
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    p = int(math.ceil(width)) + 2
    indices = left[:, None] + np.arange(p, dtype=np.float64)[None, :]  # 1-based, may be out of range
    weights = kernel(u[:, None] - indices)
    total = weights[:, 0].copy()
    for k in range(1, p):  # left-to-right sum, as MATLAB's sum along a row
        total += weights[:, k]
    weights = weights / total[:, None]
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = mirror[np.mod(indices.astype(np.intp) - 1, 2 * in_length)]
    keep = np.any(weights != 0, axis=0)
    weights = np.ascontiguousarray(weights[:, keep])
    indices = np.ascontiguousarray(indices[:, keep])
    weights.setflags(write=False)
    indices.setflags(write=False)
    return weights, indices


def resize_plan(in_shape: tuple[int, int], scale=None, output_shape=None, max_pixels: int | None = None):
    """MATLAB's output size and per-dimension scale: returns ((out_h, out_w), (scale_h, scale_w)).

    `scale` is a number or a (rows, cols) pair; `output_shape` is (rows, cols) where one entry may be None (then
    it follows the other's scale, as MATLAB's [rows NaN]). An output above `max_pixels` (default
    options.MAX_OUTPUT_PIXELS) is an ImageTooLargeError, before anything is allocated."""
    (oh, ow), scales = _plan(in_shape, scale, output_shape)
    limit = None if max_pixels is None else options.max_pixels(max_pixels)
    options.check_output_pixels(oh, ow, limit, f"resize of {int(in_shape[1])}x{int(in_shape[0])} to an output")
    return (oh, ow), scales


def _plan(in_shape, scale, output_shape):
    if (scale is None) == (output_shape is None):
        raise OptionError("give exactly one of scale and output_shape")
    h, w = int(in_shape[0]), int(in_shape[1])
    if h < 1 or w < 1:
        raise ImageError(f"cannot resize an empty image of shape {in_shape}")
    if scale is not None:
        pair = (scale, scale) if np.isscalar(scale) else tuple(scale)
        if len(pair) != 2:
            raise OptionError(f"scale must be a number or a (rows, cols) pair, got {scale!r}")
        sh, sw = (options.number(s, "scale", lo=0.0, lo_open=True) for s in pair)
        return (int(math.ceil(sh * h)), int(math.ceil(sw * w))), (sh, sw)
    if len(output_shape) != 2:
        raise OptionError(f"output_shape must be (rows, cols), got {output_shape!r}")
    oh, ow = (None if v is None else options.number(v, "output_shape", integer=True, lo=1) for v in output_shape)
    if oh is None and ow is None:
        raise OptionError("output_shape needs at least one of rows, cols")
    if oh is None:
        s = ow / w
        oh = int(math.ceil(s * h))
        sh = sw = s
    elif ow is None:
        s = oh / h
        ow = int(math.ceil(s * w))
        sh = sw = s
    else:
        sh, sw = oh / h, ow / w
    oh, ow = int(oh), int(ow)
    if oh < 1 or ow < 1:
        raise OptionError(f"output_shape must be positive, got {output_shape}")
    return (oh, ow), (float(sh), float(sw))


def dimension_order(scales: tuple[float, float]) -> tuple[int, int]:
    """MATLAB resizes the dimension with the smaller scale first (stable: rows first on ties)."""
    return (0, 1) if scales[0] <= scales[1] else (1, 0)


@numba.njit(cache=True, nogil=True)
def _pass_rows(x, w, idx, out, buf, integer, top):  # pragma: no cover - compiled
    """out[i, m] = sum_k w[i, k] * x[idx[i, k], m], summed in k order (as MATLAB does); with `integer`, rounded
    half away from zero and saturated to [0, top]. `buf` is one float row of scratch space."""
    n_out, taps = w.shape
    cols = x.shape[1]
    for i in range(n_out):
        r, wk = idx[i, 0], w[i, 0]
        for m in range(cols):
            buf[m] = wk * x[r, m]
        for k in range(1, taps):
            r, wk = idx[i, k], w[i, k]
            for m in range(cols):
                buf[m] += wk * x[r, m]
        if integer:
            for m in range(cols):
                out[i, m] = min(max(np.floor(buf[m] + 0.5), 0.0), top)
        else:
            for m in range(cols):
                out[i, m] = buf[m]


@numba.njit(cache=True, nogil=True)
def _pass_cols(x, w, idx, out):  # pragma: no cover - compiled
    """out[h, j, c] = sum_k w[j, k] * x[h, idx[j, k], c], summed in k order (float data only)."""
    n_out, taps = w.shape
    rows, chans = x.shape[0], x.shape[2]
    for h in range(rows):
        for j in range(n_out):
            for c in range(chans):
                acc = w[j, 0] * x[h, idx[j, 0], c]
                for k in range(1, taps):
                    acc += w[j, k] * x[h, idx[j, k], c]
                out[h, j, c] = acc


def _resize_first_axis(x: np.ndarray, out_len: int, scale: float, antialias: bool, work) -> np.ndarray:
    """One MATLAB 1-D resize along axis 0 of a C-contiguous array; integer input stays integer (rounded)."""
    weights, indices = contributions(x.shape[0], out_len, scale, antialias)
    integer = x.dtype.kind == "u"
    out = np.empty((out_len,) + x.shape[1:], x.dtype)
    flat = x.reshape(x.shape[0], -1)
    buf = np.empty(flat.shape[1], work)
    top = float(np.iinfo(x.dtype).max) if integer else 0.0
    _pass_rows(flat, weights.astype(work, copy=False), indices, out.reshape(out_len, -1), buf, integer, top)
    return out


def imresize(img: np.ndarray, scale=None, *, output_shape=None, antialias: bool = True,
             max_pixels: int | None = None) -> np.ndarray:
    """MATLAB `imresize(img, scale)` / `imresize(img, output_shape)` with the default bicubic method.

    An output of more than `max_pixels` pixels (default options.MAX_OUTPUT_PIXELS, 16384 x 16384) is refused
    with ImageTooLargeError before anything is allocated.

    `img` is H x W or H x W x C (any trailing dims). uint8/uint16 in -> same type out, rounded half away from
    zero and saturated after each 1-D pass; float in -> same float type out (float64 work for float64 input,
    float32 work for float32), not rounded, not clipped. Resizing never touches axes beyond the first two.
    """
    img = np.asarray(img)
    if img.ndim < 2:
        raise ImageError(f"imresize needs an H x W (x C) array, got shape {img.shape}")
    if img.dtype == np.uint8 or img.dtype == np.uint16:
        work = np.float64
    elif img.dtype == np.float32 or img.dtype == np.float64:
        work = img.dtype.type
    else:
        raise ImageTypeError(f"imresize supports uint8, uint16, float32 and float64, got {img.dtype}")
    out_shape, scales = resize_plan(img.shape[:2], scale, output_shape, max_pixels)
    x = img
    for dim in dimension_order(scales):
        if out_shape[dim] == x.shape[dim] and scales[dim] == 1.0:
            continue  # MATLAB skips a dimension whose scale is exactly 1
        if dim == 0:
            x = _resize_first_axis(np.ascontiguousarray(x), out_shape[0], scales[0], antialias, work)
        elif x.dtype.kind == "u":  # integer: transposing is cheap, and the row kernel vectorises and rounds
            xt = np.ascontiguousarray(np.swapaxes(x, 0, 1))
            x = np.swapaxes(_resize_first_axis(xt, out_shape[1], scales[1], antialias, work), 0, 1)
        else:  # float: transposing the (large) float output would cost more than the strided column kernel
            x = np.ascontiguousarray(x)
            weights, indices = contributions(x.shape[1], out_shape[1], scales[1], antialias)
            y = np.empty((x.shape[0], out_shape[1]) + x.shape[2:], work)
            _pass_cols(x.reshape(x.shape[0], x.shape[1], -1), weights.astype(work, copy=False), indices,
                       y.reshape(x.shape[0], out_shape[1], -1))
            x = y
    if x is img:
        return img.copy()
    return np.ascontiguousarray(x)
