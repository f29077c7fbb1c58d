"""ESRGAN's RRDBNet x4, written so that its module names are the BasicSR ones.

The same trunk (and the same names) is the SISR branch of the DSRGAN generator, which is how a PSNR-oriented
ESRGAN checkpoint initialises DSRGAN directly (see dsrgan.archs.esrgan_keys).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dsrgan.archs.blocks import RRDB, conv3x3

# The module names of RRDBTrunk: the SISR branch shared by RRDBNet and the DSRGAN generator.
TRUNK_PREFIXES = ("conv_first.", "body.", "conv_body.", "conv_up1.", "conv_up2.", "conv_hr.", "conv_last.")


UPSAMPLE_MODES = ("nearest", "bilinear")


def upsample2(x: torch.Tensor, mode: str = "nearest") -> torch.Tensor:
    if mode == "bilinear":  # half-pixel centres, edges repeated (ONNX Resize linear, half_pixel)
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    return F.interpolate(x, scale_factor=2, mode="nearest")


class RRDBTrunk(nn.Module):
    """conv_first -> num_block RRDBs -> conv_body (+ global skip) -> 2x (nearest x2, conv, LReLU) -> conv_hr,
    LReLU -> conv_last. `up_channels` narrows the HR-size convs (they run on 16x the LR pixel count).

    Generators built on it declare two stages for tiled inference: `trunk(...)` -> LR-size features (most of the
    FLOPs, little memory per pixel) and `head(features, ...)` (the HR-size convs: few FLOPs, most of the memory).
    An output pixel of the head depends on features at most `head_context` LR pixels away (two nearest x2 with a
    3x3 conv after each, then 3x3 convs at HR size: HR offsets -5..+8 from an LR pixel's first HR pixel, i.e. 2 LR
    pixels; tests/test_staged.py measures it), so the head runs on crops with that much context and gives
    exactly the whole-map result (dsrgan.inference.staged).
    """

    head_context = 2

    def __init__(self, in_channels: int, out_channels: int, num_feat: int, num_block: int, num_grow: int,
                 up_channels: int | None, scale: int):
        super().__init__()
        if scale != 4:
            raise ValueError(f"only x4 is implemented, got scale={scale}")
        if min(in_channels, out_channels, num_feat, num_block, num_grow) < 1:
            raise ValueError("channel and block counts must be positive")
        up = num_feat if up_channels is None else up_channels
        self.scale = scale
        self.conv_first = conv3x3(in_channels, num_feat)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow) for _ in range(num_block)])
        self.conv_body = conv3x3(num_feat, num_feat)
        self.conv_up1 = conv3x3(num_feat, up)
        self.conv_up2 = conv3x3(up, up)
        self.conv_hr = conv3x3(up, up)
        self.conv_last = conv3x3(up, out_channels)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        # Convs outside the RRDBs keep PyTorch's default init, as ESRGAN does: kaiming-normal there made a fresh
        # 23-block network output values with std ~40, and the first training iterations were spent undoing that.

    def lr_features(self, lr: torch.Tensor, taps: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """LR-size trunk features after the global skip, and the outputs of the (1-based) blocks in `taps`."""
        feat = self.conv_first(lr)
        body = feat
        tapped = []
        for i, block in enumerate(self.body, start=1):
            body = block(body)
            if i in taps:
                tapped.append(body)
        return feat + self.conv_body(body), tapped

    def hr_hidden(self, feat: torch.Tensor) -> torch.Tensor:
        """Upsample to HR size; returns the last hidden HR feature (input of conv_last)."""
        feat = self.lrelu(self.conv_up1(upsample2(feat)))
        feat = self.lrelu(self.conv_up2(upsample2(feat)))
        return self.lrelu(self.conv_hr(feat))


class RRDBNet(RRDBTrunk):
    """Plain ESRGAN generator. 23 blocks, 64 features, growth 32: 16,697,987 parameters."""

    def __init__(self, *, in_channels: int = 3, out_channels: int = 3, num_feat: int = 64, num_block: int = 23,
                 num_grow: int = 32, up_channels: int | None = None, scale: int = 4):
        super().__init__(in_channels, out_channels, num_feat, num_block, num_grow, up_channels, scale)

    def trunk(self, lr: torch.Tensor) -> torch.Tensor:
        return self.lr_features(lr)[0]

    def head(self, feat: torch.Tensor) -> torch.Tensor:
        return self.conv_last(self.hr_hidden(feat))

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(lr))
