"""PSNR / SSIM: MATLAB rounding, ssim.m's downsampling window, and the SSIM filter against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from scipy.signal import correlate2d

from dsrgan.errors import DsrganError
from dsrgan.metrics import fidelity as fm


def test_matlab_round_goes_away_from_zero_at_halves():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4999, -0.4999])
    np.testing.assert_array_equal(fm.matlab_round(x), [-3, -2, -1, 1, 2, 3, 2, -0])
    assert np.round(2.5) == 2  # the numpy behaviour the helper exists to avoid


@pytest.mark.parametrize(("side", "f"), [(100, 1), (383, 1), (384, 2), (639, 2), (640, 3), (895, 3), (896, 4),
                                         (1024, 4)])
def test_wang2009_factor_uses_matlab_round(side, f):
    # 640/256 = 2.5: MATLAB round gives 3 where Python's round gives 2.
    assert fm.wang2009_factor(side, side + 7) == f
    assert fm.wang2009_factor(side + 7, side) == f


def _mirror(i: int, n: int) -> int:
    """MATLAB 'symmetric' padding index (0-based): ... 1 0 | 0 1 ... n-1 | n-1 n-2 ..."""
    while i < 0 or i >= n:
        i = -i - 1 if i < 0 else 2 * n - 1 - i
    return i


def _downsample_brute(img: np.ndarray, f: int) -> np.ndarray:
    """imfilter(img, ones(f)/f^2, 'symmetric', 'same'); img(1:f:end, 1:f:end), written out literally."""
    h, w = img.shape
    c = (f + 1) // 2  # MATLAB's kernel centre, 1-based
    rows, cols = range(0, h, f), range(0, w, f)
    out = np.zeros((len(rows), len(cols)))
    for oi, i in enumerate(rows):
        for oj, j in enumerate(cols):
            s = 0.0
            for k in range(1, f + 1):
                for m in range(1, f + 1):
                    s += img[_mirror(i + k - c, h), _mirror(j + m - c, w)] / (f * f)
            out[oi, oj] = s
    return out


@pytest.mark.parametrize("f", [2, 3, 4, 5])
def test_wang2009_downsample_window_offsets_match_matlab_imfilter(rng, f):
    img = rng.integers(0, 256, size=(13, 18)).astype(np.float64)
    got = fm.wang2009_downsample(img, f)
    np.testing.assert_allclose(got, _downsample_brute(img, f), rtol=0, atol=1e-12)
    if f >= 3:  # and it is not avg-pool: the windows are shifted by c - 1 pixels
        pooled = img[: (13 // f) * f, : (18 // f) * f].reshape(13 // f, f, 18 // f, f).mean(axis=(1, 3))
        assert not np.allclose(got[: pooled.shape[0], : pooled.shape[1]], pooled)


def test_ssim_map_equals_2d_valid_correlation_with_fspecial_window(rng):
    a = rng.integers(0, 256, size=(31, 40)).astype(np.float64)
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255).round()
    x = np.arange(-5, 6)
    win = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 1.5**2))
    win /= win.sum()

    def filt(z):
        return correlate2d(z, win, mode="valid")

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu1, mu2 = filt(a), filt(b)
    s1, s2, s12 = filt(a * a) - mu1**2, filt(b * b) - mu2**2, filt(a * b) - mu1 * mu2
    want = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2))
    got = fm.ssim_index_map(a, b)
    assert got.shape == (21, 30)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


def _smooth(rng, shape):
    z = gaussian_filter(rng.normal(size=shape), 3.0)
    return np.clip(128 + 60 * z / z.std(), 0, 255).astype(np.uint8)


def _noisy(rng, y, amp):
    return np.clip(y.astype(int) + rng.integers(-amp, amp + 1, y.shape), 0, 255).astype(np.uint8)


def test_ssim_is_one_for_identical_and_lower_for_noisy(rng):
    y = _smooth(rng, (60, 70))
    noisy = _noisy(rng, y, 30)
    assert fm.ssim(y, y) == pytest.approx(1.0, abs=1e-12)
    assert fm.ssim_wang2009(y, y) == pytest.approx(1.0, abs=1e-12)
    assert fm.ssim(noisy, y) < 0.9


def test_ssim_wang2009_equals_ssim_index_on_downsampled_planes(rng):
    # 400 px after shaving -> f = 2: ssim.m is ssim_index on the 2x box-filtered, subsampled planes.
    y1 = _smooth(rng, (408, 420))
    y2 = _noisy(rng, y1, 20)
    a, b = y1[4:-4, 4:-4].astype(float), y2[4:-4, 4:-4].astype(float)
    want = fm.ssim_planes(_downsample_brute(a, 2), _downsample_brute(b, 2))
    assert fm.ssim_wang2009(y1, y2) == pytest.approx(want, abs=1e-12)
    assert fm.ssim_wang2009(y1, y2) != pytest.approx(fm.ssim(y1, y2), abs=1e-3)


def test_psnr_on_y_planes_with_known_mse():
    hr = np.full((20, 20), 100, np.uint8)
    sr = hr.copy()
    sr[4:-4, 4:-4][::2] += 10  # inside the shaved area: half of the 12x12 pixels off by 10 -> MSE 50
    assert fm.psnr_y(sr, hr, shave=4) == pytest.approx(10 * np.log10(255**2 / 50), abs=1e-12)
    sr[0, 0] = 0  # in the shaved border: no effect
    assert fm.psnr_y(sr, hr, shave=4) == pytest.approx(10 * np.log10(255**2 / 50), abs=1e-12)
    assert fm.psnr_y(hr, hr) == float("inf")


def test_rgb2gray_matches_matlab_documented_coefficients(rng):
    rgb = rng.integers(0, 256, size=(50, 50, 3), dtype=np.uint8)
    # MATLAB's rgb2gray documentation: 0.298936021293775 R + 0.587043074451121 G + 0.114020904255103 B
    g = rgb.astype(float) @ np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])
    np.testing.assert_array_equal(fm.rgb2gray_matlab(rgb), np.floor(g + 0.5).astype(np.uint8))


def test_bad_inputs_raise_dsrgan_errors():
    y = np.zeros((30, 30), np.uint8)
    with pytest.raises(DsrganError, match="sizes differ"):
        fm.psnr_y(y, np.zeros((30, 31), np.uint8))
    with pytest.raises(DsrganError, match="too small"):
        fm.psnr_y(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), shave=4)
    with pytest.raises(DsrganError, match="at least 11x11"):
        fm.ssim(np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint8), shave=4)
    with pytest.raises(DsrganError, match="dtype"):
        fm.psnr_y(y.astype(np.int32), y)


def test_rgb_input_uses_matlab_rgb2ycbcr_y_rounded_half_away(rng):
    rgb = rng.integers(0, 256, size=(40, 40, 3)).astype(np.int64)
    # exact rational Y * 255000 = 16 * 255000 + 65481 R + 128553 G + 24966 B; round half away in integers
    num = 4_080_000 + 65_481 * rgb[..., 0] + 128_553 * rgb[..., 1] + 24_966 * rgb[..., 2]
    want = (2 * num + 255_000) // 510_000
    exact_half = num % 255_000 == 127_500  # where float round-off, not the rounding rule, decides
    got = fm.to_y(rgb.astype(np.uint8))
    np.testing.assert_array_equal(got[~exact_half], want[~exact_half])


def test_float_sr_is_quantised_like_a_saved_png(rng):
    from dsrgan.imaging import to_uint8

    hr = rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
    sr = np.clip(hr / 255.0 + rng.normal(0, 0.02, hr.shape), 0, 1).astype(np.float32)
    assert fm.psnr_y(sr, hr) == fm.psnr_y(to_uint8(sr), hr)
    assert fm.ssim_wang2009(sr, hr) == fm.ssim_wang2009(to_uint8(sr), hr)
