"""NIQE building blocks against independent oracles, and the documented edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from scipy.stats import gennorm

from dsrgan.errors import DsrganError
from dsrgan.metrics import niqe_live as nq


def test_gaussian_window_equals_the_one_stored_with_the_live_parameters():
    with np.load(nq.PARAMS_FILE) as d:
        stored = d["gaussian_window"]
    g = nq._gauss7()
    np.testing.assert_allclose(np.outer(g, g), stored, rtol=0, atol=1e-15)


def test_pristine_params_shapes():
    mu, cov = nq.pristine_params()
    assert mu.shape == (36,) and cov.shape == (36, 36)
    np.testing.assert_allclose(cov, cov.T, atol=1e-12)


@pytest.mark.parametrize("shape", [0.8, 1.0, 2.0, 3.5])
def test_aggd_fit_recovers_generalised_gaussian_shape_and_scale(shape):
    # gennorm pdf ~ exp(-|x/s|^shape): the AGGD fit should give alpha = shape and beta_l = beta_r = s.
    x = gennorm.rvs(shape, scale=0.7, size=(1, 200_000), random_state=np.random.default_rng(3))
    alpha, bl, br = nq.aggd_fit(x)
    assert alpha[0] == pytest.approx(shape, rel=0.04)
    assert bl[0] == pytest.approx(0.7, rel=0.03) and br[0] == pytest.approx(0.7, rel=0.03)


def _photo_like(rng, h, w):
    z = gaussian_filter(rng.normal(size=(h, w)), 2.0)
    img = np.clip(128 + 90 * z / z.std() + rng.normal(0, 3, (h, w)), 0, 255).round()
    img[: h // 3, : w // 2] = 255.0  # a saturated, exactly flat area
    return img


def test_niqe_is_stable_against_round_off_in_flat_areas(rng):
    img = _photo_like(rng, 192, 288)
    base = nq.niqe(img)
    for _ in range(3):
        assert nq.niqe(img + rng.normal(0, 1e-9, img.shape)) == pytest.approx(base, abs=1e-3)


def test_niqe_rises_with_noise(rng):
    img = _photo_like(rng, 192, 192)
    noisy = np.clip(img + rng.normal(0, 25, img.shape), 0, 255).round()
    assert nq.niqe(noisy) > nq.niqe(img) + 1


def test_zero_blocks_is_an_error_naming_the_size():
    with pytest.raises(nq.NiqeUndefinedError, match="95x300") as e:
        nq.niqe(np.zeros((300, 95), np.uint8))
    assert isinstance(e.value, DsrganError)


def test_one_block_follows_matlab_vector_rule(rng):
    img = _photo_like(rng, 100, 120)  # cropped to one 96x96 block
    f = nq.niqe_features(img)
    assert f.shape == (1, 36)
    mu_p, cov_p = nq.pristine_params()
    # MATLAB: nanmean / nancov of a 1x36 row are the scalar mean / variance of its 36 values
    d = mu_p - f[0].mean()
    a = (cov_p + f[0].var(ddof=1)) / 2
    want = np.sqrt(d @ np.linalg.pinv(a, rcond=36 * np.finfo(float).eps) @ d)
    assert nq.niqe(img) == pytest.approx(want, rel=1e-12)
    assert np.isfinite(want)


def test_block_features_match_per_block_loop(rng):
    s = rng.normal(size=(96, 192))
    got = nq.block_features(s, 48, 48)
    assert got.shape == (8, 18)
    blk = s[48:96, 0:48]  # second block in row-major order of (block row, block col): (1, 0) is index 4
    a, bl, br = nq.aggd_fit(blk.reshape(1, -1))
    assert got[4, 0] == a[0] and got[4, 1] == pytest.approx((bl[0] + br[0]) / 2)
    pair = blk * np.roll(blk, (-1, 1), axis=(0, 1))  # the 4th circshift of computefeature.m, inside the block
    a, bl, br = nq.aggd_fit(pair.reshape(1, -1))
    assert got[4, 14] == a[0] and got[4, 16] == pytest.approx(bl[0]) and got[4, 17] == pytest.approx(br[0])
