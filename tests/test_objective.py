"""The objective of eq. (19): which terms each config trains with, their weights, what each term compares, where
gradients flow, the RaGAN formulas against an independent NumPy computation, and fp32 detail terms under bf16."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dsrgan.losses.terms import DetailGan, DetailPixel, Gan, Perceptual, Pixel
from dsrgan.train.config import load_config
from dsrgan.train.objective import Objective

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FULL = {"pix", "per", "gan", "detail_pix", "detail_gan"}


class ToyD(nn.Module):
    """A small discriminator: conv, then the mean per sample (one logit each)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, 2, 3, padding=1)

    def forward(self, x):
        return self.conv(x).mean(dim=(1, 2, 3)).unsqueeze(1)


def np_ragan(real: np.ndarray, fake: np.ndarray) -> tuple[float, float]:
    """(L_D, L_G) of the relativistic average GAN, written from the formulas (ESRGAN eqs. 1-2) in float64."""
    sig = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    d_rf = sig(real - fake.mean())
    d_fr = sig(fake - real.mean())
    l_d = -0.5 * (np.log(d_rf).mean() + np.log(1 - d_fr).mean())
    l_g = -0.5 * (np.log(1 - d_rf).mean() + np.log(d_fr).mean())
    return float(l_d), float(l_g)


@pytest.fixture
def tensors():
    g = torch.Generator().manual_seed(3)
    sr, hr = torch.rand(4, 3, 16, 16, generator=g), torch.rand(4, 3, 16, 16, generator=g)
    dsr, dhr = torch.rand(4, 1, 16, 16, generator=g) + 0.5, torch.rand(4, 1, 16, 16, generator=g) + 0.5
    return sr, hr, dsr, dhr


def objective(terms, detail_channels=1):
    torch.manual_seed(0)
    ds = {t.discriminator: ToyD(3 if t.domain == "image" else detail_channels) for t in terms if t.adversarial}
    return Objective(terms, discriminators=ds), ds


class FakePerceptual(nn.Module):
    """Stands in for the VGG loss (whose ImageNet weights a test machine may lack): L2 of 2x2 averages."""

    def forward(self, sr, hr):
        pool = nn.functional.avg_pool2d
        return ((pool(sr, 2) - pool(hr, 2)) ** 2).mean()


@pytest.fixture
def fake_vgg(monkeypatch):
    monkeypatch.setattr(Perceptual, "build", lambda self: FakePerceptual())


@pytest.mark.parametrize("config, stage_terms, d_terms", [
    ("psnr_x4", {"pix"}, set()),
    ("lite_dsrgan_psnr", {"pix"}, set()),
    ("dsrgan_x4", FULL, {"d_img", "d_detail"}),
    ("ablation_no1", {"pix", "per", "gan"}, {"d_img"}),
    ("ablation_no2", {"pix", "per", "gan", "detail_pix"}, {"d_img"}),
    ("ablation_no3", FULL, {"d_img", "d_detail"}),
    ("ablation_no4", FULL, {"d_img", "d_detail"}),
    ("dsrgan_gif_x4", FULL, {"d_img", "d_detail"}),
    ("dsrgan_msdm_x4", FULL, {"d_img", "d_detail"}),
    # the bundled lite models also hold block colours (not in the paper; the paper configs above must not)
    ("lite_dsrgan_gan", FULL | {"col"}, {"d_img", "d_detail"}),
    ("lite_esrgan_gan", {"pix", "per", "gan", "col"}, {"d_img"}),
])
def test_each_config_trains_with_the_terms_of_its_table_row(config, stage_terms, d_terms, fake_vgg):
    from dsrgan.train import build

    cfg = load_config(CONFIGS / f"{config}.yaml", ["data.hr_patch=32", "model.discriminator_params={num_feat: 4}"])
    nets = build.networks(cfg)
    assert {t.key for t in nets.objective.terms} == stage_terms
    assert {f"d_{k}" for k in nets.discriminators} == d_terms
    weights = {t.key: t.weight for t in nets.objective.terms}
    if cfg.train.stage == "gan":  # Sec. IV-B2
        paper = {"pix": 0.2, "per": 1.0, "gan": 0.005, "detail_pix": 0.5, "detail_gan": 0.005, "col": 2.0}
        assert weights == {k: paper[k] for k in stage_terms}
        assert all(t.d_weight == 1.0 for t in nets.objective.terms if t.adversarial)
        if "d_detail" in d_terms:
            assert nets.discriminators["detail"].conv0_0.in_channels == nets.spec.detail_channels
    else:
        assert weights == {"pix": 1.0}


