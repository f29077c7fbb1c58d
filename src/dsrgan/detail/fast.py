"""Compiled CPU path of E(I) (numba): fused per-pixel preprocessing, FGS sweeps parallel over lines, float32.

Same numbers as the float64 numpy reference in core.py up to float32 rounding (see tests/test_detail_fast.py).
Compiled functions are cached on disk (cache=True), so the compile cost is paid once per machine.

Layout of the work (2040 x 1356 image, 2 cores; docs/detail.md has the measured table):
- prep:  one pass over the image: luma -> log2(Y+1) -> V -> weights a_h, a_v -> b, rows in parallel blocks;
         log2 is a polynomial on the float32 bit pattern (libm log2f is scalar here: no SVML), exact to ~1 ulp.
- rows:  Thomas per row, several rows interleaved per thread so that the serial divide chains overlap.
- cols:  Thomas over a block of columns at once, so that each step is a contiguous SIMD loop.
- exp:   base**x with a polynomial exp2 on the bit pattern, fused into the last column pass.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from dsrgan.detail.core import _check_image, check_options, lambda_schedule, luma_coefficients

ROW_GROUP = 16  # rows solved together in the horizontal pass (SIMD lanes)
COL_BLOCK = 32  # columns per block in the vertical pass (128 bytes of float32 per row)

_LN2 = np.float32(0.6931471805599453)


@njit(inline="always", cache=True)
def _log2_pos(v):
    """log2 of a positive normal float32, via exponent + atanh series on the mantissa in [sqrt(.5), sqrt(2))."""
    bits = np.float32(v).view(np.int32)
    e = (bits >> 23) - 127
    mbits = (bits & 0x007FFFFF) | 0x3F800000
    m = np.int32(mbits).view(np.float32)
    if m > np.float32(1.4142135):
        m = m * np.float32(0.5)
        e += 1
    s = (m - np.float32(1.0)) / (m + np.float32(1.0))
    s2 = s * s
    # 2/ln2 * atanh(s) = 2/ln2 * (s + s^3/3 + s^5/5 + s^7/7 + s^9/9); |s| <= 0.1716, truncation < 2e-9
    p = np.float32(1.0 / 9.0)
    p = p * s2 + np.float32(1.0 / 7.0)
    p = p * s2 + np.float32(1.0 / 5.0)
    p = p * s2 + np.float32(1.0 / 3.0)
    p = p * s2 + np.float32(1.0)
    return np.float32(e) + np.float32(2.8853900817779268) * s * p


@njit(inline="always", cache=True)
def _exp2(x):
    """2**x for float32 x (clamped to the normal range), round-to-nearest split + degree-6 polynomial."""
    if x > np.float32(127.0):
        x = np.float32(127.0)
    if x < np.float32(-126.0):
        x = np.float32(-126.0)
    n = np.float32(np.floor(x + np.float32(0.5)))
    f = (x - n) * _LN2  # |f| <= ln2/2
    p = np.float32(1.0 / 720.0)
    p = p * f + np.float32(1.0 / 120.0)
    p = p * f + np.float32(1.0 / 24.0)
    p = p * f + np.float32(1.0 / 6.0)
    p = p * f + np.float32(0.5)
    p = p * f + np.float32(1.0)
    p = p * f + np.float32(1.0)
    scale = np.int32((np.int32(n) + 127) << 23).view(np.float32)
    return p * scale


@njit(inline="always", cache=True)
def _pow_abs(v, gamma, g075):
    a = abs(v)
    if g075:  # |v|^0.75 = sqrt(|v|) * sqrt(sqrt(|v|)): two vectorisable square roots instead of exp/log
        r = np.sqrt(a)
        return r * np.sqrt(r)
    if a == np.float32(0.0):
        return np.float32(0.0)
    return _exp2(np.float32(gamma) * _log2_pos(a))


@njit(inline="always", cache=True)
def _luma_row(img, y, out, k0, k1, k2, off):
    """out[x] = log2(max(Y, 0) + 1) with Y = off + k . pixel (k already includes the input's scale).

    img is the H x (W*C) flat view: 2-D indexing with float32 constants vectorises, 3-D indexing did not
    (measured 1.4 ms against 10 ms for the luma of a 2040 x 1356 image on one core).
    """
    w = out.shape[0]
    one = np.float32(1.0)
    off1 = np.float32(off) + one
    if img.shape[1] == 3 * w:
        for x in range(w):
            v = off1 + k0 * np.float32(img[y, 3 * x]) + k1 * np.float32(img[y, 3 * x + 1]) \
                + k2 * np.float32(img[y, 3 * x + 2])
            out[x] = _log2_pos(v if v >= one else one)
    else:
        for x in range(w):
            v = off1 + k0 * np.float32(img[y, x])
            out[x] = _log2_pos(v if v >= one else one)


@njit(parallel=True, cache=True)
def prepare(img, k0, k1, k2, off, alpha, gamma, eps, lam, ah, av, b):
    """Fill a_h, a_v (edge weights, 0 on missing edges) and b = lam (D_h'(a_h V_h) + D_v'(a_v V_v)).

    Rows are split into blocks; each block recomputes the one vertical edge above it, so no pass over a full
    intermediate array is needed.
    """
    h, w = b.shape
    k0f = np.float32(k0)
    k1f = np.float32(k1)
    k2f = np.float32(k2)
    g075 = gamma == 0.75
    s = np.float32(1.0 + alpha)
    epsf = np.float32(eps)
    lamf = np.float32(lam)
    gmf = np.float32(gamma)
    nblocks = min(h, 32)
    for blk in prange(nblocks):
        r0 = blk * h // nblocks
        r1 = (blk + 1) * h // nblocks
        lcur = np.empty(w, np.float32)
        lnext = np.empty(w, np.float32)
        gv_prev = np.zeros(w, np.float32)  # a_v V_v on the edge (y-1, y)
        gv = np.empty(w, np.float32)
        _luma_row(img, r0, lcur, k0f, k1f, k2f, off)
        if r0 > 0:
            _luma_row(img, r0 - 1, lnext, k0f, k1f, k2f, off)
            for x in range(w):
                v = s * (lcur[x] - lnext[x])
                gv_prev[x] = v / (_pow_abs(v, gmf, g075) + epsf)
        for y in range(r0, r1):
            if y + 1 < h:
                _luma_row(img, y + 1, lnext, k0f, k1f, k2f, off)
                for x in range(w):
                    v = s * (lnext[x] - lcur[x])
                    a = np.float32(1.0) / (_pow_abs(v, gmf, g075) + epsf)
                    av[y, x] = a
                    gv[x] = a * v
            else:
                for x in range(w):
                    av[y, x] = np.float32(0.0)
                    gv[x] = np.float32(0.0)
            gh_left = np.float32(0.0)
            for x in range(w - 1):
                v = s * (lcur[x + 1] - lcur[x])
                a = np.float32(1.0) / (_pow_abs(v, gmf, g075) + epsf)
                ah[y, x] = a
                g = a * v
                b[y, x] = lamf * (gh_left - g + gv_prev[x] - gv[x])
                gh_left = g
            ah[y, w - 1] = np.float32(0.0)
            b[y, w - 1] = lamf * (gh_left + gv_prev[w - 1] - gv[w - 1])
            for x in range(w):
                gv_prev[x] = gv[x]
                lcur[x] = lnext[x]


@njit(parallel=True, cache=True)
def rows_pass(x, c, lt):
    """In place: solve (E + lt D'diag(c)D) y = x along every row.

    A single row is a serial chain of dependent divisions (latency-bound), so ROW_GROUP rows are copied into a
    transposed local block and solved together: each elimination step is then one contiguous SIMD loop.
    """
    h, w = x.shape
    ngroups = (h + ROW_GROUP - 1) // ROW_GROUP
    ltf = np.float32(lt)
    for g in prange(ngroups):
        r0 = g * ROW_GROUP
        nr = min(ROW_GROUP, h - r0)
        xt = np.zeros((w, ROW_GROUP), np.float32)
        ct = np.zeros((w, ROW_GROUP), np.float32)
        cp = np.empty((w, ROW_GROUP), np.float32)
        for r in range(nr):
            for k in range(w - 1):
                xt[k, r] = x[r0 + r, k]
                ct[k, r] = ltf * c[r0 + r, k]
            xt[w - 1, r] = x[r0 + r, w - 1]  # ct[w-1] stays 0: no edge after the last pixel
        _sweep(xt, ct, cp, w)
        for r in range(nr):
            for k in range(w):
                x[r0 + r, k] = xt[k, r]


@njit(inline="always", cache=True)
def _sweep(y, c, cp, n):
    """Thomas on n x L blocks: y (right-hand sides, overwritten), c (edge weights, c[n-1] == 0), lanes in axis 1."""
    lanes = y.shape[1]
    for j in range(lanes):
        inv = np.float32(1.0) / (np.float32(1.0) + c[0, j])
        cp[0, j] = -c[0, j] * inv
        y[0, j] = y[0, j] * inv
    for k in range(1, n):
        for j in range(lanes):
            cprev = c[k - 1, j]
            inv = np.float32(1.0) / (np.float32(1.0) + cprev + c[k, j] + cprev * cp[k - 1, j])
            cp[k, j] = -c[k, j] * inv
            y[k, j] = (y[k, j] + cprev * y[k - 1, j]) * inv
    for k in range(n - 2, -1, -1):
        for j in range(lanes):
            y[k, j] -= cp[k, j] * y[k + 1, j]


@njit(parallel=True, cache=True)
def cols_pass(x, c, lt, out, exp_scale):
    """Solve along every column, COL_BLOCK columns at a time (contiguous inner loops).

    out: where the result goes (may be x itself). exp_scale > 0 additionally maps the result to
    2**(exp_scale * x), fusing the final exponent into the last pass.
    """
    h, w = x.shape
    nblocks = (w + COL_BLOCK - 1) // COL_BLOCK
    ltf = np.float32(lt)
    es = np.float32(exp_scale)
    for blk in prange(nblocks):
        j0 = blk * COL_BLOCK
        nb = min(COL_BLOCK, w - j0)
        yb = np.zeros((h, COL_BLOCK), np.float32)
        cb = np.zeros((h, COL_BLOCK), np.float32)
        cp = np.empty((h, COL_BLOCK), np.float32)
        for k in range(h - 1):
            for j in range(nb):
                yb[k, j] = x[k, j0 + j]
                cb[k, j] = ltf * c[k, j0 + j]
        for j in range(nb):
            yb[h - 1, j] = x[h - 1, j0 + j]
        _sweep(yb, cb, cp, h)
        if es > 0:
            for k in range(h):
                for j in range(nb):
                    out[k, j0 + j] = _exp2(es * yb[k, j])
        else:
            for k in range(h):
                for j in range(nb):
                    out[k, j0 + j] = yb[k, j]


def log_detail_numba(image, *, alpha=4.0, lam=1.0, gamma=0.75, eps=2.0, iterations=4, y_mode="bt601_full",
                     base=None) -> np.ndarray:
    """x = log2-domain detail (float32 H x W); with `base` given, base**x instead (I_D, fused exponent)."""
    check_options(alpha, lam, gamma, eps, iterations, 2.0 if base is None else base)
    img, scale = _check_image(image)
    if img.ndim == 2:
        img = img[:, :, None]
    # two compiled variants only (uint8 and float32, C order): every other input is converted once here
    if img.dtype != np.uint8 and img.dtype != np.float32:
        img = (img * np.float32(scale / 255.0)).astype(np.float32) if img.dtype == np.uint16 else \
            img.astype(np.float32)
        scale = 255.0
    img = np.ascontiguousarray(img)
    flat = img.reshape(img.shape[0], -1)  # H x (W*C): see _luma_row
    k0, k1, k2, off = luma_coefficients(y_mode, img.shape[2], scale)
    h, w = img.shape[:2]
    ah = np.empty((h, w), np.float32)
    av = np.empty((h, w), np.float32)
    x = np.empty((h, w), np.float32)
    prepare(flat, k0, k1, k2, off, float(alpha), float(gamma), float(eps), float(lam), ah, av, x)
    sched = lambda_schedule(lam, iterations)
    for t, lt in enumerate(sched):
        rows_pass(x, ah, float(lt))
        final = t == len(sched) - 1 and base is not None
        cols_pass(x, av, float(lt), x, float(np.log2(base)) if final else 0.0)
    return x
