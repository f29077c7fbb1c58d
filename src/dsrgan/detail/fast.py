"""Compiled CPU path of E(I) (numba): fused per-pixel preprocessing, FGS sweeps parallel over lines, float32.

Same numbers as the float64 numpy reference in core.py up to float32 rounding (see tests/test_detail_fast.py).
Compiled functions are cached on disk (cache=True), so the compile cost is paid once per machine. The kernels
release the GIL and are run on row/column shares from plain threads (see run_parallel for why not prange).

Layout of the work (2040 x 1356 image, 2 cores; docs/detail.md has the measured table):
- prep:   one pass over the image: luma -> log2(Y+1) -> V -> weights a_h, a_v -> b, rows in parallel blocks,
          each block then solved along its rows (the first horizontal pass) while it is still cached;
          log2 is a polynomial on the float32 bit pattern (libm log2f is scalar here: no SVML), within 4 ulp.
- sweeps: Thomas over a block of 64 lines at once, so that each elimination step is a contiguous SIMD loop
          across lines. Everything stays in the image's own row-major layout and every pass works in place:
          the vertical pass steps down the rows of a block of columns; the horizontal pass moves a block of
          rows through a small tile 8 columns at a time with 8 x 8 shuffle transposes, its weights being
          stored per row block already transposed. (Passes that wrote their result transposed into another
          array spent half their time on those scattered stores.)
- exp:    base**x with a polynomial exp2 on the bit pattern, fused into the last pass.
"""

from __future__ import annotations

import threading

import numba
import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic

from dsrgan.detail.core import lambda_schedule
from dsrgan.detail.inputs import check_image, check_options, luma_coefficients
from dsrgan.utils.machine import usable_cores

ROW_BLOCK = 32  # rows solved together by row_pass (SIMD lanes; a multiple of 8, see _transpose8)
COL_BLOCK = 128  # columns solved together by column_pass
PREFETCH_ROWS = 16  # how far ahead a sweep asks for its input rows (8, 16 and 32 measured: 16 best)
# error_model="numpy" everywhere: with numba's default ("python") every division checks for zero and no loop
# with a division is vectorised (measured: scalar vdivss only); our divisors are all >= 1 or > eps

_LN2 = np.float32(0.6931471805599453)


@intrinsic
def _prefetch(typingctx, ary, i, j):
    """Ask the CPU to start loading ary[i, j] into the cache (llvm.prefetch: read, keep; never faults).

    A sweep steps down rows that lie a page or more apart (W or H floats), which the hardware prefetchers do
    not follow; without this hint every row step waits for memory (measured: the sweeps 20% slower)."""
    sig = types.void(ary, i, j)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        arr = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, arr, [args[1], args[2]], wraparound=False)
        i8p = ir.PointerType(ir.IntType(8))
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


# shuffle masks of the 8 x 8 transpose: each picks 8 of the 16 lanes of two <8 x float> vectors
_UNPACK_LO = [0, 8, 1, 9, 4, 12, 5, 13]  # interleave elements 0, 1 of each 128-bit half (unpcklps)
_UNPACK_HI = [2, 10, 3, 11, 6, 14, 7, 15]  # elements 2, 3 (unpckhps)
_PAIRS_LO = [0, 1, 8, 9, 4, 5, 12, 13]  # pairs 0 of each half (shufps)
_PAIRS_HI = [2, 3, 10, 11, 6, 7, 14, 15]  # pairs 1
_HALVES_LO = [0, 1, 2, 3, 8, 9, 10, 11]  # the low 128-bit halves of both (vperm2f128)
_HALVES_HI = [4, 5, 6, 7, 12, 13, 14, 15]


def _is_c_float32_matrix(ty) -> bool:
    return isinstance(ty, types.Array) and ty.ndim == 2 and ty.dtype == types.float32 and ty.layout == "C"


