"""The DSRGAN generator: SISR trunk + detail branch + attention, fused in the detail domain.

See docs/models.md and ../shared/docs/network-notes.md for which parts the paper fixes and which we chose.
"""

from __future__ import annotations

import torch
from torch import nn

from dsrgan.archs.blocks import RRDB, PixelLayerNorm, conv3x3, scaled_kaiming_
from dsrgan.archs.rrdbnet import UPSAMPLE_MODES, RRDBTrunk, upsample2

FUSIONS = ("multiply", "add")


class AttentionModule(nn.Module):
    """HR features of both branches -> a one-channel map A in (0, 1) (convs, per-pixel norms, activations)."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.conv1 = conv3x3(in_channels, channels)
        self.norm1 = PixelLayerNorm(channels)
        self.conv2 = conv3x3(channels, channels)
        self.norm2 = PixelLayerNorm(channels)
        self.conv3 = conv3x3(channels, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        scaled_kaiming_(self, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lrelu(self.norm1(self.conv1(x)))
        x = self.lrelu(self.norm2(self.conv2(x)))
        return torch.sigmoid(self.conv3(x))


class DSRGANGenerator(RRDBTrunk):
    """G(I_LR, detail_LR) -> (I_SR, detail_SR[, A]).

    fusion "multiply" (DSRGAN): the detail input is the LR log-detail x = log2 E(I_LR) (1 channel); the branch
    predicts x_SR and I_SR = I_main * 2**(s * A * x_SR); detail_SR = 2**x_SR (= I_D_SR, compared with E(I_HR)).
    fusion "add" (GIF/MSDM variants): the input is D = I - smooth(I) (3 channels); I_SR = I_main + s * A * D_SR;
    detail_SR = D_SR. Without attention A = 1. s is `detail_strength` (1 as trained, 0 = trunk alone).

    detail_upsample: how the detail branch doubles its size twice. "nearest" as the trunk (and the paper's
    ESRGAN heads); "bilinear" removes the x4-lattice texture that a narrow branch cannot cancel after nearest
    upsampling (the bundled lite model's grid and most of its halo, docs/MODEL_CARD.md). It reads one more LR
    pixel around each output, so the head's context grows from 2 to 3.
    """

    def __init__(self, *, in_channels: int = 3, out_channels: int = 3, num_feat: int = 64, num_block: int = 23,
                 num_grow: int = 32, up_channels: int | None = None, scale: int = 4,
                 taps: tuple[int, ...] = (5, 10, 15, 20), detail_channels: int = 1, detail_feat: int = 64,
                 detail_grow: int = 32, detail_up_channels: int | None = None, attention: bool = True,
                 attention_channels: int = 32, fusion: str = "multiply", detail_base: float = 2.0,
                 detail_upsample: str = "nearest"):
        super().__init__(in_channels, out_channels, num_feat, num_block, num_grow, up_channels, scale)
        if detail_upsample not in UPSAMPLE_MODES:
            raise ValueError(f"detail_upsample must be one of {UPSAMPLE_MODES}, got {detail_upsample!r}")
        self.detail_upsample = detail_upsample
        if detail_upsample == "bilinear":  # bilinear x2 reads a neighbour at each of the two sizes
            self.head_context = 3
        taps = tuple(int(t) for t in taps)
        if not taps or list(taps) != sorted(set(taps)) or taps[0] < 1 or taps[-1] > num_block:
            raise ValueError(f"taps must be increasing block numbers in 1..{num_block}, got {taps}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if fusion == "add" and detail_channels != out_channels:
            raise ValueError("additive fusion needs detail_channels == out_channels")
        up = num_feat if up_channels is None else up_channels
        dup = detail_feat if detail_up_channels is None else detail_up_channels
        self.taps = taps
        self.fusion = fusion
        self.detail_base = float(detail_base)
        self.detail_channels = detail_channels

        wide = detail_feat + num_feat  # each detail RRDB runs on concat(branch features, trunk tap)
        self.detail_conv_first = conv3x3(detail_channels, detail_feat)
        self.detail_body = nn.ModuleList([RRDB(wide, detail_grow) for _ in taps])
        self.detail_reduce = nn.ModuleList([conv3x3(wide, detail_feat) for _ in taps])
        self.detail_conv_up1 = conv3x3(detail_feat, dup)
        self.detail_conv_up2 = conv3x3(dup, dup)
        self.detail_conv_hr = conv3x3(dup, dup)
        self.detail_conv_last = conv3x3(dup, detail_channels)
        self.relu = nn.ReLU(inplace=True)
        for m in (self.detail_conv_first, *self.detail_reduce, self.detail_conv_up1, self.detail_conv_up2,
                  self.detail_conv_hr):
            scaled_kaiming_(m, 1.0)
        # Zero detail output at init: I_D_SR = 1 (or D_SR = 0), so a fresh generator starts as its trunk, which is
        # initialised from a PSNR model; the detail losses then grow the branch from there.
        nn.init.zeros_(self.detail_conv_last.weight)
        nn.init.zeros_(self.detail_conv_last.bias)
        self.attention = AttentionModule(up + dup, attention_channels) if attention else None

    def trunk(self, lr: torch.Tensor, detail_lr: torch.Tensor) -> torch.Tensor:
        """The LR-size stage: trunk features and detail-branch features, concatenated on the channel axis."""
        if detail_lr.shape[1] != self.detail_channels or detail_lr.shape[-2:] != lr.shape[-2:]:
            raise ValueError(f"detail_lr must be N x {self.detail_channels} x {lr.shape[-2]} x {lr.shape[-1]}, "
                             f"got {tuple(detail_lr.shape)}")
        feat, tapped = self.lr_features(lr, self.taps)
        d = self.detail_conv_first(detail_lr)
        for block, reduce, tap in zip(self.detail_body, self.detail_reduce, tapped, strict=True):
            d = reduce(block(torch.cat((d, tap), 1)))
        return torch.cat((feat, d), 1)

    def head(self, features: torch.Tensor, *, detail_strength: float = 1.0, return_attention: bool = False):
        """The HR-size stage: upsampling of both branches, attention and fusion -> (I_SR, detail_SR[, A])."""
        feat, d = features.split((features.shape[1] - self.detail_conv_up1.in_channels,
                                  self.detail_conv_up1.in_channels), 1)
        main_hidden = self.hr_hidden(feat)
        main = self.conv_last(main_hidden)

        d = self.lrelu(self.detail_conv_up1(upsample2(d, self.detail_upsample)))
        d = self.lrelu(self.detail_conv_up2(upsample2(d, self.detail_upsample)))
        detail_hidden = self.relu(self.detail_conv_hr(d))
        detail_out = self.detail_conv_last(detail_hidden)  # x_SR (log-detail) or D_SR

        att = self.attention(torch.cat((main_hidden, detail_hidden), 1)) if self.attention is not None else None
        applied = detail_out if att is None else att * detail_out
        if self.fusion == "multiply":
            # exp2 in fp32: in half precision 2**x loses too much for x near 0 (the common case).
            factor = torch.pow(self.detail_base, float(detail_strength) * applied.float())
            sr = (main.float() * factor).to(main.dtype)
            # I_D_SR in the parameters' dtype: fp32 under bf16 autocast, where a cast back to the activations'
            # bf16 would quantise it before the detail losses; bf16 in a bf16 model
            detail_sr = torch.pow(self.detail_base, detail_out.float()).to(self.detail_conv_last.weight.dtype)
        else:
            sr = main + float(detail_strength) * applied
            detail_sr = detail_out
        if return_attention:
            return sr, detail_sr, att
        return sr, detail_sr

    def forward(self, lr: torch.Tensor, detail_lr: torch.Tensor, *, detail_strength: float = 1.0,
                return_attention: bool = False):
        return self.head(self.trunk(lr, detail_lr), detail_strength=detail_strength,
                         return_attention=return_attention)
