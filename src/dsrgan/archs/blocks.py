"""Building blocks shared by the generators: ESRGAN's residual-in-residual dense block and a per-pixel norm."""

from __future__ import annotations

import math

import torch
from torch import nn


def conv3x3(in_ch: int, out_ch: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=bias)


@torch.no_grad()
def scaled_kaiming_(module: nn.Module, scale: float = 1.0) -> None:
    """Kaiming-normal init of every conv in `module`, scaled (ESRGAN scales RRDB convs by 0.1 for stability)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.weight[0].numel()
            m.weight.normal_(0.0, scale * math.sqrt(2.0 / fan_in))  # kaiming normal, gain sqrt(2)
            if m.bias is not None:
                m.bias.zero_()


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs, each seeing the block input and all earlier outputs; residual scaled by 0.2."""

    def __init__(self, num_feat: int = 64, num_grow: int = 32, res_scale: float = 0.2):
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = conv3x3(num_feat, num_grow)
        self.conv2 = conv3x3(num_feat + num_grow, num_grow)
        self.conv3 = conv3x3(num_feat + 2 * num_grow, num_grow)
        self.conv4 = conv3x3(num_feat + 3 * num_grow, num_grow)
        self.conv5 = conv3x3(num_feat + 4 * num_grow, num_feat)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        scaled_kaiming_(self, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x + self.res_scale * x5


class RRDB(nn.Module):
    """Three dense blocks in sequence with an outer residual, also scaled by 0.2 (ESRGAN)."""

    def __init__(self, num_feat: int = 64, num_grow: int = 32, res_scale: float = 0.2):
        super().__init__()
        self.res_scale = res_scale
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow, res_scale)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow, res_scale)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow, res_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.rdb3(self.rdb2(self.rdb1(x)))


class PixelLayerNorm(nn.Module):
    """LayerNorm over channels at each pixel.

    Unlike batch/instance/group norm it uses no statistics across pixels, so a network run tile by tile gives
    the same result as on the whole image (no seams), and batch size does not matter.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()  # statistics in fp32 also under bf16/fp16
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) * torch.rsqrt(var + self.eps)
        x = x * self.weight.float()[None, :, None, None] + self.bias.float()[None, :, None, None]
        return x.to(dtype)
