"""Generators on CUDA (skipped without a GPU): same result as the CPU in fp32, close in bf16/fp16."""

import pytest
import torch

from dsrgan.archs import PRESETS, build

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def _no_tf32():
    # compare true fp32 with the CPU; TF32 convs would differ by ~1e-3 relative per layer
    old = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32 = old


@pytest.mark.parametrize("name", ["dsrgan-x4", "dsrgan-lite-x4", "dsrgan-gif-x4", "esrgan-x4"])
def test_cuda_matches_cpu_and_half_precision_is_close(name):
    spec = PRESETS[name]
    torch.manual_seed(0)
    model = build(spec).eval()
    g = torch.Generator().manual_seed(1)
    args = [torch.rand(2, 3, 24, 24, generator=g)]
    if spec.detail_variant is not None:
        args.append(0.3 * torch.randn(2, spec.detail_channels, 24, 24, generator=g))
        # give the zero-initialised detail head weights, scaled so that the predicted (log-)detail is about 0.3
        # like a trained model's: random 23-block features would give |x| ~ 30, and 2**30 amplifies any rounding
        with torch.no_grad():
            model.detail_conv_last.weight.normal_(0, 0.02)
            _, detail_sr = model(*args)
            x = detail_sr.log2() if spec.detail_variant == "dsrgan" else detail_sr
            model.detail_conv_last.weight.mul_(0.3 / x.abs().mean())
    with torch.no_grad():
        cpu = model(*args)
        gpu_model = model.cuda()
        gpu = gpu_model(*[a.cuda() for a in args])
        cpu, gpu = (cpu,) if torch.is_tensor(cpu) else cpu, (gpu,) if torch.is_tensor(gpu) else gpu
        for c, d in zip(cpu, gpu, strict=True):
            err = (d.cpu() - c).abs().mean() / c.abs().mean()
            assert err < 1e-4, f"fp32 on CUDA: mean relative error {err:.2e}"
        for dtype in (torch.bfloat16, torch.float16):
            half = gpu_model.to(dtype)(*[a.cuda().to(dtype) for a in args])
            half = (half,) if torch.is_tensor(half) else half
            for c, h in zip(cpu, half, strict=True):
                assert h.dtype == dtype and torch.isfinite(h.float()).all()
                err = (h.float().cpu() - c).abs().mean() / c.abs().mean()
                assert err < 0.05, f"{dtype}: mean relative error {err:.3f}"
            gpu_model = gpu_model.float()
        if spec.detail_variant is not None:
            sr0, _ = gpu_model(*[a.cuda() for a in args], detail_strength=0.0)
            sr1, _ = gpu_model(*[a.cuda() for a in args])
            assert not torch.equal(sr0, sr1)