def test_every_term_compares_the_right_tensors_with_its_weight(tensors, fake_vgg):
    sr, hr, dsr, dhr = tensors
    terms = [Pixel(weight=0.2), Perceptual(weight=0.9), Gan(weight=0.005, d_weight=0.7), DetailPixel(weight=0.5),
             DetailGan(weight=0.003, d_weight=1.3)]
    obj, ds = objective(terms)
    g = {k: v.detach() for k, v in obj.generator_terms(sr, hr, dsr, dhr).items()}
    d = {k: v.detach() for k, v in obj.discriminator_terms(sr, hr, dsr, dhr).items()}
    assert set(g) == FULL and set(d) == {"d_img", "d_detail"}
    a, b, da, db = (t.double().numpy() for t in tensors)
    assert float(g["pix"]) == pytest.approx(0.2 * np.abs(a - b).mean(), rel=1e-5)
    pool = lambda x: x.reshape(4, 3, 8, 2, 8, 2).mean(axis=(3, 5))  # noqa: E731
    assert float(g["per"]) == pytest.approx(0.9 * ((pool(a) - pool(b)) ** 2).mean(), rel=1e-5)
    assert float(g["detail_pix"]) == pytest.approx(0.5 * np.abs(da - db).mean(), rel=1e-5)
    with torch.no_grad():
        logits = {k: (ds[k](real).double().numpy().ravel(), ds[k](fake).double().numpy().ravel())
                  for k, real, fake in (("img", hr, sr), ("detail", dhr, dsr))}
    l_d, l_g = np_ragan(*logits["img"])
    assert float(g["gan"]) == pytest.approx(0.005 * l_g, rel=1e-5)
    assert float(d["d_img"]) == pytest.approx(0.7 * l_d, rel=1e-5)
    l_d, l_g = np_ragan(*logits["detail"])
    assert float(g["detail_gan"]) == pytest.approx(0.003 * l_g, rel=1e-5)
    assert float(d["d_detail"]) == pytest.approx(1.3 * l_d, rel=1e-5)
    # swapping prediction and target changes the adversarial terms: they are not symmetric in their inputs
    assert obj.generator_terms(hr, sr, dhr, dsr)["gan"].item() != pytest.approx(float(g["gan"]))


def test_zero_weights_leave_terms_out(tensors):
    obj, ds = objective([Pixel(weight=1.0), Gan(weight=0.0), DetailPixel(weight=0.0)])
    assert set(obj.generator_terms(*tensors)) == {"pix"} and obj.discriminator_terms(*tensors) == {}
    assert not obj.needs_detail_hr


def test_generator_terms_reach_only_the_prediction(tensors):
    """G's terms: image terms give gradient to I_SR only, detail terms to I_D_SR only; the real branch of RaGAN_G
    runs without gradient (no path through the HR input, nor through it to D)."""
    sr, hr, dsr, dhr = (t.clone().requires_grad_(True) for t in tensors)
    obj, ds = objective([Pixel(weight=0.2), Gan(weight=0.005), DetailPixel(weight=0.5), DetailGan(weight=0.005)])
    for name, t in obj.generator_terms(sr, hr, dsr, dhr).items():
        grads = torch.autograd.grad(t, [sr, hr, dsr, dhr], allow_unused=True)
        image = name in ("pix", "gan")
        assert (grads[0] is not None) == image and (grads[2] is not None) == (not image), name
        if name in ("gan", "detail_gan"):  # the real logits of RaGAN_G are computed without gradient
            assert grads[1] is None and grads[3] is None, f"{name} sends a gradient through its real branch"
    # RaGAN_G's real logits are constants: its D-parameter gradient equals that of the fake branch alone
    d = ds["img"]
    loss = obj.generator_terms(sr, hr, dsr, dhr)["gan"]
    got = torch.autograd.grad(loss, list(d.parameters()))
    with torch.no_grad():
        real = d(hr)
    fake = d(sr)
    from dsrgan.losses.gan import ragan_generator_loss

    want = torch.autograd.grad(0.005 * ragan_generator_loss(real, fake), list(d.parameters()))
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)


