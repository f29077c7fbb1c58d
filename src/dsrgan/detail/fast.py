"""Compiled CPU path of E(I) (numba): fused per-pixel preprocessing, FGS sweeps parallel over lines, float32.

Same numbers as the float64 numpy reference in core.py up to float32 rounding (see tests/test_detail_fast.py).
Compiled functions are cached on disk (cache=True), so the compile cost is paid once per machine. The kernels
release the GIL and are run on row/column shares from plain threads (see run_parallel for why not prange).

Layout of the work (2040 x 1356 image, 2 cores; docs/detail.md has the measured table):
- prep:   one pass over the image: luma -> log2(Y+1) -> V -> weights a_h, a_v -> b, rows in parallel blocks;
          log2 is a polynomial on the float32 bit pattern (libm log2f is scalar here: no SVML), within 4 ulp.
- sweeps: Thomas over a block of 64 lines at once, so that each elimination step is a contiguous SIMD loop
          across lines. Each pass writes its result transposed, so the next pass (the other direction) again
          sweeps down axis 0: horizontal and vertical passes are the same kernel and no transpose is separate.
          Input rows are prefetched explicitly (they lie a page apart) and the transposed write goes tile by
          tile through L1.
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

BLOCK = 64  # lines solved together in a sweep (SIMD lanes; 256 bytes of float32 per step; 32 and 128 were slower)
PREP_ROWS = 64  # rows whose a_h and b are written out transposed together (256 bytes per column; 32: slower)
TILE = 64  # rows of a sweep's result transposed at a time: a TILE x BLOCK tile (16 KB) stays in L1
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
            v = off1 + k0 * np.float32(img[y, 3 * x]) + k1 * np.float32(img[y, 3 * x + 1]) \
                + k2 * np.float32(img[y, 3 * x + 2])
            out[x] = _log2_pos(v if v >= one else one)
    else:
        for x in range(w):
            v = off1 + k0 * np.float32(img[y, x])
            out[x] = _log2_pos(v if v >= one else one)


@njit(nogil=True, cache=True, error_model="numpy")
def prepare(img, k0, k1, k2, off, alpha, gamma, eps, lam, aht, av, bt, chunk, nchunks):
    """Fill the edge weights and the right-hand side b = lam (D_h'(a_h V_h) + D_v'(a_v V_v)).

    a_h and b are written transposed (W x H: the horizontal sweeps run down the columns of that layout, see
    sweep_pass), a_v as is (H x W); weights are 0 on the missing last-column / last-row edges. Rows are split
    into `nchunks` blocks and this call does block `chunk` (one per thread, see run_parallel); each block
    recomputes the one vertical edge above it, so no other image-sized array is written. Every inner loop is a
    plain SIMD loop except the transposed stores.
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
    for blk in range(chunk, chunk + 1):
        r0 = blk * h // nchunks
        r1 = (blk + 1) * h // nchunks
        if r0 >= r1:
            continue
        lcur = np.empty(w, np.float32)
        lnext = np.empty(w, np.float32)
        gv_prev = np.zeros(w, np.float32)  # a_v V_v on the edge (y-1, y)
        gv = np.empty(w, np.float32)
        gh = np.empty(w + 1, np.float32)  # gh[x+1] = a_h V_h on the edge (x, x+1); gh[0] = gh[w] = 0
        abuf = np.empty((PREP_ROWS, w), np.float32)  # a_h and b of up to PREP_ROWS rows, stored transposed
        bbuf = np.empty((PREP_ROWS, w), np.float32)
        gh[0] = zero
        gh[w] = zero
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
            r = (y - r0) % PREP_ROWS
            arow = abuf[r]
            brow = bbuf[r]
            _edges(lcur[:w - 1], lcur[1:], s, gmf, g075, epsf, arow[:w - 1], gh, 1)
            arow[w - 1] = zero
            for x in range(w):
                brow[x] = lamf * (gh[x] - gh[x + 1] + gv_prev[x] - gv[x])
            if r == PREP_ROWS - 1 or y == r1 - 1:  # write the block of rows out transposed, 128 bytes per column
                ys = y - r
                n = r + 1
                for x in range(w):
                    arow_t = aht[x, ys:ys + n]  # row slices: no negative-index wraparound per element
                    brow_t = bt[x, ys:ys + n]
                    for i in range(n):
                        arow_t[i] = abuf[i, x]
                        brow_t[i] = bbuf[i, x]
            for x in range(w):
                gv_prev[x] = gv[x]
                lcur[x] = lnext[x]


