"""Mirrored border context at inference: image borders and tiny images see picture, not the convs' zero padding."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dsrgan.archs import ArchSpec
from dsrgan.inference.tiling import pad_borders
from dsrgan.inference.upscaler import Upscaler

COLOUR = np.array([200, 100, 50], np.float32)
TINY_SHAPES = [(1, 1), (2, 2), (3, 7)]


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), c=st.integers(1, 3), pad=st.integers(0, 9))
def test_pad_borders_mirrors_and_keeps_the_image_in_the_middle(h, w, c, pad):
    a = np.arange(h * w * c, dtype=np.float32).reshape(h, w, c)
    p = pad_borders(a, pad)
    assert p.shape == (h + 2 * pad, w + 2 * pad, c)
    np.testing.assert_array_equal(p[pad:pad + h, pad:pad + w], a)
    if pad == 0:
        return
    # mirrored with the edge pixel repeated (as MATLAB extends an image), periodically with period 2n on each axis
    def source(i, n):
        k = (i - pad) % (2 * n)
        return k if k < n else 2 * n - 1 - k

    rows = [source(i, h) for i in range(h + 2 * pad)]
    cols = [source(j, w) for j in range(w + 2 * pad)]
    np.testing.assert_array_equal(p, a[rows][:, cols])
    if pad <= h:
        np.testing.assert_array_equal(p[pad - 1], p[pad])  # the edge row appears twice


class BlurNearest(torch.nn.Module):
    """Oracle stand-in: a 5x5 box blur with zero padding (as every conv of the real networks pads), then nearest
    x4. On a flat image it returns the colour exactly, except where the zero padding reaches in."""

    def forward(self, lr):
        k = torch.full((lr.shape[1], 1, 5, 5), 1 / 25, dtype=lr.dtype)
        x = torch.nn.functional.conv2d(lr, k, padding=2, groups=lr.shape[1])
        return torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest")


@pytest.mark.parametrize("shape", TINY_SHAPES + [(9, 11)])
def test_flat_images_keep_their_colour_through_zero_padded_convs(shape):
    img = np.broadcast_to(COLOUR / 255, (*shape, 3)).copy()
    spec = ArchSpec("rrdbnet", {}, name="blur")
    padded = Upscaler(BlurNearest(), spec, device="cpu", threads=1, pad=2).upscale_array(img)
    assert padded.shape == (4 * shape[0], 4 * shape[1], 3)
    np.testing.assert_allclose(padded, np.broadcast_to(COLOUR / 255, padded.shape), atol=1e-6)
    # without the context the borders go dark: the test can fail
    bare = Upscaler(BlurNearest(), spec, device="cpu", threads=1, pad=0).upscale_array(img)
    assert (COLOUR / 255 - bare.reshape(-1, 3).mean(0)).max() > 0.1


def test_padding_composes_with_tiling(rng):
    """Tiles run over the mirrored image: tiled == untiled for a blur whose support is inside the overlap, and
    untiled == the whole-image oracle (mirror, blur, nearest, crop)."""
    spec = ArchSpec("rrdbnet", {}, name="blur")
    up = Upscaler(BlurNearest(), spec, device="cpu", threads=1, pad=3)
    img = rng.random((37, 45, 3), dtype=np.float32)
    whole = up.upscale_array(img, tile=0)
    tiled = up.upscale_array(img, tile=24, tile_overlap=10)
    assert up.last_stats["tiles"] > 4
    np.testing.assert_allclose(tiled, whole, atol=1e-4)  # the blend's floor weight (1e-4) at tile edges
    ref = BlurNearest()(torch.from_numpy(pad_borders(img, 3).transpose(2, 0, 1).copy())[None])
    ref = ref[0].permute(1, 2, 0).numpy()[12:12 + 4 * 37, 12:12 + 4 * 45]
    np.testing.assert_allclose(whole, np.clip(ref, 0, 1), atol=1e-5)


def test_pad_is_validated():
    from dsrgan.errors import DsrganError

    with pytest.raises(DsrganError, match="pad"):
        Upscaler(BlurNearest(), ArchSpec("rrdbnet", {}), device="cpu", pad=-1)


# --- the bundled models ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundled():
    import dsrgan

    return {name: dsrgan.load_model(name, device="cpu", threads=1) for name in ("default", "dsrgan-lite-x4-psnr")}


def _mean_colour(up, shape) -> np.ndarray:
    return up.upscale_array(np.broadcast_to(COLOUR / 255, (*shape, 3)).copy()).reshape(-1, 3).mean(0) * 255


@pytest.mark.parametrize("name", ["default", "dsrgan-lite-x4-psnr"])
def test_tiny_inputs_come_out_as_the_middle_of_a_large_flat_image(bundled, name):
    """Border handling alone: a 1x1, 2x2 or 3x7 flat input gives what the network gives inside a large flat area
    of the same colour (whatever colour shift the weights themselves have)."""
    up = bundled[name]
    big = up.upscale_array(np.broadcast_to(COLOUR / 255, (40, 40, 3)).copy())[60:100, 60:100]
    field = big.reshape(-1, 3).mean(0) * 255
    for shape in TINY_SHAPES:
        assert np.abs(_mean_colour(up, shape) - field).max() < 2.0, shape


@pytest.mark.parametrize("shape", TINY_SHAPES)
def test_psnr_model_keeps_tiny_image_colours(bundled, shape):
    assert np.abs(_mean_colour(bundled["dsrgan-lite-x4-psnr"], shape) - COLOUR).max() <= 8.0


# Colours the psnr model v2 shifted by up to 85 levels (dark blue) before its fine-tune with flat colour patches.
PURE_COLOURS = [(0, 0, 128), (0, 0, 255), (255, 0, 0), (0, 255, 0), (0, 0, 0), (255, 255, 255), (128, 128, 128)]


@pytest.mark.parametrize("colour", PURE_COLOURS)
def test_psnr_model_keeps_flat_pure_colours(bundled, colour):
    up = bundled["dsrgan-lite-x4-psnr"]
    rgb = np.array(colour, np.float32)
    for shape in TINY_SHAPES:
        out = up.upscale_array(np.broadcast_to(rgb / 255, (*shape, 3)).copy()).reshape(-1, 3).mean(0) * 255
        assert np.abs(out - rgb).max() <= 8.0, shape


@pytest.mark.parametrize("shape", TINY_SHAPES)
def test_default_model_keeps_tiny_image_colours(bundled, shape):
    assert np.abs(_mean_colour(bundled["default"], shape) - COLOUR).max() <= 8.0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["default", "dsrgan-lite-x4-psnr"])
def test_set5_borders_are_as_good_as_the_interior(bundled, set5_dir, name):
    """Outermost two output rows and columns: mean absolute error within 25% of the interior's (the ratio averaged
    over Set5; single images vary with their content: bicubic itself has 0.65 on baby and 1.26 on bird)."""
    from PIL import Image

    from dsrgan.imaging import imresize, to_uint8

    up = bundled[name]
    ratios = []
    for path in sorted((set5_dir / "HR").glob("*.png")):
        hr = np.asarray(Image.open(path).convert("RGB"))
        hr = hr[:hr.shape[0] // 4 * 4, :hr.shape[1] // 4 * 4]
        sr = to_uint8(up.upscale_array(imresize(hr, 0.25).astype(np.float32) / 255))
        err = np.abs(sr.astype(np.float64) - hr).mean(axis=2)
        band = np.zeros(err.shape, bool)
        band[:2], band[-2:], band[:, :2], band[:, -2:] = True, True, True, True
        ratios.append(err[band].mean() / err[~band].mean())
    assert len(ratios) == 5 and 0.75 <= np.mean(ratios) <= 1.25, ratios
