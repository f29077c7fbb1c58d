"""Outputs whose size comes from a user's factor are bounded: a factor typo is a one-line ImageTooLargeError (or
ConfigError) before anything is allocated, in imresize / imresize_torch, `--outscale` and degradation settings."""

import numpy as np
import pytest

from dsrgan import options
from dsrgan.errors import ConfigError, ImageTooLargeError


@pytest.mark.parametrize("kw", [dict(scale=100_000), dict(scale=(1, 1e9)), dict(output_shape=(100_000, 100_000)),
                                dict(output_shape=(None, 10**9))])
def test_imresize_refuses_a_huge_output_before_allocating(kw):
    from dsrgan.imaging import imresize

    with pytest.raises(ImageTooLargeError, match="exceeds the limit") as e:
        imresize(np.zeros((2, 3), np.float32), **kw)
    assert "\n" not in str(e.value)


def test_imresize_limit_is_exact_and_can_be_raised():
    from dsrgan.imaging import imresize

    img = np.random.default_rng(0).random((4, 4)).astype(np.float32)
    assert imresize(img, 2, max_pixels=64).shape == (8, 8)  # exactly at the limit
    with pytest.raises(ImageTooLargeError):
        imresize(img, 2, max_pixels=63)
    side = int(np.sqrt(options.MAX_OUTPUT_PIXELS)) + 1  # just past the default: refused, yet planned only
    with pytest.raises(ImageTooLargeError):
        imresize(img, output_shape=(side, side))


def test_imresize_torch_refuses_a_huge_output():
    torch = pytest.importorskip("torch")
    from dsrgan.imaging import imresize_torch

    with pytest.raises(ImageTooLargeError):
        imresize_torch(torch.zeros(1, 3, 2, 2), 100_000)


def test_outscale_beyond_the_output_limit_is_refused_before_the_network_runs(tiny_model_file, monkeypatch):
    from dsrgan import load_model

    up = load_model(tiny_model_file, device="cpu", backend="torch")
    rgb = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    monkeypatch.setattr(options, "MAX_OUTPUT_PIXELS", 1000)
    ran = []
    monkeypatch.setattr(up, "_run_network", lambda *a, **k: ran.append(1))
    # limit: max(1000, the model's own output of the largest admitted input = 64 x 16) = 1024; 16 x 8 x 8 = 16384
    with pytest.raises(ImageTooLargeError, match="outscale 16"):
        up.upscale_array(rgb, outscale=16, max_pixels=64)
    assert not ran
    monkeypatch.undo()
    assert up.upscale_array(rgb, outscale=4, max_pixels=64).shape == (32, 32, 3)  # the x4 output itself


def test_degradation_resize_range_is_bounded():
    from dsrgan.data.degrade_settings import parse_degradation

    with pytest.raises(ConfigError, match="resize_range"):
        parse_degradation({"preset": "realesrgan", "first": {"resize_range": [1.0, 1000.0]}})
    parse_degradation({"preset": "realesrgan", "first": {"resize_range": [0.5, 4.0]}})
