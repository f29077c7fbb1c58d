"""Colour conversions: MATLAB rgb2ycbcr Y and im2uint8 rounding, BT.601 full-range luma."""

from __future__ import annotations

import numpy as np
import pytest

from dsrgan.imaging import rgb_to_luma, rgb_to_y_matlab, to_uint8


def test_to_uint8_rounds_half_away_and_saturates():
    x = np.array([-0.5, 0.0, 0.5 / 255, 1.5 / 255, 2.5 / 255, 0.49999 / 255, 254.5 / 255, 1.0, 1.7, np.nan])
    # 0.5, 1.5, 2.5 go up (numpy's round would give 0, 2, 2)
    np.testing.assert_array_equal(to_uint8(x), [0, 0, 1, 2, 3, 0, 255, 255, 255, 0])
    assert to_uint8(np.zeros((2, 3, 3), np.float32)).dtype == np.uint8
    with pytest.raises(TypeError):
        to_uint8(np.zeros(3, np.int64))


def test_y_matlab_known_values():
    # Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, rounded half away from zero.
    rgb = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 64, 32]]], np.uint8)
    want = [16, 235, 81, 145, 41, 16 + (65.481 * 128 + 128.553 * 64 + 24.966 * 32) / 255]
    want[-1] = int(np.floor(want[-1] + 0.5))
    np.testing.assert_array_equal(rgb_to_y_matlab(rgb)[0], want)
    assert rgb_to_y_matlab(rgb).dtype == np.uint8


def test_y_matlab_uses_matlabs_double_arithmetic():
    # 65.481*5 + 128.553*65 + 24.966*25 = 9307.5 exactly, so Y = 52.5 in exact arithmetic; MATLAB's
    # T = (1/255)*origT in doubles gives 52.49999999999999, which rounds to 52 (rgb2ycbcr.m + imlincomb).
    assert rgb_to_y_matlab(np.array([[[5, 65, 25]]], np.uint8))[0, 0] == 52


def test_y_matlab_against_float_formula(rng):
    rgb = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    got = rgb_to_y_matlab(rgb).astype(np.float64)
    assert np.abs(got - y).max() <= 0.5 + 1e-9
    # grayscale input is R = G = B
    np.testing.assert_array_equal(rgb_to_y_matlab(rgb[..., 0]), rgb_to_y_matlab(np.repeat(rgb[..., :1], 3, 2)))


def test_luma_full_range_no_wrap():
    rgb = np.array([[[255, 255, 255], [10, 20, 30]]], np.uint8)
    y = rgb_to_luma(rgb)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y[0], [255.0, 0.299 * 10 + 0.587 * 20 + 0.114 * 30], rtol=1e-12)
    assert rgb_to_luma(rgb)[0, 0] + 1 == 256.0  # widened: adding 1 never wraps
