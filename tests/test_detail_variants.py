"""GIF and MSDM (WLS) detail variants against their definitions; network_input / detail_target per variant."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import synthetic_image

from dsrgan.detail import core, priors, smoothers
from dsrgan.errors import DsrganError


def box_mean_bruteforce(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over (2r+1)^2 windows with half-sample-symmetric padding, by explicit sums (independent oracle)."""
    p = np.pad(a, ((r, r), (r, r)), mode="symmetric")
    out = np.zeros_like(a)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            out += p[dy:dy + a.shape[0], dx:dx + a.shape[1]]
    return out / (2 * r + 1) ** 2


def gif_by_definition(i: np.ndarray, r: int, eps: float) -> np.ndarray:
    mu = box_mean_bruteforce(i, r)
    var = box_mean_bruteforce(i * i, r) - mu * mu
    a = var / (var + eps)
    b = mu - a * mu
    return box_mean_bruteforce(a, r) * i + box_mean_bruteforce(b, r)


@pytest.mark.parametrize("shape", [(9, 11), (3, 4), (1, 6)])
def test_gif_matches_box_filter_definition(shape):
    img = synthetic_image(*shape, seed=4)
    d = smoothers.guided_detail(img, dtype=np.float64)
    assert d.shape == shape + (3,)
    i = img / 255.0
    for c in range(3):
        assert np.abs(d[..., c] - (i[..., c] - gif_by_definition(i[..., c], 2, 0.3))).max() <= 1e-12


def test_gif_constant_and_eps_scale():
    assert np.all(smoothers.guided_detail(np.full((6, 7, 3), 0.3)) == 0)
    img = synthetic_image(20, 24, seed=1) / 255.0
    q01 = smoothers.guided_filter_self(img, 2, 0.3)
    q255 = smoothers.guided_filter_self(img * 255, 2, 0.3 * 255**2)  # eps is a variance: scales with range^2
    assert np.abs(q255 / 255 - q01).max() <= 1e-12
    # eps = 0.3 is strong smoothing on [0, 1] data, so the detail is a sizeable part of the image
    assert 0.01 < smoothers.guided_detail(img).std() < 0.2


def test_gif_matches_opencv_when_available():
    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2, "ximgproc"):
        pytest.skip("cv2.ximgproc missing (opencv-contrib not installed)")
    img = (synthetic_image(31, 43, seed=2) / 255.0).astype(np.float32)
    ours = smoothers.guided_filter_self(img.astype(np.float64), 2, 0.3)
    for c in range(3):
        ch = np.ascontiguousarray(img[..., c])
        ref = cv2.ximgproc.guidedFilter(ch, ch, 2, 0.3)
        assert np.abs(ours[..., c] - ref).max() <= 1e-5


def wls_matrix_loops(guide: np.ndarray, lam: float, alpha: float) -> np.ndarray:
    """Dense Farbman matrix E + lam (Dx'AxDx + Dy'AyDy) by explicit loops over edges (independent of the code)."""
    h, w = guide.shape
    lg = np.log(guide + smoothers.LOG_EPS)
    n = h * w
    m = np.eye(n)
    for y in range(h):
        for x in range(w):
            p = y * w + x
            for qy, qx in ((y, x + 1), (y + 1, x)):
                if qy < h and qx < w:
                    q = qy * w + qx
                    wt = lam / (abs(lg[qy, qx] - lg[y, x]) ** alpha + smoothers.WLS_SMALL)
                    m[p, p] += wt
                    m[q, q] += wt
                    m[p, q] -= wt
                    m[q, p] -= wt
    return m


def test_wls_satisfies_its_normal_equation():
    img = synthetic_image(7, 9, seed=3)
    i = img / 255.0
    d = smoothers.wls_detail(img, dtype=np.float64)
    for c in range(3):
        u = i[..., c] - d[..., c]
        m = wls_matrix_loops(i[..., c], 1.0, 1.2)
        assert np.abs(m @ u.ravel() - i[..., c].ravel()).max() <= 1e-8
    # the shared-luma guidance uses one matrix for all channels
    dl = smoothers.wls_detail(img, guidance="luma", dtype=np.float64)
    y = 0.299 * i[..., 0] + 0.587 * i[..., 1] + 0.114 * i[..., 2]
    m = wls_matrix_loops(y, 1.0, 1.2)
    for c in range(3):
        assert np.abs(m @ (i[..., c] - dl[..., c]).ravel() - i[..., c].ravel()).max() <= 1e-8


def test_wls_constant_and_mean():
    assert np.abs(smoothers.wls_detail(np.full((5, 6, 3), 0.6), dtype=np.float64)).max() <= 1e-12
    d = smoothers.wls_detail(synthetic_image(40, 48, seed=6), dtype=np.float64)
    assert abs(d.mean()) < 0.1 * d.std()  # the data term keeps the mean only approximately


def test_system_matrix_matches_loop_construction(rng):
    # core.system_matrix (the exact solver of E) is built with diagonals; check it against explicit loops
    h, w = 4, 5
    ah, av = rng.uniform(0, 1, (h, w)), rng.uniform(0, 1, (h, w))
    ah[:, -1] = 0
    av[-1, :] = 0
    m = np.eye(h * w)
    for y in range(h):
        for x in range(w):
            p = y * w + x
            for q, wt in (((y * w + x + 1), ah[y, x]) if x + 1 < w else (None, 0),
                          (((y + 1) * w + x), av[y, x]) if y + 1 < h else (None, 0)):
                if q is not None:
                    m[p, p] += 2 * wt
                    m[q, q] += 2 * wt
                    m[p, q] -= 2 * wt
                    m[q, p] -= 2 * wt
    assert np.abs(core.system_matrix(ah, av, 2.0).toarray() - m).max() <= 1e-15


def test_network_input_and_target_per_variant():
    img = synthetic_image(16, 20, seed=9)
    x = priors.network_input(img, "dsrgan")
    t = priors.detail_target(img, "dsrgan")
    assert x.shape == t.shape == (16, 20, 1) and x.dtype == t.dtype == np.float32
    assert np.allclose(t, 2.0**x, rtol=1e-5) and abs(x.mean()) < 1e-5
    for v in ("gif", "msdm"):
        a, b = priors.network_input(img, v), priors.detail_target(img, v)
        assert a.shape == (16, 20, 3) and np.array_equal(a, b)
    with pytest.raises(DsrganError, match="unknown detail variant"):
        priors.network_input(img, "bilateral")
    with pytest.raises(DsrganError):
        smoothers.wls_detail(img, guidance="rgb")