@intrinsic
def _transpose8(typingctx, src, si, sj, dst, di, dj):
    """dst[di + c, dj + r] = src[si + r, sj + c] for r, c < 8: an 8 x 8 float32 tile in 8 vector loads, 24
    shuffles and 8 vector stores (numba has no shuffles; element by element a transpose costs an address
    computation and a scalar store per value).

    No bounds checks: the caller guarantees that the whole tile lies inside both arrays (C-contiguous float32
    matrices; anything else does not compile)."""
    if not (_is_c_float32_matrix(src) and _is_c_float32_matrix(dst)):
        return None
    sig = types.void(src, si, sj, dst, di, dj)

    def codegen(context, builder, signature, args):
        sty, dty = signature.args[0], signature.args[3]
        sarr = context.make_array(sty)(context, builder, args[0])
        darr = context.make_array(dty)(context, builder, args[3])
        vptr = ir.PointerType(ir.VectorType(ir.FloatType(), 8))
        si_, sj_, di_, dj_ = (context.cast(builder, args[n], signature.args[n], types.intp) for n in (1, 2, 4, 5))

        def row(ty, arr, i, j, r):
            idx = [builder.add(i, ir.Constant(i.type, r)), j]
            return builder.bitcast(cgutils.get_item_pointer(context, builder, ty, arr, idx, wraparound=False), vptr)

        def shuf(a, b, mask):
            return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(ir.IntType(32), 8), mask))

        rows = [builder.load(row(sty, sarr, si_, sj_, r), align=4) for r in range(8)]
        lo = [shuf(rows[r], rows[r + 1], _UNPACK_LO) for r in range(0, 8, 2)]
        hi = [shuf(rows[r], rows[r + 1], _UNPACK_HI) for r in range(0, 8, 2)]
        # quad[h][c]: column c (and c + 4 in the upper half) of rows 4h .. 4h+3
        quad = [[shuf(lo[q], lo[q + 1], _PAIRS_LO), shuf(lo[q], lo[q + 1], _PAIRS_HI),
                 shuf(hi[q], hi[q + 1], _PAIRS_LO), shuf(hi[q], hi[q + 1], _PAIRS_HI)] for q in (0, 2)]
        for c in range(4):
            builder.store(shuf(quad[0][c], quad[1][c], _HALVES_LO), row(dty, darr, di_, dj_, c), align=4)
            builder.store(shuf(quad[0][c], quad[1][c], _HALVES_HI), row(dty, darr, di_, dj_, c + 4), align=4)
        return context.get_dummy_value()

    return sig, codegen


@njit(inline="always", cache=True, error_model="numpy")
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


@njit(inline="always", cache=True, error_model="numpy")
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


@njit(inline="always", cache=True, error_model="numpy")
def _pow_abs(v, gamma, g075):
    a = abs(v)
    if g075:  # |v|^0.75 = sqrt(|v|) * sqrt(sqrt(|v|)): two vectorisable square roots instead of exp/log
        r = np.sqrt(a)
        return r * np.sqrt(r)
    if a == np.float32(0.0):
        return np.float32(0.0)
    return _exp2(np.float32(gamma) * _log2_pos(a))


@njit(inline="always", cache=True, error_model="numpy")
def _edges(l0, l1, s, gamma, g075, eps, a_out, g_out, off):
    """a_out[x] = 1/(|V|^gamma + eps) and g_out[x + off] = a V for V = s (l1[x] - l0[x]), x < len(a_out).

    The gamma == 0.75 test sits outside the loop: with it inside, the loop was not vectorised."""
    n = a_out.shape[0]
    one = np.float32(1.0)
    if g075:
        for x in range(n):
            v = s * (l1[x] - l0[x])
            r = np.sqrt(abs(v))
            a = one / (r * np.sqrt(r) + eps)
            a_out[x] = a
            g_out[x + off] = a * v
    else:
        for x in range(n):
            v = s * (l1[x] - l0[x])
            a = one / (_pow_abs(v, gamma, False) + eps)
            a_out[x] = a
            g_out[x + off] = a * v


@njit(inline="always", cache=True, error_model="numpy")
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
            out[x] = off1 + k0 * np.float32(img[y, 3 * x]) + k1 * np.float32(img[y, 3 * x + 1]) \
                + k2 * np.float32(img[y, 3 * x + 2])
    else:
        for x in range(w):
            out[x] = off1 + k0 * np.float32(img[y, x])
    for x in range(w):  # a loop of its own: the log2 vectorises here, not next to the stride-3 loads
        v = out[x]
        out[x] = _log2_pos(v if v >= one else one)


