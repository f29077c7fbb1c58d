"""Perceptual loss (eq. 13): L1 between fixed ImageNet VGG features of SR and HR.

Default as in ESRGAN/DSRGAN: VGG19 conv5_4 before its ReLU, ImageNet mean/std on [0, 1] input. VGG19 weights
must be provided (see dsrgan.weights.pretrained); `network="vgg16"` (with e.g. layer "conv5_3") is the offline
substitute and is only used when asked for by name. `source` records where the weights came from.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from dsrgan.errors import ConfigError


class PerceptualLoss(nn.Module):
    """`layer`: one layer name, or {layer: weight} for a weighted sum over several layers."""

    def __init__(self, network: str = "vgg19", layer: str | dict[str, float] = "conv5_4", *,
                 weights: str | os.PathLike | None = None, criterion: str = "l1"):
        super().__init__()
        from dsrgan.archs.features import VGG_CONFIGS, vgg_layer_names
        from dsrgan.weights.pretrained import load_vgg_features

        if network not in VGG_CONFIGS:
            raise ConfigError(f"perceptual network {network!r} unknown; choose from {sorted(VGG_CONFIGS)}")
        layer_weights = {layer: 1.0} if isinstance(layer, str) else dict(layer)
        names = vgg_layer_names(network)
        bad = [n for n in layer_weights if n not in names]
        if bad or not layer_weights:
            raise ConfigError(f"perceptual layer(s) {bad} not in {network}; choose from "
                              f"{', '.join(n for n in names if not n.startswith('pool'))}")
        if criterion not in ("l1", "l2"):
            raise ConfigError(f"perceptual criterion must be l1 or l2, got {criterion!r}")
        self.layer_weights = layer_weights
        self.criterion = criterion
        self.net, self.source = load_vgg_features(network, weights, layers=tuple(layer_weights))
        self.network = network

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if sr.shape != hr.shape:
            raise ValueError(f"perceptual loss: SR {tuple(sr.shape)} and HR {tuple(hr.shape)} differ in shape")
        dtype = next(self.net.parameters()).dtype
        f_sr = self.net(sr.to(dtype))
        with torch.no_grad():
            f_hr = self.net(hr.to(dtype))
        dist = F.l1_loss if self.criterion == "l1" else F.mse_loss
        total = sr.new_zeros((), dtype=torch.float32)
        for name, w in self.layer_weights.items():
            total = total + w * dist(f_sr[name].float(), f_hr[name].float())
        return total