def test_gan_step_keeps_the_two_updates_apart(tmp_path, monkeypatch):
    """In a real GAN step: D's parameters get no gradient from G's terms, G none from D's terms, and D sees the
    generator's outputs detached."""
    from dsrgan.train.trainer import Trainer
    from tests.test_train import make_train_images, tiny

    (tmp_path / "d").mkdir()
    data = make_train_images(tmp_path / "d")
    tr = Trainer(tiny(data, tmp_path, "dsrgan_x4.yaml", "train.iterations=1"))  # D grads start as None
    tr.setup()
    seen = {}
    step_g = tr.opts.g.step

    def record_g_step(*a, **k):
        seen["g_grads"] = {n: p.grad.clone() for n, p in tr.g.named_parameters() if p.grad is not None}
        seen["d_grads_in_g_step"] = [p.grad for d in (tr.d_img, tr.d_detail) for p in d.parameters()]
        return step_g(*a, **k)

    monkeypatch.setattr(tr.opts.g, "step", record_g_step)
    real_d_terms = tr.nets.objective.discriminator_terms

    def record_d_terms(sr, hr, dsr, dhr):
        seen["d_inputs_need_grad"] = (sr.requires_grad, dsr.requires_grad)
        return real_d_terms(sr, hr, dsr, dhr)

    monkeypatch.setattr(tr.nets.objective, "discriminator_terms", record_d_terms)
    tr.fit()
    assert seen["g_grads"] and all(g is None for g in seen["d_grads_in_g_step"])
    assert seen["d_inputs_need_grad"] == (False, False)
    now = {n: p.grad for n, p in tr.g.named_parameters() if p.grad is not None}
    assert all(torch.equal(now[n], g) for n, g in seen["g_grads"].items())  # D's backward left G's grads alone
    assert all(p.grad is not None for d in (tr.d_img, tr.d_detail) for p in d.parameters())


def test_detail_terms_run_in_fp32_under_bf16_autocast(monkeypatch):
    """A real (tiny) DSRGAN generator under CPU bf16 autocast: I_D_SR and I_D_HR reach L_DD^Pix as fp32, D_DD
    runs in fp32, while the image discriminator does run in bf16 (so autocast was really on)."""
    from dsrgan.archs import DSRGANGenerator
    from dsrgan.losses import pixel

    torch.manual_seed(0)
    g = DSRGANGenerator(num_feat=8, num_block=2, num_grow=4, up_channels=8, taps=(1, 2), detail_feat=4,
                        detail_grow=4, detail_up_channels=4, attention_channels=4)
    obj, ds = objective([Pixel(weight=0.2), Gan(weight=0.005), DetailPixel(weight=0.5), DetailGan(weight=0.005)])
    seen = {}
    real_l1 = pixel.detail_l1
    monkeypatch.setattr(pixel, "detail_l1", lambda p, t: seen.setdefault("l1", (p.dtype, t.dtype)) and real_l1(p, t))
    for name, d in ds.items():
        d.conv.register_forward_hook(lambda m, i, o, name=name: seen.setdefault(name, (i[0].dtype, o.dtype)) and None)
    lr, dlr = torch.rand(2, 3, 8, 8), torch.randn(2, 1, 8, 8) * 0.2
    hr, dhr = torch.rand(2, 3, 32, 32), torch.rand(2, 1, 32, 32) + 0.5
    with torch.autocast("cpu", dtype=torch.bfloat16):
        sr, dsr = g(lr, dlr)
        terms = obj.generator_terms(sr, hr, dsr, dhr)
    assert sr.dtype == torch.bfloat16 and dsr.dtype == torch.float32
    assert seen["l1"] == (torch.float32, torch.float32)
    assert seen["detail"] == (torch.float32, torch.float32)
    assert seen["img"][1] == torch.bfloat16
    assert all(t.dtype == torch.float32 for t in terms.values())
    seen.pop("detail")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        obj.discriminator_terms(sr.detach(), hr, dsr.detach(), dhr)
    assert seen["detail"] == (torch.float32, torch.float32)
