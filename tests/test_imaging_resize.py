"""MATLAB-compatible bicubic imresize: invariants, a scalar reference, MATLAB's own output, published numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from dsrgan.imaging import imresize, rgb_to_y_matlab
from dsrgan.imaging.resize import contributions, resize_plan


# --- an independent scalar transcription of MATLAB's definition (slow; for small images only) ----------------
def _keys(t: float) -> float:
    a = abs(t)
    if a <= 1:
        return 1.5 * a**3 - 2.5 * a**2 + 1
    if a <= 2:
        return -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2
    return 0.0


def _reflect(j: int, n: int) -> int:
    """1-based index j folded into 1..n with the edge pixel repeated (MATLAB 'symmetric')."""
    while j < 1 or j > n:
        j = 1 - j if j < 1 else 2 * n + 1 - j
    return j


def _ref_weights(n: int, out_len: int, scale: float) -> list[list[tuple[int, float]]]:
    width = 4 / scale if scale < 1 else 4.0
    rows = []
    for x in range(1, out_len + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        taps = []
        for k in range(math.ceil(width) + 2):
            j = left + k
            w = scale * _keys(scale * (u - j)) if scale < 1 else _keys(u - j)
            taps.append((_reflect(j, n), w))
        total = sum(w for _, w in taps)
        rows.append([(j, w / total) for j, w in taps])
    return rows


def _ref_resize_1d(a: np.ndarray, out_len: int, scale: float, axis: int, integer: bool) -> np.ndarray:
    a = np.moveaxis(a.astype(np.float64), axis, 0)
    out = np.zeros((out_len,) + a.shape[1:])
    for i, taps in enumerate(_ref_weights(a.shape[0], out_len, scale)):
        for j, w in taps:
            out[i] += w * a[j - 1]
    if integer:
        out = np.clip(np.floor(out + 0.5), 0, 255)
    return np.moveaxis(out, 0, axis)


def _ref_imresize(a: np.ndarray, out_shape, scales) -> np.ndarray:
    integer = a.dtype == np.uint8
    order = (0, 1) if scales[0] <= scales[1] else (1, 0)
    x = a
    for dim in order:
        x = _ref_resize_1d(x, out_shape[dim], scales[dim], dim, integer)
    return x.astype(np.uint8) if integer else x


# --- invariants -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,out,scale", [(100, 25, 0.25), (7, 28, 4.0), (13, 5, 5 / 13), (3, 1, 1 / 3), (9, 20, 20 / 9),
                                         (5, 1, 0.2), (2, 9, 4.5)])
def test_kernel_weights_sum_to_one(n, out, scale):
    w, idx = contributions(n, out, scale)
    assert w.shape == idx.shape and w.shape[0] == out
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    assert idx.min() >= 0 and idx.max() < n


@pytest.mark.parametrize("kw", [dict(scale=0.25), dict(scale=4), dict(scale=0.37), dict(output_shape=(11, 40))])
def test_constant_image_stays_constant(kw):
    for value in (0, 1, 137, 255):
        img = np.full((29, 31, 3), value, np.uint8)
        out = imresize(img, **kw)
        assert out.dtype == np.uint8 and (out == value).all()
    f = np.full((29, 31), 0.3141, np.float64)
    np.testing.assert_allclose(imresize(f, **kw), 0.3141, rtol=0, atol=1e-14)


def test_ramp_downscale_by_4_by_hand():
    # Horizontal ramp v[c] = c (0-based), 24 columns -> 6. With scale 1/4 every output pixel samples the input
    # at u = 4x - 1.5 (1-based), a half-integer, so the normalised antialiased weights are symmetric about u and
    # an interior output is exactly the mean of its 4-pixel block: 1.5, 5.5, 9.5, ...
    ramp = np.tile(np.arange(24, dtype=np.float64), (8, 1))
    out = imresize(ramp, 0.25)
    assert out.shape == (2, 6)
    np.testing.assert_allclose(out[:, 2:4], [[9.5, 13.5]] * 2, atol=1e-12)  # taps stay inside [0, 23]
    # Border outputs: the 18 taps reach past the edge and fold back (index 0 -> v 0, -1 -> v 1, ...). The folded
    # taps sit in the kernel's negative lobe, so the first output drops below its block mean 1.5. Value from the
    # formula, tap by tap.
    u, taps = 2.5, []
    for j in range(-6, 12):  # floor(u - 8) .. + 17, 1-based
        w = 0.25 * _keys(0.25 * (u - j))
        taps.append((w, (-j if j <= 0 else j - 1)))
    first = sum(w * v for w, v in taps) / sum(w for w, _ in taps)
    assert 1.3 < first < 1.45
    np.testing.assert_allclose(out[0, 0], first, atol=1e-12)
    np.testing.assert_allclose(out[0, 5], 23 - first, atol=1e-12)  # mirror symmetry of the whole problem
    # uint8 input: the same values rounded half away from zero
    out8 = imresize((ramp * 10).astype(np.uint8), 0.25)
    np.testing.assert_array_equal(out8[0, 2:4], [95, 135])


@pytest.mark.parametrize("shape,kw", [
    ((13, 17, 3), dict(scale=0.25)),
    ((13, 17, 3), dict(scale=3)),
    ((13, 17), dict(output_shape=(5, 40))),   # rows shrink, columns grow: rows first
    ((21, 9, 2), dict(output_shape=(30, 4))),  # columns shrink more: columns first
    ((6, 8, 3), dict(scale=(0.7, 1.6))),
    ((4, 5), dict(scale=0.2)),                 # kernel wider than the image: repeated folding
])
def test_matches_scalar_reference(shape, kw, rng):
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    out_shape, scales = resize_plan(shape[:2], kw.get("scale"), kw.get("output_shape"))
    np.testing.assert_array_equal(imresize(img, **kw), _ref_imresize(img, out_shape, scales))
    f = img / 255.0
    np.testing.assert_allclose(imresize(f, **kw), _ref_imresize(f, out_shape, scales), rtol=0, atol=1e-12)


def test_float_not_clipped_uint8_saturated():
    step = np.zeros((8, 16), np.float64)
    step[:, 8:] = 1.0
    up = imresize(step, 4)
    assert up.min() < -0.01 and up.max() > 1.01  # cubic overshoot is kept for float input
    up8 = imresize((step * 255).astype(np.uint8), 4)
    assert up8.min() == 0 and up8.max() == 255


def test_shapes_dtypes_and_errors():
    assert imresize(np.zeros((10, 7, 3), np.float32), 0.5).dtype == np.float32
    assert imresize(np.zeros((10, 7, 1), np.uint8), 0.5).shape == (5, 4, 1)
    assert imresize(np.zeros((10, 7), np.uint16), output_shape=(None, 14)).shape == (20, 14)
    img = np.arange(30, dtype=np.float64).reshape(5, 6)
    np.testing.assert_array_equal(imresize(img, 1), img)
    with pytest.raises(ValueError):
        imresize(img)
    with pytest.raises(ValueError):
        imresize(img, 0)
    with pytest.raises(TypeError):
        imresize(img.astype(np.int32), 2)


# --- MATLAB's own output ------------------------------------------------------------------------------------
def test_matches_matlab_exactly(shared_data):
    d = shared_data / "matlab-imresize"
    if not d.exists():
        pytest.skip(f"shared data not available: {d} is missing")
    src = np.asarray(Image.open(d / "lena_512x512.png").convert("RGB"))
    want_u8 = np.asarray(Image.open(d / "lena_123x234_uint8.png").convert("RGB"))
    want_dbl = np.asarray(Image.open(d / "lena_123x234_double.png").convert("RGB"))
    got_u8 = imresize(src, output_shape=(123, 234))
    assert np.abs(got_u8.astype(int) - want_u8).max() == 0
    got_dbl = imresize(src / 255.0, output_shape=(123, 234))
    quantised = np.clip(np.floor(got_dbl * 255 + 0.5), 0, 255)  # what MATLAB's imwrite does to double
    assert np.abs(quantised - want_dbl).max() == 0


# --- the shared benchmark LR files and the published Bicubic PSNR -------------------------------------------
def _hr_images(folder):
    files = sorted((folder / "HR").glob("*.png"))
    assert files, f"no HR images in {folder}"
    return [(p.stem, np.asarray(Image.open(p))) for p in files]


@pytest.mark.parametrize("dataset", ["set5_dir", "set14_dir"])
def test_close_to_shared_lr_files(dataset, request):
    folder = request.getfixturevalue(dataset)
    for name, hr in _hr_images(folder):
        lr = imresize(hr, 0.25)
        ref = np.asarray(Image.open(folder / "LR_bicubic" / "X4" / f"{name}x4.png"))
        assert lr.shape == ref.shape, name
        mad = np.abs(lr.astype(np.float64) - ref).mean()
        assert mad < 0.2, f"{name}: mean |ours - shared LR| = {mad:.3f} grey levels"


def test_set5_bicubic_psnr_matches_published(set5_dir):
    psnrs = []
    for _, hr in _hr_images(set5_dir):
        sr = imresize(imresize(hr, 0.25), 4)
        ys = [rgb_to_y_matlab(a)[4:-4, 4:-4].astype(np.float64) for a in (sr, hr)]
        psnrs.append(10 * np.log10(255.0**2 / np.mean((ys[0] - ys[1]) ** 2)))
    assert len(psnrs) == 5
    assert abs(np.mean(psnrs) - 28.42) <= 0.02, f"mean Y-PSNR {np.mean(psnrs):.4f} dB"
