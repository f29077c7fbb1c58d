"""The compiled (numba) path of E(I) against the float64 numpy reference: float32 tolerance."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from synthetic import synthetic_image  # noqa: E402

from dsrgan.detail import extract, fast  # noqa: E402

TOL_X = 1e-5  # float32 path vs float64 reference, absolute in x = log2 I_D (measured <= 1.7e-6)


def ref(img, **kw):
    return extract.log_detail(img, backend="numpy", **kw)


def numba_x(img, **kw):
    return extract.log_detail(img, backend="numba", **kw)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (2, 2), (17, 33), (45, 70)])
def test_matches_reference(shape):
    img = synthetic_image(*shape, seed=5)
    x = numba_x(img)
    assert x.dtype == np.float32 and x.shape == shape
    assert np.abs(x - ref(img)).max() <= TOL_X


def test_row_group_and_column_block_edges():
    # sizes just past multiples of the row and column blocks: partial blocks and partial 8 x 8 tiles are exercised
    img = synthetic_image(fast.ROW_BLOCK * 2 + 1, fast.COL_BLOCK + 5, seed=2)
    assert np.abs(numba_x(img) - ref(img)).max() <= TOL_X


def test_transpose_tile():
    from numba import njit

    @njit
    def tiles(src, dst, si, sj, di, dj):
        fast._transpose8(src, si, sj, dst, di, dj)

    src = np.random.default_rng(0).random((20, 27)).astype(np.float32)
    dst = np.zeros((30, 19), np.float32)
    tiles(src, dst, 3, 19, 21, 11)  # the tile touching the source's last column and the destination's last row
    expect = np.zeros_like(dst)
    expect[21:29, 11:19] = src[3:11, 19:27].T
    assert np.array_equal(dst, expect)


def _weights(rng, shape):
    """Edge weights as prepare leaves them: >= 0, and 0 on the missing last edge of every line."""
    return (rng.random(shape) * 0.5).astype(np.float32)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (31, 8), (33, 17), (fast.ROW_BLOCK, 64), (70, 131)])
def test_row_and_column_passes_match_the_reference_solver(shape):
    from dsrgan.detail import core

    rng = np.random.default_rng(sum(shape))
    h, w = shape
    d = rng.standard_normal(shape).astype(np.float32)
    ah = _weights(rng, shape)
    av = _weights(rng, shape)
    ah[:, -1] = 0
    av[-1, :] = 0
    nblk = -(-h // fast.ROW_BLOCK)
    ahb = np.zeros((nblk, w, fast.ROW_BLOCK), np.float32)  # the per-row-block transposed layout of prepare
    for g in range(nblk):
        rows = ah[g * fast.ROW_BLOCK:(g + 1) * fast.ROW_BLOCK]
        ahb[g, :, :rows.shape[0]] = rows.T
    lt = 0.7
    for nchunks in (1, 3):  # the thread shares must not change a single bit
        x = d.copy()
        for chunk in range(nchunks):
            fast.row_pass(x, ahb, lt, chunk, nchunks)
        expect = core.solve_lines(d, lt * ah.astype(np.float64), axis=1)
        assert np.abs(x - expect).max() <= 1e-5 * max(1.0, np.abs(expect).max())
        if nchunks == 1:
            rows_once = x.copy()
        else:
            assert np.array_equal(x, rows_once)
        y = d.copy()
        for chunk in range(nchunks):
            fast.column_pass(y, av, lt, 0.0, chunk, nchunks)
        expect = core.solve_lines(d, lt * av.astype(np.float64), axis=0)
        assert np.abs(y - expect).max() <= 1e-5 * max(1.0, np.abs(expect).max())
        z = d.copy()
        for chunk in range(nchunks):
            fast.column_pass(z, av, lt, 1.0, chunk, nchunks)  # the fused exponent: 2**y
        assert np.abs(z / np.exp2(y) - 1).max() <= 1e-6


def test_prepare_shares_do_not_change_the_result():
    # prepare's shares are whole row blocks; each recomputes the vertical edge above it and solves its blocks
    from dsrgan.detail.inputs import luma_coefficients

    img = synthetic_image(3 * fast.ROW_BLOCK + 7, 45, seed=11)
    h, w = img.shape[:2]
    k = luma_coefficients("bt601_full", 3, 1.0)
    nblk = -(-h // fast.ROW_BLOCK)
    outs = []
    for nchunks in (1, 3, 5):  # 5 shares of 4 blocks: one share is empty
        ahb = np.zeros((nblk, w, fast.ROW_BLOCK), np.float32)
        av = np.empty((h, w), np.float32)
        x = np.empty((h, w), np.float32)
        for chunk in range(nchunks):
            fast.prepare(img.reshape(h, -1), *k, 4.0, 0.75, 2.0, 1.0, 0.3, ahb, av, x, chunk, nchunks)
        outs.append((ahb, av, x))
    for other in outs[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(outs[0], other, strict=True))


def test_threads_do_not_change_the_result():
    img = synthetic_image(300, 2 * fast.COL_BLOCK + 20, seed=9)  # above SERIAL_PIXELS: two threads where there are
    import numba

    saved = numba.config.NUMBA_NUM_THREADS
    try:
        numba.config.NUMBA_NUM_THREADS = 1
        one = numba_x(img)
    finally:
        numba.config.NUMBA_NUM_THREADS = saved
    assert np.array_equal(numba_x(img), one)
    assert np.abs(one - ref(img)).max() <= TOL_X


def test_constant_is_exactly_one_and_mean_is_zero():
    for shape in ((1, 1), (5, 40), (40, 5)):
        i_d = extract.extract_detail(np.full(shape + (3,), 93, np.uint8), backend="numba")
        assert np.all(i_d == 1.0)
    x = numba_x(synthetic_image(64, 80, seed=1)).astype(np.float64)
    assert abs(x.mean()) < 1e-6 * np.sqrt(np.mean(x * x))


def test_input_kinds_and_options():
    img = synthetic_image(23, 41, seed=4)
    x8 = ref(img)
    f32 = img.astype(np.float32) / 255
    for variant in (f32, img.astype(np.float64) / 255, img.astype(np.uint16) * 257, img[::-1, ::-1][::-1, ::-1]):
        assert np.abs(numba_x(variant) - x8).max() <= TOL_X
    assert np.abs(numba_x(img[:, ::-1])[:, ::-1] - x8).max() <= TOL_X  # strided (non-contiguous) input
    gray = img[..., 0]
    assert np.abs(numba_x(gray) - ref(gray)).max() <= TOL_X
    for kw in ({"y_mode": "bt601_studio"}, {"gamma": 1.2, "eps": 0.5}, {"alpha": 0.0, "lam": 3.0, "iterations": 2}):
        assert np.abs(numba_x(img, **kw) - ref(img, **kw)).max() <= 3 * TOL_X


def test_fused_exponent_and_positivity():
    img = synthetic_image(30, 50, seed=7)
    x = ref(img)
    for base in (2.0, np.e):
        i_d = extract.extract_detail(img, base=base, backend="numba")
        assert np.abs(i_d / base**x - 1).max() <= 3e-5
    checker = (np.indices((20, 37)).sum(0) % 2 * 255).astype(np.uint8)
    i_d = extract.extract_detail(checker, backend="numba")
    assert np.all(np.isfinite(i_d)) and np.all(i_d > 0)
    assert np.abs(np.log2(i_d) - ref(checker)).max() <= 1e-4  # |x| is large here (|V| = 40)


def test_bit_trick_log2_and_exp2():
    from numba import njit

    @njit
    def apply(v):
        out = np.empty((2, v.size), np.float32)
        for i in range(v.size):
            out[0, i] = fast._log2_pos(v[i])
            out[1, i] = fast._exp2(np.float32(np.log2(v[i])))
        return out

    v = np.geomspace(1.0, 1e6, 20001).astype(np.float32)
    out = apply(v)
    exact = np.log2(v.astype(np.float64))
    # within 4 float32 ulps of max(|log2 v|, 0.5): far below the rounding of the float32 pipeline itself
    assert np.all(np.abs(out[0] - exact) <= 4 * np.spacing(np.maximum(np.abs(exact), 0.5).astype(np.float32)))
    assert np.abs(out[1] / v - 1).max() <= 1e-6


def test_bad_input_is_rejected_before_compiled_code():
    from dsrgan.errors import ImageError

    with pytest.raises(ImageError):
        extract.extract_detail(np.full((4, 4, 3), np.nan, np.float32), backend="numba")


def _child_detail(seed):
    return extract.extract_detail(synthetic_image(300, 320, seed=seed))


def test_safe_in_forked_workers_and_threads():
    # DataLoader workers are forked after the parent used the fast path: numba's OpenMP layer would abort them
    import multiprocessing as mp
    import threading

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    parent = [extract.extract_detail(synthetic_image(300, 320, seed=s)) for s in (0, 1)]  # >= 256 x 256: threaded
    with mp.get_context("fork").Pool(2) as pool:
        children = pool.map(_child_detail, [0, 1])
    for a, b in zip(parent, children, strict=True):
        assert np.array_equal(a, b)
    out = [None] * 3
    workers = [threading.Thread(target=lambda i=i: out.__setitem__(i, _child_detail(i % 2))) for i in range(3)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert all(np.array_equal(out[i], parent[i % 2]) for i in range(3))