@njit(nogil=True, cache=True, error_model="numpy")
def sweep_pass(src, c, lt, dst, transpose, exp_scale, chunk, nchunks):
    """Solve (E + lt D'diag(c)D) y = src along axis 0 of the P x Q array src, for every column at once.

    Columns are taken BLOCK at a time, so every elimination step is one contiguous SIMD loop across columns
    (a single line alone is a serial chain of divisions). The previous step's values are carried in small
    per-lane arrays rather than read back from the row above: LLVM cannot prove two rows of one array
    distinct and would not vectorise. The result goes to dst: as is (P x Q; dst may be src), or transposed
    (Q x P) when `transpose` is set, which puts the next sweep direction on axis 0: horizontal and vertical
    passes alternate layouts and never need a separate transpose. exp_scale > 0 maps the result to
    2**(exp_scale * y) (the final exponent, fused). c[P-1] is ignored (no edge after the last pixel).
    This call does the `chunk`-th of `nchunks` equal shares of the blocks (one per thread, see run_parallel).
    """
    p, q = src.shape
    nblocks = (q + BLOCK - 1) // BLOCK
    ltf = np.float32(lt)
    es = np.float32(exp_scale)
    one = np.float32(1.0)
    for ch in range(chunk, chunk + 1):
        b0 = ch * nblocks // nchunks
        b1 = (ch + 1) * nblocks // nchunks
        cp = np.empty((p, BLOCK), np.float32)  # work buffers once per call: large fresh allocations
        yb = np.empty((p, BLOCK), np.float32)  # cost page faults
        py = np.empty(BLOCK, np.float32)
        pcp = np.empty(BLOCK, np.float32)
        pc = np.empty(BLOCK, np.float32)
        for blk in range(b0, b1):
            j0 = blk * BLOCK
            nb = min(BLOCK, q - j0)
            # 1-D row slices: with src[k, j0 + j] numba's negative-index wraparound on j0 + j made LLVM load
            # lane by lane (vinsertps) instead of one vector load
            s0 = src[0, j0:j0 + nb]
            c0row = c[0, j0:j0 + nb]
            for j in range(nb):
                c0 = ltf * c0row[j] if p > 1 else np.float32(0.0)
                inv = one / (one + c0)
                t = -c0 * inv
                v = s0[j] * inv
                cp[0, j] = t
                yb[0, j] = v
                pcp[j] = t
                py[j] = v
                pc[j] = c0
            for k in range(1, p):
                last = k == p - 1
                if k + PREFETCH_ROWS < p:  # one hint per 64-byte line of the rows needed PREFETCH_ROWS later
                    for jj in range(0, nb, 16):
                        _prefetch(src, k + PREFETCH_ROWS, j0 + jj)
                        _prefetch(c, k + PREFETCH_ROWS, j0 + jj)
                sk = src[k, j0:j0 + nb]
                ckrow = c[k, j0:j0 + nb]
                for j in range(nb):
                    cprev = pc[j]
                    ck = np.float32(0.0) if last else ltf * ckrow[j]
                    inv = one / (one + cprev + ck + cprev * pcp[j])
                    t = -ck * inv
                    v = (sk[j] + cprev * py[j]) * inv
                    cp[k, j] = t
                    yb[k, j] = v
                    pcp[j] = t
                    py[j] = v
                    pc[j] = ck
            if transpose and es == 0:
                # back substitution written straight into the transposed destination: the 64 destination
                # lines being filled stay in L1, and yb is neither written back nor read again
                for j in range(nb):
                    dst[j0 + j, p - 1] = py[j]
                for k in range(p - 2, -1, -1):
                    for j in range(nb):
                        py[j] = yb[k, j] - cp[k, j] * py[j]
                    for j in range(nb):
                        dst[j0 + j, k] = py[j]
                continue
            for k in range(p - 2, -1, -1):  # back substitution; py holds the row below
                for j in range(nb):
                    v = yb[k, j] - cp[k, j] * py[j]
                    py[j] = v
                    yb[k, j] = v
            if es > 0:
                for k in range(p):
                    for j in range(nb):
                        yb[k, j] = _exp2(es * yb[k, j])
            if transpose:  # tile by tile: reading yb down a column across all p rows missed L1 at every row
                for k0 in range(0, p, TILE):
                    k1 = min(p, k0 + TILE)
                    for j in range(nb):
                        drow = dst[j0 + j]
                        for k in range(k0, k1):
                            drow[k] = yb[k, j]
            else:
                for k in range(p):
                    drow = dst[k, j0:j0 + nb]
                    for j in range(nb):
                        drow[j] = yb[k, j]


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
    av = np.empty((h, w), np.float32)
    x = np.empty((h, w), np.float32)
    threads = thread_count(h, w)
    aht = np.empty((w, h), np.float32)  # horizontal weights and b, transposed: see sweep_pass
    xt = np.empty((w, h), np.float32)
    run_parallel(prepare, (flat, k0, k1, k2, off, float(alpha), float(gamma), float(eps), float(lam), aht, av, xt),
              max(1, min(threads, h)))
    sched = lambda_schedule(lam, iterations)
    n_h = max(1, min(threads, (h + BLOCK - 1) // BLOCK))
    n_v = max(1, min(threads, (w + BLOCK - 1) // BLOCK))
    exp_scale = float(np.log2(base)) if base is not None else 0.0
    for t, lt in enumerate(sched):
        run_parallel(sweep_pass, (xt, aht, float(lt), x, True, 0.0), n_h)  # rows of the image: W x H -> H x W
        if t == len(sched) - 1:
            run_parallel(sweep_pass, (x, av, float(lt), x, False, exp_scale), n_v)  # in place, exponent fused
        else:
            run_parallel(sweep_pass, (x, av, float(lt), xt, True, 0.0), n_v)  # columns: H x W -> W x H
    return x
