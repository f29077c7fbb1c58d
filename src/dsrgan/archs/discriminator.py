"""ESRGAN/SRGAN's VGG-style discriminator, used for both D_ID (3 channels) and D_DD (1 channel)."""

from __future__ import annotations

import torch
from torch import nn


class VGGDiscriminator(nn.Module):
    """conv3x3(in->nf), then five stages of (conv3x3, BN, LReLU, conv4x4 stride 2, BN, LReLU) with widths
    nf, 2nf, 4nf, 8nf, 8nf (the first stage has no leading conv3x3 beyond conv0_0), then two linear layers.

    Each stage halves the size, so `patch_size` must be a multiple of 32 (128 -> 4x4 before the linear layers).
    """

    def __init__(self, *, in_channels: int = 3, num_feat: int = 64, patch_size: int = 128):
        super().__init__()
        if patch_size < 32 or patch_size % 32:
            raise ValueError(f"patch_size must be a positive multiple of 32, got {patch_size}")
        self.patch_size = patch_size
        nf = num_feat
        self.conv0_0 = nn.Conv2d(in_channels, nf, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(nf, nf, 4, 2, 1, bias=False)
        self.bn0_1 = nn.BatchNorm2d(nf, affine=True)
        widths = [nf, nf * 2, nf * 4, nf * 8, nf * 8]
        for i in range(1, 5):
            cin, cout = widths[i - 1], widths[i]
            setattr(self, f"conv{i}_0", nn.Conv2d(cin, cout, 3, 1, 1, bias=False))
            setattr(self, f"bn{i}_0", nn.BatchNorm2d(cout, affine=True))
            setattr(self, f"conv{i}_1", nn.Conv2d(cout, cout, 4, 2, 1, bias=False))
            setattr(self, f"bn{i}_1", nn.BatchNorm2d(cout, affine=True))
        side = patch_size // 32
        self.linear1 = nn.Linear(widths[-1] * side * side, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.patch_size, self.patch_size):
            raise ValueError(f"discriminator expects {self.patch_size}x{self.patch_size} input, "
                             f"got {tuple(x.shape[-2:])}")
        x = self.lrelu(self.conv0_0(x))
        x = self.lrelu(self.bn0_1(self.conv0_1(x)))
        for i in range(1, 5):
            x = self.lrelu(getattr(self, f"bn{i}_0")(getattr(self, f"conv{i}_0")(x)))
            x = self.lrelu(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(x)))
        x = self.lrelu(self.linear1(x.flatten(1)))
        return self.linear2(x)