@njit(nogil=True, cache=True, error_model="numpy")
def prepare(img, k0, k1, k2, off, alpha, gamma, eps, lam, lt, ahb, av, out, chunk, nchunks):
    """Fill the edge weights and the right-hand side b = lam (D_h'(a_h V_h) + D_v'(a_v V_v)), then apply the
    first horizontal solve (weight lt) to b: out = (E + lt D'diag(a_h)D)^-1 b, H x W.

    a_v is H x W; a_h goes to ahb, by blocks of ROW_BLOCK rows, transposed: ahb[g, k, i] is the weight of the
    edge (k, k+1) on row g * ROW_BLOCK + i (the layout row_pass streams). Weights are 0 on the missing
    last-column / last-row edges. Each row block is solved as soon as it is complete, while its b and a_h are
    still cached (this saves the first row_pass a trip through memory). The row blocks are split into
    `nchunks` shares and this call does share `chunk` (one per thread, see run_parallel); each share
    recomputes the one vertical edge above it, so no other image-sized array is written. Every inner loop is
    a plain SIMD loop except the transposes.
    """
    h, w = av.shape
    k0f = np.float32(k0)
    k1f = np.float32(k1)
    k2f = np.float32(k2)
    g075 = gamma == 0.75
    s = np.float32(1.0 + alpha)
    epsf = np.float32(eps)
    lamf = np.float32(lam)
    gmf = np.float32(gamma)
    zero = np.float32(0.0)
    nblk = ahb.shape[0]
    r0 = (chunk * nblk // nchunks) * ROW_BLOCK
    r1 = min(h, ((chunk + 1) * nblk // nchunks) * ROW_BLOCK)
    if r0 >= r1:
        return
    ltf = np.float32(lt)
    cp, yb, pc, pcp, py = _sweep_buffers(w, ROW_BLOCK)
    tile = np.empty((8, ROW_BLOCK), np.float32)
    lcur = np.empty(w, np.float32)
    lnext = np.empty(w, np.float32)
    gv_prev = np.zeros(w, np.float32)  # a_v V_v on the edge (y-1, y)
    gv = np.empty(w, np.float32)
    gh = np.empty(w + 1, np.float32)  # gh[x+1] = a_h V_h on the edge (x, x+1); gh[0] = gh[w] = 0
    abuf = np.empty((ROW_BLOCK, w), np.float32)  # a_h of the rows of one row block, until it is transposed out
    gh[0] = zero
    gh[w] = zero
    w8 = w - w % 8
    _luma_row(img, r0, lcur, k0f, k1f, k2f, off)
    if r0 > 0:
        _luma_row(img, r0 - 1, lnext, k0f, k1f, k2f, off)
        _edges(lnext, lcur, s, gmf, g075, epsf, gv, gv_prev, 0)  # gv is scratch here
    for y in range(r0, r1):
        avrow = av[y]
        if y + 1 < h:
            _luma_row(img, y + 1, lnext, k0f, k1f, k2f, off)
            _edges(lcur, lnext, s, gmf, g075, epsf, avrow, gv, 0)
        else:
            for x in range(w):
                avrow[x] = zero
                gv[x] = zero
        i = y % ROW_BLOCK
        arow = abuf[i]
        brow = out[y]
        _edges(lcur[:w - 1], lcur[1:], s, gmf, g075, epsf, arow[:w - 1], gh, 1)
        arow[w - 1] = zero
        for x in range(w):
            brow[x] = lamf * (gh[x] - gh[x + 1] + gv_prev[x] - gv[x])
        if i == ROW_BLOCK - 1 or y == r1 - 1:  # a row block is complete: a_h out transposed, then solve it
            blk = ahb[y // ROW_BLOCK]
            if i == ROW_BLOCK - 1:
                for x in range(0, w8, 8):
                    for r in range(0, ROW_BLOCK, 8):
                        _transpose8(abuf, r, x, blk, x, r)
                for x in range(w8, w):
                    for r in range(ROW_BLOCK):
                        blk[x, r] = abuf[r, x]
            else:  # the image's last block, short
                for x in range(w):
                    for r in range(i + 1):
                        blk[x, r] = abuf[r, x]
            _solve_row_block(out, blk, y - i, ltf, cp, yb, tile, pc, pcp, py)
        for x in range(w):
            gv_prev[x] = gv[x]
            lcur[x] = lnext[x]


@njit(inline="always", cache=True, error_model="numpy")
def _eliminate(sk, ck_row, ltf, cpk, ybk, pc, pcp, py, n):
    """One forward step of the Thomas algorithm on n lanes: pc, pcp, py carry the previous step's weight,
    elimination coefficient and value (all 0 before the first step, which makes the first step the plain
    1 / (1 + c) one). Carried in small per-lane arrays rather than read back from the previous row: LLVM
    cannot prove two rows of one array distinct and would not vectorise."""
    one = np.float32(1.0)
    for j in range(n):
        cprev = pc[j]
        ck = ltf * ck_row[j]
        inv = one / (one + cprev + ck + cprev * pcp[j])
        t = -ck * inv
        v = (sk[j] + cprev * py[j]) * inv
        cpk[j] = t
        ybk[j] = v
        pcp[j] = t
        py[j] = v
        pc[j] = ck


@njit(inline="always", cache=True, error_model="numpy")
def _substitute(ybk, cpk, py, out, n):
    """One back-substitution step on n lanes: y[k] = yb[k] - cp[k] y[k+1], with py holding y[k+1] (then y[k])."""
    for j in range(n):
        v = ybk[j] - cpk[j] * py[j]
        py[j] = v
        out[j] = v


@njit(inline="always", cache=True, error_model="numpy")
def _sweep_buffers(n, lanes):
    """(cp, yb, pc, pcp, py): elimination coefficients and values of n steps, and the carried previous step.
    Allocated once per kernel call (per thread): large fresh allocations cost page faults."""
    z = np.float32(0.0)
    return (np.empty((n, lanes), np.float32), np.empty((n, lanes), np.float32), np.full(lanes, z),
            np.full(lanes, z), np.full(lanes, z))


@njit(inline="always", cache=True, error_model="numpy")
def _restart(pc, pcp, py):
    """Before the first step of new lines: no previous step (see _eliminate)."""
    for j in range(pc.shape[0]):
        pc[j] = np.float32(0.0)
        pcp[j] = np.float32(0.0)
        py[j] = np.float32(0.0)


@njit(inline="always", cache=True, error_model="numpy")
def _solve_row_block(x, wts, r0, ltf, cp, yb, tile, pc, pcp, py):
    """Solve (E + lt D'diag(a_h)D) y = x along rows r0 .. r0 + ROW_BLOCK - 1 of x (fewer at the bottom), in place.

    Every elimination step is one contiguous SIMD loop across the block's rows: 8 columns at a time go
    through a small tile with 8 x 8 shuffle transposes on the way in (forward elimination) and on the way back
    (back substitution, in place). wts[k, i] is the weight of the edge (k, k+1) on row r0 + i (see prepare);
    it is 0 on the last column and on rows past the image, whose lanes therefore stay 0.
    """
    h, w = x.shape
    nr = min(ROW_BLOCK, h - r0)
    zero = np.float32(0.0)
    _restart(pc, pcp, py)
    for k0 in range(0, w, 8):
        nk = min(8, w - k0)
        if nr == ROW_BLOCK and nk == 8:
            if k0 % 16 == 0 and k0 + 64 < w:  # ROW_BLOCK streams a page apart: ask for their lines early
                for r in range(ROW_BLOCK):
                    _prefetch(x, r0 + r, k0 + 64)
            for r in range(0, ROW_BLOCK, 8):
                _transpose8(x, r0 + r, k0, tile, 0, r)
        else:
            for kk in range(nk):
                for r in range(nr):
                    tile[kk, r] = x[r0 + r, k0 + kk]
                for r in range(nr, ROW_BLOCK):
                    tile[kk, r] = zero
        for kk in range(nk):
            k = k0 + kk
            _eliminate(tile[kk], wts[k], ltf, cp[k], yb[k], pc, pcp, py, ROW_BLOCK)
    # back substitution, 8 columns at a time from the right; py holds the last column's value
    for k0 in range(((w - 1) // 8) * 8, -1, -8):
        nk = min(8, w - k0)
        for kk in range(nk - 1, -1, -1):
            k = k0 + kk
            trow = tile[kk]
            if k == w - 1:
                for j in range(ROW_BLOCK):
                    trow[j] = py[j]
            else:
                _substitute(yb[k], cp[k], py, trow, ROW_BLOCK)
        if nr == ROW_BLOCK and nk == 8:
            for r in range(0, ROW_BLOCK, 8):
                _transpose8(tile, 0, r, x, r0 + r, k0)
        else:
            for kk in range(nk):
                for r in range(nr):
                    x[r0 + r, k0 + kk] = tile[kk, r]


@njit(nogil=True, cache=True, error_model="numpy")
def row_pass(x, ahb, lt, chunk, nchunks):
    """Solve (E + lt D'diag(a_h)D) y = x along every row of the H x W array x, in place.

    Rows are taken ROW_BLOCK at a time (see _solve_row_block), with the weights from ahb (see prepare),
    contiguous per block. This call does the `chunk`-th of `nchunks` equal shares of the row blocks (one per
    thread, see run_parallel).
    """
    w = x.shape[1]
    nblk = ahb.shape[0]
    ltf = np.float32(lt)
    cp, yb, pc, pcp, py = _sweep_buffers(w, ROW_BLOCK)
    tile = np.empty((8, ROW_BLOCK), np.float32)
    for g in range(chunk * nblk // nchunks, (chunk + 1) * nblk // nchunks):
        _solve_row_block(x, ahb[g], g * ROW_BLOCK, ltf, cp, yb, tile, pc, pcp, py)


@njit(nogil=True, cache=True, error_model="numpy")
def column_pass(x, av, lt, exp_scale, chunk, nchunks):
    """Solve (E + lt D'diag(a_v)D) y = x along every column of the H x W array x, in place.

    Columns are taken COL_BLOCK at a time, so every elimination step is one contiguous SIMD loop across them;
    the back substitution writes straight back into x (row k of x was consumed by the forward sweep).
    exp_scale > 0 maps the result to 2**(exp_scale * y) (the final exponent, fused). a_v is 0 on the last row
    (no edge below it). This call does the `chunk`-th of `nchunks` equal shares of the column blocks.
    """
    p, q = x.shape
    nblocks = (q + COL_BLOCK - 1) // COL_BLOCK
    ltf = np.float32(lt)
    es = np.float32(exp_scale)
    cp, yb, pc, pcp, py = _sweep_buffers(p, COL_BLOCK)
    for blk in range(chunk * nblocks // nchunks, (chunk + 1) * nblocks // nchunks):
        j0 = blk * COL_BLOCK
        nb = min(COL_BLOCK, q - j0)
        _restart(pc, pcp, py)
        for k in range(p):
            if k + PREFETCH_ROWS < p:  # one hint per 64-byte line of the rows needed PREFETCH_ROWS later
                for jj in range(0, nb, 16):
                    _prefetch(x, k + PREFETCH_ROWS, j0 + jj)
                    _prefetch(av, k + PREFETCH_ROWS, j0 + jj)
            # 1-D row slices: with x[k, j0 + j] numba's negative-index wraparound on j0 + j made LLVM load
            # lane by lane (vinsertps) instead of one vector load
            _eliminate(x[k, j0:j0 + nb], av[k, j0:j0 + nb], ltf, cp[k], yb[k], pc, pcp, py, nb)
        last = x[p - 1, j0:j0 + nb]
        for j in range(nb):
            last[j] = _exp2(es * py[j]) if es > 0 else py[j]
        if es > 0:  # the test outside the loops, which then stay plain SIMD loops
            for k in range(p - 2, -1, -1):
                xr = x[k, j0:j0 + nb]
                ybk = yb[k]
                cpk = cp[k]
                for j in range(nb):
                    v = ybk[j] - cpk[j] * py[j]
                    py[j] = v
                    xr[j] = _exp2(es * v)
        else:
            for k in range(p - 2, -1, -1):
                _substitute(yb[k], cp[k], py, x[k, j0:j0 + nb], nb)


@njit(nogil=True, cache=True, error_model="numpy")
def solve_serial(img, k0, k1, k2, off, alpha, gamma, eps, lam, sched, exp_scale, ahb, av, x):
    """All of E in one compiled call on one thread: prepare, then the remaining passes of the schedule.

    For small images (training patches), where calling 2T kernels one by one from Python costs more than
    a 32 x 32 image's arithmetic."""
    prepare(img, k0, k1, k2, off, alpha, gamma, eps, lam, sched[0], ahb, av, x, 0, 1)
    n = sched.shape[0]
    for t in range(n):
        if t > 0:
            row_pass(x, ahb, sched[t], 0, 1)
        column_pass(x, av, sched[t], exp_scale if t == n - 1 else 0.0, 0, 1)


SERIAL_PIXELS = 1 << 16  # below this (256 x 256) one thread: thread start-up would cost more than it saves


def thread_count(h: int, w: int) -> int:
    """Threads E uses on an H x W image: 1 below SERIAL_PIXELS, else the usable cores (capped by numba's)."""
    if h * w < SERIAL_PIXELS:
        return 1
    cores = usable_cores()
    # numba.config, not numba.get_num_threads(): the latter starts numba's threading layer (OpenMP)
    return max(1, min(numba.config.NUMBA_NUM_THREADS, cores))


def run_parallel(kernel, args, nchunks: int) -> None:
    """Run kernel(*args, chunk, nchunks) for every chunk, in plain threads (the kernels release the GIL).

    Not numba's prange: its OpenMP layer aborts a forked child (DataLoader workers) once the parent has used
    it, and its workqueue layer is not thread-safe. Plain threads are neither a fork nor a thread problem.
    """
    if nchunks == 1:
        kernel(*args, 0, 1)
        return
    threads = [threading.Thread(target=kernel, args=(*args, i, nchunks)) for i in range(1, nchunks)]
    for t in threads:
        t.start()
    try:
        kernel(*args, 0, nchunks)
    finally:
        for t in threads:
            t.join()


def log_detail_numba(image, *, alpha=4.0, lam=1.0, gamma=0.75, eps=2.0, iterations=4, y_mode="bt601_full",
                     base=None) -> np.ndarray:
    """x = log2-domain detail (float32 H x W); with `base` given, base**x instead (I_D, fused exponent)."""
    check_options(alpha, lam, gamma, eps, iterations, 2.0 if base is None else base)
    img, scale = check_image(image)
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
    threads = thread_count(h, w)
    nblk = (h + ROW_BLOCK - 1) // ROW_BLOCK
    av = np.empty((h, w), np.float32)
    x = np.empty((h, w), np.float32)  # b, then the solution in place, then (with base) I_D
    ahb = np.empty((nblk, w, ROW_BLOCK), np.float32)  # horizontal weights per row block, transposed: see prepare
    if h % ROW_BLOCK:
        ahb[-1, :, h % ROW_BLOCK:] = 0.0  # lanes past the last row: no weights, so they stay 0 in row_pass
    sched = lambda_schedule(lam, iterations)
    exp_scale = float(np.log2(base)) if base is not None else 0.0
    opts = (float(alpha), float(gamma), float(eps), float(lam))
    if threads == 1:
        solve_serial(flat, k0, k1, k2, off, *opts, sched, exp_scale, ahb, av, x)
        return x
    run_parallel(prepare, (flat, k0, k1, k2, off, *opts, float(sched[0]), ahb, av, x), min(threads, nblk))
    n_h = max(1, min(threads, nblk))
    n_v = max(1, min(threads, (w + COL_BLOCK - 1) // COL_BLOCK))
    for t, lt in enumerate(sched):
        if t > 0:  # the first horizontal solve is fused into prepare
            run_parallel(row_pass, (x, ahb, float(lt)), n_h)
        run_parallel(column_pass, (x, av, float(lt), exp_scale if t == len(sched) - 1 else 0.0), n_v)
    return x
